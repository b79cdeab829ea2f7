// Collection of blobs and unpacked layers nothing refers to, from roots (docs/DESIGN.md "The image store"):
//   - every image record: its manifest (the id), config, layer blobs, the index it came from, its layers' ChainIDs;
//   - every container of every state root that used this store (imageUsers): the ChainIDs it records, so a
//     layer under a container (running or stopped) is never collected, even when its image is gone.
// A pull or load is in flight between its first blob and its record: it holds STORE/images/gc.lock shared for
// its whole length, and collection takes it exclusively, so it never judges a half-made image (it waits).
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../native/index.js';
import { ensureDir, FILE_MODE } from '../state/files.js';
import { ContentStore } from './content/store.js';
import { LayerStore } from './layers/store.js';
import { resolveRoot, type RootOption } from '../state/paths.js';
import { resolveStore, type StoreOption } from '../state/store-root.js';
import { imagesDir, imageUsers, listImageRecords, readImage, type StoredImage } from './records.js';
import { findImage, removeImage, type RemoveResult } from './store.js';

/** Holds STORE/images/gc.lock (shared: adding to the store; exclusive: collecting) while FN runs. */
export async function withStoreLock<T>(store: string, mode: 'sh' | 'ex', fn: () => Promise<T>): Promise<T> {
  ensureDir(imagesDir(store));
  const fd = openSync(join(imagesDir(store), 'gc.lock'), constants.O_RDWR | constants.O_CREAT, FILE_MODE);
  try {
    try {
      native.flock(fd, mode, true);
    } catch {
      await native.flockAsync(fd, mode);
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}

export interface StoreRoots {
  blobs: Set<string>;
  chains: Set<string>;
}

/** What the records and the containers (of the state roots that used this store, and of `root`) refer to. */
export function storeRoots(store: string, root?: string): StoreRoots {
  const blobs = new Set<string>();
  const chains = new Set<string>();
  for (const rec of listImageRecords(store)) addRecord(rec, blobs, chains);
  for (const u of imageUsers(store, root)) for (const c of u.layers) chains.add(c);
  return { blobs, chains };
}

function addRecord(rec: StoredImage, blobs: Set<string>, chains: Set<string>): void {
  if (rec.kind !== 'layers') return;
  blobs.add(rec.id);
  if (rec.configDigest !== undefined) blobs.add(rec.configDigest);
  if (rec.indexDigest !== undefined) blobs.add(rec.indexDigest);
  for (const l of rec.layers ?? []) {
    blobs.add(l.digest);
    chains.add(l.chainId);
  }
}

export interface Collected {
  /** blob digests removed */
  blobs: string[];
  /** layer ChainIDs removed */
  layers: string[];
}

/**
 * Removes the blobs and layers no root refers to: all of them, or (after `image rm`) only those of the given
 * records. The caller holds the store lock exclusively (withStoreLock 'ex').
 */
export async function collectUnreferenced(store: string, root?: string, only?: readonly StoredImage[]): Promise<Collected> {
  const roots = storeRoots(store, root);
  const content = new ContentStore(store);
  const layers = new LayerStore(store);
  let blobCandidates: string[];
  let chainCandidates: string[];
  if (only === undefined) {
    blobCandidates = content.list();
    chainCandidates = layers.list().map((l) => l.chainId);
  } else {
    const b = new Set<string>();
    const c = new Set<string>();
    for (const rec of only) addRecord(rec, b, c);
    blobCandidates = [...b];
    chainCandidates = [...c];
  }
  const out: Collected = { blobs: [], layers: [] };
  for (const d of blobCandidates) {
    if (roots.blobs.has(d) || !content.has(d)) continue;
    content.remove(d);
    out.blobs.push(d);
  }
  for (const c of chainCandidates) {
    if (roots.chains.has(c)) continue;
    if (await layers.remove(c)) out.layers.push(c);
  }
  return out;
}

/**
 * `image rm NAME`: removeImage (the name, and the image with its last name unless a container uses it), then
 * the blobs and layers of a removed image that no other image and no container refers to.
 */
export async function removeImageAndContent(o: RootOption & StoreOption & { name: string; force?: boolean }): Promise<RemoveResult & Collected> {
  const store = resolveStore(o.store);
  const root = resolveRoot(o.root);
  return withStoreLock(store, 'ex', async () => {
    const hit = findImage(store, o.name);
    const rec = hit !== undefined ? readImage(store, hit.id) : undefined;
    const r = removeImage({ ...o, root, store });
    const c = r.deleted && rec !== undefined ? await collectUnreferenced(store, root, [rec]) : { blobs: [], layers: [] };
    return { ...r, ...c };
  });
}
