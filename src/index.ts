// podns as a library. One `export ... from` per module; see docs/DESIGN.md for the contracts.
//
// One shape: every function that reads or changes podns's state takes ONE options object, whose optional
// `root` is the state root (absent: PODNS_ROOT, else /run/podns; see resolveRoot). The rest are pure helpers
// (errors, names, manifest parsing, namespace identities).
export { PodnsError, NotFoundError, isErrno, oneLine } from './errors.js';
export { createPod, deletePod, repairPod, gc, inspectPod, podState, readPod, listPods, updatePod, podIp, DEFAULT_GRACE_SECONDS } from './pod/index.js';
export type { CreatePodOptions, DeleteOptions, PodInspect, NamespaceView, PodState, PodStatus } from './pod/index.js';
export type { PodRecord, PodNetwork, PortMapping, NetworkMode, PinnedNamespace, PodPhase, ContainerConfig, ContainerStatus } from './pod/types.js';
export { validateName } from './state/names.js';
export { paths, netnsDir, DEFAULT_ROOT, resolveRoot, type RootOption } from './state/paths.js';
export { runContainer, execInContainer, stopContainers, readContainerStatus, readContainerConfig, chooseContainer, containerLogs, psRows } from './container/index.js';
export type { RunOptions, ExecOptions, LogsOptions, StopOptions, PsRow } from './container/index.js';
export { importImage, listImages, inspectImage, removeImage, resolveImage } from './image/index.js';
export type { ImportOptions, ImageConfig, ImageSummary, ResolvedImage } from './image/index.js';
export { DEFAULT_STORE, resolveStore, type StoreOption } from './state/store-root.js';
export { applyManifest, deleteFromManifest, parseManifest } from './manifest/index.js';
export type { ApplyOptions, ApplyResult, DeleteFromManifestOptions } from './manifest/index.js';
export { nsIdentities, sameNamespace } from './namespaces/identities.js';
export { nsExec } from './namespaces/spawn.js';
export { NetlinkHandle } from './network/netlink/handle.js';
export { DEFAULT_NETWORK, ensureNetwork, listNetworks } from './network/index.js';
