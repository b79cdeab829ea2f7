// Image records and the name index, in STORE/images (docs/DESIGN.md "The image store"):
//
//   STORE/images/names.json          {"nginx:latest": "sha256:…", …}: every name → the id of its image
//   STORE/images/sha256/HEX/image.json   the image (StoredImage); HEX/rootfs/ for an imported root filesystem
//   STORE/images/roots/HASH          the state roots whose containers used this store (GC roots, see inUse)
//   STORE/images/lock                flock for names.json (src/state/lock.ts)
//
// An image's id is its manifest digest (pulled and loaded images; equal manifests are one image), or, for an
// imported root filesystem, the digest of its first record. A record is written (atomically) before a name
// points at it, and names.json is replaced in one rename under the lock: after a kill -9 a name points at a
// complete record or at none, and a record no name points at is an unnamed image (`image ls` shows it as
// <none>; `image prune` removes it when no container uses it).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { isErrno, PodnsError } from '../errors.js';
import { ensureDir, listDir, readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../state/files.js';
import { withLockSync } from '../state/lock.js';
import { paths } from '../state/paths.js';
import { storePaths } from '../state/store-root.js';
import { isDigest, parseDigest } from './digest.js';
import { parseImageReference } from './reference.js';

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  /** the image's USER, as written ("1000", "1000:1000", "nginx"): recorded, shown */
  user?: string;
}

/** Checks --cmd/--entrypoint/--env/--workdir values (they come from JSON and flags). */
export function validateImageConfig(config: ImageConfig): ImageConfig {
  const out: ImageConfig = {};
  for (const key of ['entrypoint', 'cmd'] as const) {
    const v = config[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw new PodnsError('EUSAGE', `image ${key} must be a list of strings, e.g. ["httpd","-f"]`);
    }
    if (v.some((s) => s.includes('\0'))) throw new PodnsError('EUSAGE', `image ${key} contains a NUL byte`);
    out[key] = [...v];
  }
  if (config.env !== undefined) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.env)) {
      if (k === '' || k.includes('=') || k.includes('\0') || typeof v !== 'string' || v.includes('\0')) {
        throw new PodnsError('EUSAGE', `bad image env "${k}": write it as KEY=VALUE with a non-empty KEY`);
      }
      env[k] = v;
    }
    out.env = env;
  }
  if (config.workingDir !== undefined) {
    if (typeof config.workingDir !== 'string' || !isAbsolute(config.workingDir) || config.workingDir.includes('\0')) {
      throw new PodnsError('EUSAGE', `image working directory "${config.workingDir}" must be an absolute path such as /app`);
    }
    out.workingDir = config.workingDir;
  }
  return out;
}

/** A layer of a stored image, bottom first. */
export interface StoredLayer {
  /** the blob's digest (compressed, as the registry serves it) */
  digest: string;
  size: number;
  mediaType: string;
  /** digest of the uncompressed tar (the config's rootfs.diff_ids) */
  diffId: string;
  chainId: string;
}

export interface StoredImage {
  apiVersion: 'podns/v1';
  /** "sha256:…": the manifest digest, or (an imported rootfs) the digest of the first record */
  id: string;
  /** layers: an OCI/Docker image (blobs + unpacked layers); rootfs: an imported root filesystem */
  kind: 'layers' | 'rootfs';
  /** the image's creation time (its config's `created`), or when it was imported */
  created: string;
  /** bytes: the layers' blobs (compressed), or the imported tree (apparent size) */
  size: number;
  config: ImageConfig;
  /** where it came from: "docker.io/library/nginx@sha256:…", a file, a directory */
  source?: string;
  // kind 'layers'
  manifestMediaType?: string;
  configDigest?: string;
  /** the index the reference named (a multi-platform image), when it named one */
  indexDigest?: string;
  layers?: StoredLayer[];
  /** "linux/amd64", "linux/arm/v7" */
  platform?: string;
}

const NAMES = 'names.json';

/** The key of a name in names.json: "nginx:latest", or "nginx@sha256:…" for a reference with a digest. */
export function storeName(name: string): string {
  const r = parseImageReference(name);
  return r.digest !== undefined ? `${r.repository}@${r.digest}` : `${r.repository}:${r.tag ?? 'latest'}`;
}

export function imagesDir(store: string): string {
  return storePaths.images(store);
}

/** STORE/images/sha256/HEX: the digest is parsed first, so nothing but hex reaches the path. */
export function imageDir(store: string, id: string): string {
  const d = parseDigest(id, 'image id');
  return join(imagesDir(store), d.algorithm, d.hex);
}

/** The name index; a missing or unreadable file is an empty index (its names' records stay findable by id). */
export function readNames(store: string): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(imagesDir(store), NAMES), 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR') || err instanceof SyntaxError) return {};
    throw err;
  }
  const out: Record<string, string> = {};
  if (raw === null || typeof raw !== 'object') return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (isDigest(v)) out[k] = v;
  return out;
}

/** Changes the name index under the store's lock, replacing names.json in one rename. */
export function updateNames<T>(store: string, fn: (names: Record<string, string>) => T): T {
  const dir = imagesDir(store);
  ensureDir(dir);
  return withLockSync(dir, () => {
    const names = readNames(store);
    const out = fn(names);
    const sorted = Object.fromEntries(Object.entries(names).sort(([a], [b]) => a.localeCompare(b)));
    writeJsonAtomic(join(dir, NAMES), sorted);
    return out;
  });
}

export function readImage(store: string, id: string): StoredImage | undefined {
  let rec: StoredImage | undefined;
  try {
    rec = readJsonIfExists<StoredImage>(join(imageDir(store, id), 'image.json'));
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
  if (rec === undefined || rec.id !== id || (rec.kind !== 'layers' && rec.kind !== 'rootfs')) return undefined;
  rec.config = rec.config ?? {};
  return rec;
}

/** Writes (or replaces) a record; its directory is made when missing. */
export function writeImage(store: string, rec: StoredImage): void {
  const dir = imageDir(store, rec.id);
  ensureDir(dir);
  writeJsonAtomic(join(dir, 'image.json'), rec);
}

/** Every stored record (named or not). */
export function listImageRecords(store: string): StoredImage[] {
  const out: StoredImage[] = [];
  for (const hex of listDir(join(imagesDir(store), 'sha256'))) {
    const id = `sha256:${hex}`;
    if (!isDigest(id)) continue;
    const rec = readImage(store, id);
    if (rec !== undefined) out.push(rec);
  }
  return out;
}

/** Removes a record and its directory (an imported rootfs with it). */
export function removeImageRecord(store: string, id: string): void {
  rmSync(imageDir(store, id), { recursive: true, force: true });
}

// ---- GC roots: the state roots whose containers use images of this store ----

function rootsDir(store: string): string {
  return join(imagesDir(store), 'roots');
}

/** Remembers that ROOT runs containers from this store (before the container's config is written). */
export function registerRoot(store: string, root: string): void {
  const file = join(rootsDir(store), createHash('sha256').update(root).digest('hex').slice(0, 16));
  if (existsSync(file)) return;
  ensureDir(rootsDir(store));
  writeFileAtomic(file, root);
}

/** The state roots that used this store and still exist. */
export function knownRoots(store: string): string[] {
  const out: string[] = [];
  for (const f of listDir(rootsDir(store))) {
    if (f.startsWith('.')) continue;
    try {
      const root = readFileSync(join(rootsDir(store), f), 'utf8');
      if (existsSync(paths.pods(root))) out.push(root);
    } catch {
      /* removed meanwhile */
    }
  }
  return out;
}

export interface ImageUser {
  root: string;
  pod: string;
  container: string;
  /** the image id the container records */
  imageId?: string;
  /** the ChainIDs of its layers, bottom first */
  layers: string[];
  /** the rootfs directory it records (imported images, and containers from before image ids) */
  rootfs?: string;
  /** the name it was run with */
  image?: string;
}

/**
 * Every container of every state root that used this store (and of `alsoRoot`), with what it records of its
 * image. Containers of deleted pods are gone with their pods; a stopped container still counts (it can be
 * inspected, its rootfs overlay still names the layers), as with Docker.
 */
export function imageUsers(store: string, alsoRoot?: string): ImageUser[] {
  const roots = new Set(knownRoots(store));
  if (alsoRoot !== undefined && existsSync(paths.pods(alsoRoot))) roots.add(alsoRoot);
  const out: ImageUser[] = [];
  for (const root of roots) {
    for (const pod of listDir(paths.pods(root))) {
      if (pod.startsWith('.')) continue;
      for (const c of listDir(paths.containers(root, pod))) {
        let cfg: { image?: unknown; imageId?: unknown; imageLayers?: unknown; rootfs?: unknown };
        try {
          cfg = JSON.parse(readFileSync(paths.containerConfig(root, pod, c), 'utf8')) as typeof cfg;
        } catch {
          continue;
        }
        if (cfg.image === undefined && cfg.imageId === undefined) continue;
        out.push({
          root, pod, container: c,
          ...(isDigest(cfg.imageId) ? { imageId: cfg.imageId } : {}),
          layers: Array.isArray(cfg.imageLayers) ? cfg.imageLayers.filter(isDigest) : [],
          ...(typeof cfg.rootfs === 'string' ? { rootfs: cfg.rootfs } : {}),
          ...(typeof cfg.image === 'string' ? { image: cfg.image } : {}),
        });
      }
    }
  }
  return out;
}

/** The containers that use image ID (by the id they record, or a rootfs inside its directory). */
export function usersOf(store: string, id: string, alsoRoot?: string): ImageUser[] {
  const dir = imageDir(store, id);
  return imageUsers(store, alsoRoot).filter((u) => u.imageId === id || (u.rootfs !== undefined && (u.rootfs === dir || u.rootfs.startsWith(dir + '/'))));
}
