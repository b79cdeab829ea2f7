// The local image store: root filesystems with docker-import-style defaults. See docs/DESIGN.md.
export { parseReference, type ImageRef } from './reference.js';
export {
  importImage, listImages, inspectImage, resolveImage, removeImage, imagesInUse, cleanImageTemp, validateImageConfig,
  ImageNotFoundError, type ImageConfig, type ImageRecord, type ResolvedImage, type ImportOptions,
} from './store.js';
export { resolveArgv } from './argv.js';
export { applyLayer, detectCompression, type ApplyLayerOptions, type AppliedLayer, type LayerCompression } from './layers/apply.js';
export { LayerStore, type EnsureLayerOptions, type EnsuredLayer, type LayerRecord, type StoredLayer } from './layers/store.js';
