// The pod library: create, read, list, inspect, delete, repair, gc.
export { createPod, type CreatePodOptions } from './create.js';
export { deletePod, DEFAULT_GRACE_SECONDS, type DeleteOptions } from './delete.js';
export { repairPod } from './repair.js';
export { releasePodNetwork } from './destroy.js';
export { gc } from './gc.js';
export { inspectPod, type ContainerInspect, type PodInspect, type NamespaceView } from './inspect.js';
export { podQos } from './qos.js';
export { podState, type PodState, type PodStatus } from './state.js';
export { readPod, listPods, updatePod } from './store.js';
export { podIp, parseNetworkMode } from './validate.js';
export type { PodRecord, PodNetwork, PortMapping, NetworkMode, PinnedNamespace, PodPhase, ContainerConfig, ContainerStatus } from './types.js';
