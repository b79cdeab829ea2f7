// The directories a container's root is made of: an imported image's rootfs, or an image's unpacked layers
// (top first, as overlay's lowerdir lists them; LayerStore.lowerDirs ends the stack at a layer whose root is
// opaque) with their ChainIDs (bottom first, the GC roots its config.json records).
import { PodnsError } from '../errors.js';
import { LayerStore } from './layers/store.js';
import type { ResolvedImage } from './store.js';

export interface LayerDirs {
  /** top first: dirs[0] is the rootfs (overlay's top lower dir), the rest go below it */
  dirs: string[];
  /** the layers' ChainIDs, bottom first (absent for an imported rootfs) */
  chainIds?: string[];
}

export function imageLayerDirs(store: string, img: ResolvedImage): LayerDirs {
  if (img.rootfs !== undefined) return { dirs: [img.rootfs] };
  const chainIds = (img.layers ?? []).map((l) => l.chainId);
  if (chainIds.length === 0) {
    throw new PodnsError('EBADIMAGE', `image "${img.ref}" has no layers: there is no root filesystem to run; pull or build an image with one`);
  }
  return { dirs: new LayerStore(store).lowerDirs(chainIds), chainIds };
}
