// `podns image load -i FILE|-`: an archive (docker save legacy or >= 25, podman/skopeo docker-archive, an OCI
// layout as a directory or a tar, plain or compressed) → its images in the store, named as the archive names them.
//
// Order, so that a failure leaves no record and no name: (1) the archive is read once, as a stream: documents
// into memory (capped), blobs into the content store (verified: ingest, then rename); (2) every image is
// planned and checked (names, manifests, configs, sizes, uncompressed diff_ids) before anything is unpacked;
// (3) layers are unpacked (each diff_id checked) and records written, unnamed; a failure removes the records this
// load made; (4) every name is set in one change of the name index. What a failed load leaves is verified blobs
// and unpacked layers no record uses: `image prune` collects them, and a retry reuses them. The store's gc lock is
// held shared for the whole load, so a prune never judges a half-loaded image.
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { resolveStore, type StoreOption } from '../../state/store-root.js';
import { ContentStore } from '../content/store.js';
import { withStoreLock } from '../gc.js';
import { storeLayeredImage, type UnpackState } from '../layered.js';
import type { Platform } from '../oci.js';
import { readImage, removeImageRecord, updateNames } from '../records.js';
import { planArchive } from './layout.js';
import { collectArchive } from './source.js';

export interface LoadOptions extends StoreOption {
  /** a file, a directory (OCI layout) or "-" (standard input) */
  input: string;
  /** what "-" reads (default: process.stdin) */
  stdin?: Readable;
  /** for an image index in the archive: the platform to load (default: the host's) */
  platform?: Platform;
  onUnpack?: (e: { image: string; index: number; digest: string; state: UnpackState }) => void;
  signal?: AbortSignal;
}

export interface LoadedImage {
  id: string;
  /** the names it now has from this archive ("busybox:latest"); empty for an image the archive does not name */
  names: string[];
}

export async function loadImages(o: LoadOptions): Promise<LoadedImage[]> {
  const store = resolveStore(o.store);
  // from the first blob to the last name, `image prune` waits (it would take the new blobs for garbage)
  return withStoreLock(store, 'sh', () => loadLocked(o, store));
}

async function loadLocked(o: LoadOptions, store: string): Promise<LoadedImage[]> {
  const content = new ContentStore(store);
  const contents = await collectArchive(o.input, content, o.stdin);
  const plans = planArchive(contents, content, o.platform !== undefined ? { platform: o.platform } : {});
  const source = o.input === '-' ? 'standard input' : resolve(o.input);
  const made: string[] = [];
  try {
    for (const p of plans) {
      const existed = readImage(store, p.manifestDigest) !== undefined;
      await storeLayeredImage({
        store, content, manifestDigest: p.manifestDigest, manifest: p.manifest, configDigest: p.configDigest,
        config: p.config, layers: p.layers, diffIds: p.diffIds, source: `${p.what} from ${source}`,
        ...(o.onUnpack !== undefined ? { onUnpack: (e) => o.onUnpack!({ image: p.what, ...e }) } : {}),
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
      });
      if (!existed) made.push(p.manifestDigest);
    }
  } catch (err) {
    for (const id of made) removeImageRecord(store, id);
    throw err;
  }
  updateNames(store, (names) => {
    for (const p of plans) for (const n of p.names) names[n] = p.manifestDigest;
  });
  return plans.map((p) => ({ id: p.manifestDigest, names: p.names }));
}
