// The local images as users name them: list, inspect, resolve (for a container), name, remove.
// Records and the name index are records.ts's; imports are import.ts's; pulls and loads are pull.ts's and
// load.ts's. A name is "repository:tag" as parseReference spells it; an image can also be named by its id
// ("sha256:…", or 12 or more of its hex digits).
import { NotFoundError, PodnsError } from '../errors.js';
import { resolveRoot, type RootOption } from '../state/paths.js';
import { resolveStore, type StoreOption } from '../state/store-root.js';
import { isDigest } from './digest.js';
import {
  imageDir, imageUsers, listImageRecords, readImage, readNames, removeImageRecord, storeName, updateNames,
  type ImageConfig, type ImageUser, type StoredImage, type StoredLayer,
} from './records.js';
import { parseImageReference } from './reference.js';

export type { ImageConfig } from './records.js';

/** One row of `image ls`: an image under one of its names (or none). */
export interface ImageSummary {
  /** "repository:tag", or "<none>:<none>" for an image no name points at */
  ref: string;
  repository: string;
  tag: string;
  /** the image id: its manifest digest, or an imported rootfs's own digest */
  id: string;
  /** what a pull of it printed: the index digest of a multi-platform image, else the id */
  digest: string;
  kind: StoredImage['kind'];
  created: string;
  size: number;
  source?: string;
  platform?: string;
  config: ImageConfig;
}

/** What a container needs of an image. */
export interface ResolvedImage {
  /** the name it was asked by ("nginx:latest"), or its id */
  ref: string;
  id: string;
  config: ImageConfig;
  /** kind 'rootfs': the imported root filesystem */
  rootfs?: string;
  /** kind 'layers': the layers, bottom first */
  layers?: StoredLayer[];
}

export class ImageNotFoundError extends NotFoundError {
  constructor(ref: string) {
    super('image', ref, `image "${ref}" not found; pull it (podns image pull ${ref}), load it (podns image load -i FILE) or import a root filesystem with: podns image import ${ref} FILE.tar`);
    this.name = 'ImageNotFoundError';
  }
}


/** The image a name (or an id, or 12+ hex digits of one) points at, and how it was named; undefined when none. */
export function findImage(store: string, name: string): { ref: string; id: string } | undefined {
  if (isDigest(name)) return readImage(store, name) !== undefined ? { ref: name, id: name } : undefined;
  const short = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(name);
  const names = readNames(store);
  if (short !== null && !Object.hasOwn(names, parseRefOrUndefined(name) ?? '')) {
    const hits = listImageRecords(store).filter((r) => r.id.startsWith(`sha256:${short[1]}`));
    if (hits.length === 1) return { ref: hits[0]!.id, id: hits[0]!.id };
    if (hits.length > 1) throw new PodnsError('EAMBIGUOUS', `"${name}" names ${hits.length} images; give more of the digest`);
  }
  const parsed = parseImageReference(name);
  if (parsed.digest !== undefined) {
    // "nginx@sha256:…": the name a pull by digest stored, else any image with that manifest or index digest
    const ref = storeName(name);
    const named = names[ref];
    if (named !== undefined && readImage(store, named) !== undefined) return { ref, id: named };
    const hit = readImage(store, parsed.digest) ?? listImageRecords(store).find((r) => r.indexDigest === parsed.digest);
    return hit !== undefined ? { ref, id: hit.id } : undefined;
  }
  const ref = parsed.ref;
  const id = names[ref];
  if (id === undefined || readImage(store, id) === undefined) return undefined;
  return { ref, id };
}

function parseRefOrUndefined(name: string): string | undefined {
  try {
    return storeName(name);
  } catch {
    return undefined;
  }
}

function mustFind(store: string, name: string): { ref: string; id: string; rec: StoredImage } {
  const hit = findImage(store, name);
  const rec = hit !== undefined ? readImage(store, hit.id) : undefined;
  if (hit === undefined || rec === undefined) throw new ImageNotFoundError(parseRefOrUndefined(name) ?? name);
  return { ...hit, rec };
}

/** Points NAME at image ID (moving it from another image, as a re-import or a re-pull does). */
export function nameImage(store: string, ref: string, id: string): void {
  updateNames(store, (names) => {
    names[ref] = id;
  });
}

function splitRef(ref: string): { repository: string; tag: string } {
  if (ref.includes('@')) return { repository: ref.slice(0, ref.indexOf('@')), tag: '<none>' };
  const at = ref.lastIndexOf(':');
  return at > ref.lastIndexOf('/') ? { repository: ref.slice(0, at), tag: ref.slice(at + 1) } : { repository: ref, tag: '<none>' };
}

/** The rows for one record under the given names (an unnamed record: one <none> row). */
export function summaries(rec: StoredImage, refs: string[]): ImageSummary[] {
  const rows = refs.length > 0 ? refs : ['<none>:<none>'];
  return rows.map((ref) => ({
    ref, ...splitRef(ref), id: rec.id, digest: rec.indexDigest ?? rec.id, kind: rec.kind, created: rec.created, size: rec.size,
    ...(rec.source !== undefined ? { source: rec.source } : {}),
    ...(rec.platform !== undefined ? { platform: rec.platform } : {}),
    config: rec.config,
  }));
}

/** Every image, once per name, sorted by name; unnamed images last. */
export function listImages(o: StoreOption = {}): ImageSummary[] {
  const store = resolveStore(o.store);
  const byId = new Map<string, string[]>();
  for (const [ref, id] of Object.entries(readNames(store))) byId.set(id, [...(byId.get(id) ?? []), ref]);
  const out: ImageSummary[] = [];
  for (const rec of listImageRecords(store)) out.push(...summaries(rec, byId.get(rec.id) ?? []));
  return out.sort((a, b) => (a.ref === '<none>:<none>' ? 1 : 0) - (b.ref === '<none>:<none>' ? 1 : 0) || a.ref.localeCompare(b.ref) || a.id.localeCompare(b.id));
}

/** An image's record, with the names that point at it. */
export function inspectImage(o: StoreOption & { name: string }): StoredImage & { names: string[] } {
  const store = resolveStore(o.store);
  const { id, rec } = mustFind(store, o.name);
  const names = Object.entries(readNames(store)).filter(([, v]) => v === id).map(([k]) => k);
  return { ...rec, names };
}

/** The image `name` as a container uses it. ImageNotFoundError when the store has no such image. */
export function resolveImage(o: StoreOption & { name: string }): ResolvedImage {
  const store = resolveStore(o.store);
  const { ref, id, rec } = mustFind(store, o.name);
  if (rec.kind === 'rootfs') return { ref, id, config: rec.config, rootfs: `${imageDir(store, id)}/rootfs` };
  return { ref, id, config: rec.config, layers: rec.layers ?? [] };
}

/** The containers that use image ID: by the id they record, a rootfs in its directory, or (records from before
 * image ids) the name they ran, which still points at it. */
export function containersUsing(store: string, id: string, root?: string): ImageUser[] {
  const dir = imageDir(store, id);
  const names = readNames(store);
  return imageUsers(store, root).filter((u) => u.imageId === id
    || (u.rootfs !== undefined && (u.rootfs === dir || u.rootfs.startsWith(dir + '/')))
    || (u.imageId === undefined && u.image !== undefined && names[parseRefOrUndefined(u.image) ?? ''] === id));
}

function inUseError(ref: string, users: ImageUser[], what: string): PodnsError {
  const list = users.slice(0, 3).map((u) => `${u.pod}/${u.container}`).join(', ') + (users.length > 3 ? ` and ${users.length - 3} more` : '');
  return new PodnsError('EIMAGEINUSE', `cannot ${what} image "${ref}": container ${list} uses it; delete the pod first, or use --force`);
}

export interface RemoveResult {
  ref: string;
  id: string;
  /** the record went (no other name, no container); else only the name */
  deleted: boolean;
  /** why the image stayed after its last name went (--force while in use) */
  kept?: string;
}

/**
 * `image rm NAME`: the name goes; the image goes with its last name. Refused while a container uses an image
 * whose last name this is, unless forced: then the name goes and the image stays, unnamed, until no
 * container uses it (a container's files are never removed under it). By id: every name goes with it.
 */
export function removeImage(o: RootOption & StoreOption & { name: string; force?: boolean }): RemoveResult {
  const root = resolveRoot(o.root);
  const store = resolveStore(o.store);
  const { ref, id } = mustFind(store, o.name);
  return updateNames(store, (names) => {
    // by id, or by a digest reference no name holds ("repo@sha256:…" found by its manifest or index digest)
    const byId = ref === id || (ref.includes('@') && !Object.hasOwn(names, ref));
    const others = Object.entries(names).filter(([k, v]) => v === id && (byId || k !== ref)).map(([k]) => k);
    if (!byId && others.length > 0) {
      delete names[ref];
      return { ref, id, deleted: false };
    }
    const users = containersUsing(store, id, root);
    if (users.length > 0 && o.force !== true) throw inUseError(ref, users, 'remove');
    for (const k of others) delete names[k];
    delete names[ref];
    if (users.length > 0) return { ref, id, deleted: false, kept: `container ${users[0]!.pod}/${users[0]!.container} uses it` };
    removeImageRecord(store, id);
    return { ref, id, deleted: true };
  });
}
