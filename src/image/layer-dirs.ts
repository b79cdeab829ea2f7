// The directories a container's root is made of: an imported image's rootfs, or an image's unpacked layers
// (top first, as overlay's lowerdir lists them) with their ChainIDs (bottom first, the GC roots its
// config.json records).
import { PodnsError } from '../errors.js';
import type { ResolvedImage } from './store.js';

export interface LayerDirs {
  /** top first: dirs[0] is the rootfs (overlay's top lower dir), the rest go below it */
  dirs: string[];
  /** the layers' ChainIDs, bottom first (absent for an imported rootfs) */
  chainIds?: string[];
}

export function imageLayerDirs(store: string, img: ResolvedImage): LayerDirs {
  void store;
  if (img.rootfs !== undefined) return { dirs: [img.rootfs] };
  throw new PodnsError('ENOTUNPACKED', `image "${img.ref}" has layers, and this podns cannot unpack them yet`);
}
