// The library calls the bench measures, from the public entry point where it exports them.
export { createPod, deletePod, listPods, NotFoundError, oneLine, readPod } from '../src/index.js';
export { execInContainer, readContainerStatus, runContainer } from '../src/container/index.js';
