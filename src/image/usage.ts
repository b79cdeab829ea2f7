// `podns image du` and `podns image prune`: what the store holds, per part, and removing what nothing uses.
// Sizes are disk usage (st_blocks), each inode once: layers unpacked once are shared by the images that
// have them, and hard links inside a layer are one file.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import { diskUsage } from '../util/disk-usage.js';
import { listDir } from '../state/files.js';
import { resolveRoot, type RootOption } from '../state/paths.js';
import { cleanStoreTemp, resolveStore, storePaths, type StoreOption } from '../state/store-root.js';
import { listImageRecords, removeImageRecord, updateNames } from './records.js';
import { containersUsing } from './store.js';
import { ContentStore } from './content/store.js';
import { collectUnreferenced, withStoreLock } from './gc.js';

export interface StoreUsage {
  store: string;
  /** bytes on disk per part of the store */
  parts: Array<{ part: 'blobs' | 'ingest' | 'layers' | 'images' | 'tmp'; bytes: number; entries: number }>;
  total: number;
  images: number;
}

/** A part of the store: what is below DIR (DIR itself not counted), inodes in SEEN counted once. */
function partUsage(dir: string, seen: Set<string>): { bytes: number; entries: number } {
  let top: string[];
  try {
    top = readdirSync(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return { bytes: 0, entries: 0 };
    throw err;
  }
  const bytes = top.reduce((n, name) => n + diskUsage(join(dir, name), { seen }).bytes, 0);
  return { bytes, entries: top.filter((n) => !n.startsWith('.')).length };
}

function isDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function storeUsage(o: StoreOption = {}): StoreUsage {
  const store = resolveStore(o.store);
  const seen = new Set<string>();
  const images = listImageRecords(store).length;
  const parts = (['blobs', 'ingest', 'layers', 'images', 'tmp'] as const).map((part) => {
    const u = partUsage(storePaths[part](store), seen);
    // entries: blobs and images by what they hold (blobs/ALG/HEX, records), layers by their directories
    if (part === 'images') u.entries = images;
    if (part === 'blobs') u.entries = listDir(storePaths.blobs(store)).reduce((n, alg) => n + listDir(join(storePaths.blobs(store), alg)).length, 0);
    if (part === 'layers') u.entries = listDir(storePaths.layers(store)).filter((n) => isDir(join(storePaths.layers(store), n))).length;
    return { part, ...u };
  });
  return { store, parts, total: parts.reduce((n, p) => n + p.bytes, 0), images };
}

export interface PruneResult {
  /** ids of the images removed */
  images: string[];
  /** blobs no image refers to, removed */
  blobs: string[];
  /** layers (ChainIDs) no image and no container refers to, removed */
  layers: string[];
  /** partial downloads no live process holds, removed */
  ingest: string[];
  /** lines about work directories of dead processes */
  temp: string[];
}

/**
 * Removes images no name points at and no container uses (and, with `all`, named images no container
 * uses), then the blobs and layers nothing refers to (gc.ts: roots), partial downloads of dead processes, and
 * the work directories of dead processes. Waits for pulls and loads in flight (the store lock).
 */
export async function pruneImages(o: RootOption & StoreOption & { all?: boolean } = {}): Promise<PruneResult> {
  const root = resolveRoot(o.root);
  const store = resolveStore(o.store);
  return withStoreLock(store, 'ex', async () => {
    const removed: string[] = [];
    updateNames(store, (names) => {
      const named = new Set(Object.values(names));
      for (const rec of listImageRecords(store)) {
        if (named.has(rec.id) && o.all !== true) continue;
        if (containersUsing(store, rec.id, root).length > 0) continue;
        for (const [k, v] of Object.entries(names)) if (v === rec.id) delete names[k];
        removeImageRecord(store, rec.id);
        removed.push(rec.id);
      }
    });
    const c = await collectUnreferenced(store, root);
    return { images: removed, blobs: c.blobs, layers: c.layers, ingest: new ContentStore(store).clean(), temp: cleanStoreTemp(store) };
  });
}
