// podns as a library. One `export ... from` per module; see docs/DESIGN.md for the contracts.
export { PodnsError, NotFoundError, isErrno, oneLine } from './errors.js';
export { createPod, deletePod, repairPod, gc, inspectPod, podState, readPod, listPods, updatePod, podIp, DEFAULT_GRACE_SECONDS } from './pod/index.js';
export type { CreatePodOptions, DeleteOptions, PodInspect, NamespaceView, PodState, PodStatus } from './pod/index.js';
export type { PodRecord, PodNetwork, PortMapping, NetworkMode, PinnedNamespace, PodPhase, ContainerConfig, ContainerStatus } from './pod/types.js';
export { withLock, withLockAsync } from './state/lock.js';
export { validateName } from './state/names.js';
export { paths, netnsDir, DEFAULT_ROOT, resolveRoot } from './state/paths.js';
export { runContainer, execInContainer, stopContainers, readContainerStatus, readContainerConfig, chooseContainer, containerLogs, psRows } from './container/index.js';
export type { RunOptions } from './container/index.js';
export { importImage, listImages, removeImage, resolveImage } from './image/index.js';
export { applyManifest, deleteFromManifest, parseManifest } from './manifest/index.js';
export { nsIdentities, sameNamespace } from './namespaces/identities.js';
export { nsExec } from './namespaces/spawn.js';
export { NetlinkHandle } from './network/netlink/handle.js';
export { DEFAULT_NETWORK, ensureNetwork, listNetworks } from './network/index.js';
