// An OCI/Docker image whose blobs are in the content store (pulled, or loaded from an archive) becomes a stored
// image: each layer unpacked once by ChainID (LayerStore.ensure, a few at a time; a layer another image has
// is not unpacked again), then the record (records.ts, kind 'layers', id = manifest digest), then its name.
// Nothing is named before every layer is there: a failure part way leaves verified blobs and unpacked layers
// (reused by the next try, collected by `image prune` when nothing names them) and no record.
import { PodnsError } from '../errors.js';
import type { ContentStore } from './content/store.js';
import { chainIds, parseDigest } from './digest.js';
import { withStoreLock } from './gc.js';
import { LayerStore } from './layers/store.js';
import type { Descriptor, ImageConfigFile, ImageManifest, Platform } from './oci.js';
import { readImage, storeName, writeImage, type ImageConfig, type StoredImage } from './records.js';
import { nameImage } from './store.js';

/** Layers unpacked at once (each is one helper process and one decompressor). */
export const UNPACK_PARALLELISM = 3;

export type UnpackState = 'cached' | 'unpacking' | 'done';

export interface StoreLayeredOptions {
  /** the store's root (STORE) */
  store: string;
  content: ContentStore;
  /** "repo:tag" or "repo@sha256:…" as the user wrote it (normalised here); none: an unnamed image */
  name?: string;
  manifestDigest: string;
  manifest: ImageManifest;
  configDigest: string;
  config: ImageConfigFile;
  /** the manifest's layers, bottom first */
  layers: readonly Descriptor[];
  /** config.rootfs.diff_ids, one per layer */
  diffIds: readonly string[];
  /** the index the reference named, when it named one (a GC root, and `image ls` by that digest) */
  indexDigest?: string;
  platform?: Platform | string;
  /** where it came from: "docker.io/library/nginx@sha256:…", "archive.tar" */
  source?: string;
  onUnpack?: (e: { index: number; digest: string; state: UnpackState }) => void;
  signal?: AbortSignal;
}

function bad(what: string): PodnsError {
  return new PodnsError('EBADIMAGE', `${what}; the image is broken (nothing was stored)`);
}

/** The runtime defaults of an image config (OCI config.config) as a container starts with them. Hostile
 * values (NUL bytes, which no exec can carry) refuse the image. */
export function runtimeConfig(c: ImageConfigFile, what: string): ImageConfig {
  const cc = c.config ?? {};
  const out: ImageConfig = {};
  const noNul = (v: string, field: string): string => {
    if (v.includes('\0')) throw bad(`${what}: config.${field} contains a NUL byte`);
    return v;
  };
  if (cc.Entrypoint != null && cc.Entrypoint.length > 0) out.entrypoint = cc.Entrypoint.map((s) => noNul(s, 'Entrypoint'));
  if (cc.Cmd != null && cc.Cmd.length > 0) out.cmd = cc.Cmd.map((s) => noNul(s, 'Cmd'));
  if (cc.Env !== undefined) {
    const env: Record<string, string> = {};
    for (const e of cc.Env) {
      noNul(e, 'Env');
      const eq = e.indexOf('=');
      // "KEY" without '=' means "from the caller's environment" to docker run; an image has none: skipped
      if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
    }
    out.env = env;
  }
  if (cc.WorkingDir !== undefined && cc.WorkingDir !== '') {
    // docker reads a relative WorkingDir from "/"
    const w = noNul(cc.WorkingDir, 'WorkingDir');
    out.workingDir = w.startsWith('/') ? w : `/${w}`;
  }
  if (cc.User !== undefined && cc.User !== '') out.user = noNul(cc.User, 'User');
  return out;
}

function platformString(p: Platform | string | undefined, c: ImageConfigFile): string {
  if (typeof p === 'string') return p;
  const q = p ?? { os: c.os, architecture: c.architecture, ...(c.variant !== undefined ? { variant: c.variant } : {}) };
  return [q.os, q.architecture, q.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/** Runs FN over ITEMS, N at a time; the first failure aborts the rest (through the signal given to FN) and is thrown. */
async function eachLimited<T>(items: readonly T[], n: number, outer: AbortSignal | undefined, fn: (item: T, i: number, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let first: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && !ac.signal.aborted) {
      const i = next++;
      try {
        await fn(items[i]!, i, ac.signal);
      } catch (err) {
        if (first === undefined) first = err;
        ac.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  if (first !== undefined) throw first;
  if (outer?.aborted) throw new PodnsError('ECANCELED', 'cancelled');
}

/** The caller holds the store lock shared (withStoreLock(store, 'sh', …)) from its first blob on, so that a
 * prune never removes its blobs before the record refers to them; it is taken here too, for callers that do not. */
export async function storeLayeredImage(o: StoreLayeredOptions): Promise<{ id: string; record: StoredImage }> {
  return withStoreLock(o.store, 'sh', () => storeLayered(o));
}

async function storeLayered(o: StoreLayeredOptions): Promise<{ id: string; record: StoredImage }> {
  const id = parseDigest(o.manifestDigest, 'manifest digest').value;
  const what = o.source ?? o.name ?? id;
  // the name is checked before anything is unpacked
  const name = o.name !== undefined ? storeName(o.name) : undefined;
  if (o.indexDigest !== undefined) parseDigest(o.indexDigest, 'index digest');
  parseDigest(o.configDigest, 'config digest');
  if (o.layers.length !== o.manifest.layers.length || o.layers.some((l, i) => l.digest !== o.manifest.layers[i]!.digest)) {
    throw bad(`${what}: the layers given are not the manifest's`);
  }
  if (o.diffIds.length !== o.layers.length) throw bad(`${what}: the config lists ${o.diffIds.length} diff_ids for ${o.layers.length} layers`);
  if (o.manifest.config.digest !== o.configDigest) throw bad(`${what}: the manifest's config is ${o.manifest.config.digest}, not ${o.configDigest}`);
  // blobs are the caller's to fetch and verify; a missing one is a caller's bug or a store changed under us
  for (const d of [o.configDigest, ...o.layers.map((l) => l.digest)]) {
    if (!o.content.has(d)) throw new PodnsError('ENOBLOB', `${what}: blob ${d} is not in the content store ${o.content.dir}; pull or load the image again`);
  }
  const config = runtimeConfig(o.config, what);
  const chain = chainIds(o.diffIds);
  const layers = new LayerStore(o.store);
  await eachLimited(o.layers, UNPACK_PARALLELISM, o.signal, async (l, i, signal) => {
    const chainId = chain[i]!;
    if (layers.get(chainId) !== undefined) {
      o.onUnpack?.({ index: i, digest: l.digest, state: 'cached' });
      return;
    }
    o.onUnpack?.({ index: i, digest: l.digest, state: 'unpacking' });
    const r = await layers.ensure({
      chainId, ...(i > 0 ? { parentChainId: chain[i - 1]! } : {}), diffId: o.diffIds[i]!,
      open: () => o.content.open(l.digest), signal,
    });
    o.onUnpack?.({ index: i, digest: l.digest, state: r.unpacked ? 'done' : 'cached' });
  });
  const created = o.config.created !== undefined && !Number.isNaN(Date.parse(o.config.created)) ? o.config.created : new Date().toISOString();
  const old = readImage(o.store, id);
  const record: StoredImage = {
    apiVersion: 'podns/v1', id, kind: 'layers', created,
    size: o.layers.reduce((n, l) => n + l.size, 0),
    config,
    ...(o.source !== undefined ? { source: o.source } : old?.source !== undefined ? { source: old.source } : {}),
    ...(o.manifest.mediaType !== undefined ? { manifestMediaType: o.manifest.mediaType } : {}),
    configDigest: o.configDigest,
    ...(o.indexDigest !== undefined ? { indexDigest: o.indexDigest } : old?.indexDigest !== undefined ? { indexDigest: old.indexDigest } : {}),
    layers: o.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: o.diffIds[i]!, chainId: chain[i]! })),
    platform: platformString(o.platform, o.config),
  };
  writeImage(o.store, record);
  if (name !== undefined) nameImage(o.store, name, id);
  return { id, record };
}
