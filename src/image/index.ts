// The image store: pulled, loaded and imported images (see docs/DESIGN.md "The image store").
export { parseReference, type ImageRef } from './reference.js';
export { validateImageConfig, type ImageConfig, type StoredImage, type StoredLayer } from './records.js';
export { importImage, type ImportOptions } from './import.js';
export {
  listImages, inspectImage, resolveImage, removeImage, findImage, containersUsing, ImageNotFoundError,
  type ImageSummary, type ResolvedImage, type RemoveResult,
} from './store.js';
export { resolveArgv } from './argv.js';
