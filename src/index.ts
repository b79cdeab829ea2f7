// podns as a library. One `export ... from` per module; see docs/DESIGN.md for the contracts.
export { PodnsError, NotFoundError, isErrno, oneLine } from './errors.js';
export { createPod, deletePod, repairPod, gc, inspectPod, podState, readPod, listPods, updatePod, podIp, DEFAULT_GRACE_SECONDS } from './pod/index.js';
export type { CreatePodOptions, DeleteOptions, PodInspect, NamespaceView, PodState, PodStatus } from './pod/index.js';
export type { PodRecord, PodNetwork, PortMapping, NetworkMode, PinnedNamespace, PodPhase, ContainerConfig, ContainerStatus } from './pod/types.js';
export { withLock, withLockAsync } from './state/lock.js';
export { validateName } from './state/names.js';
export { paths, netnsDir, DEFAULT_ROOT } from './state/paths.js';
