// The image store: pulled, loaded and imported images (see docs/DESIGN.md "The image store").
export { parseReference, parseImageReference, type ImageRef, type ImageReference } from './reference.js';
export { ContentStore } from './content/store.js';
export { pullToContent, type PullOptions, type PullResult, type PullEvent } from './registry/index.js';
export { validateImageConfig, type ImageConfig, type StoredImage, type StoredLayer } from './records.js';
export { importImage, type ImportOptions } from './import.js';
export {
  listImages, inspectImage, resolveImage, removeImage, findImage, containersUsing, ImageNotFoundError,
  type ImageSummary, type ResolvedImage, type RemoveResult,
} from './store.js';
export { resolveArgv } from './argv.js';
export { applyLayer, detectCompression, type ApplyLayerOptions, type AppliedLayer, type LayerCompression } from './layers/apply.js';
export { LayerStore, type EnsureLayerOptions, type EnsuredLayer, type LayerRecord, type UnpackedLayer } from './layers/store.js';
export { storeLayeredImage, runtimeConfig, UNPACK_PARALLELISM, type StoreLayeredOptions, type UnpackState } from './layered.js';
export { pullImage, insecureRegistries, INSECURE_ENV, type ImagePullOptions, type ImagePullResult, type ImagePullEvent } from './pull.js';
