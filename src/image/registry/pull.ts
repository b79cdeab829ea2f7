// pullToContent: a reference → its manifest, config and layer blobs in the content store, verified.
//   1. tag → digest with a HEAD (cheap), so a manifest already stored is not fetched again; a digest reference
//      whose manifest is stored needs no registry at all (works offline);
//   2. an index → the manifest of the wanted platform (the host's unless one is given);
//   3. config (size-capped, parsed; diff_ids count = layers count) and layers, LAYER_PARALLELISM at a time, each
//      streamed through sha256 into the store, resumed with Range after an interruption.
// Unpacking and the diff_id check of each layer are the caller's (src/image/layers applyLayer).
import { RegistryClient, type RegistryClientOptions, type Repo } from './client.js';
import { isRetryable, RegistryError } from './errors.js';
import { formatPlatform, hostPlatform, parsePlatform, pickManifest } from './platform.js';
import type { ContentStore } from '../content/store.js';
import {
  checkLayerMediaType, CONFIG_MEDIA_TYPES, isNonDistributable, LIMITS, parseImageConfig, parseManifestDocument,
  type Descriptor, type ImageConfigFile, type ImageIndex, type ImageManifest, type Platform,
} from '../oci.js';
import { parseImageReference, type ImageReference } from '../reference.js';
import { PodnsError } from '../../errors.js';

/** Layers downloaded at once (the issue asks for 3-6; containerd uses 3, docker 3, podman 6). */
export const LAYER_PARALLELISM = 4;
/** Tries of one blob (each resumes from what the last one stored). */
export const BLOB_ATTEMPTS = 5;

export type PullEvent =
  | { type: 'resolved'; ref: string; manifestDigest: string; layers: number; bytes: number }
  | { type: 'blob'; what: 'config' | 'layer'; index: number; digest: string; bytes: number; total: number; state: 'cached' | 'downloading' | 'done' };

export interface PullOptions extends RegistryClientOptions {
  /** a reference string or one already parsed */
  ref: string | ImageReference;
  store: ContentStore;
  /** "os/arch[/variant]" or a Platform; default: the host's */
  platform?: string | Platform;
  /** registries (host[:port]) allowed plain HTTP / unverified TLS */
  insecure?: readonly string[];
  /** the manifest digest the caller last resolved for this tag: used, with a warning event, when the registry is down */
  cachedDigest?: string;
  onProgress?: (e: PullEvent) => void;
  /** the config is in the store and parsed, the layers are about to download (a caller unpacks them meanwhile) */
  onConfig?: (r: { manifest: ImageManifest; layers: Descriptor[]; diffIds: string[] }) => void;
  /** a warning podns shows (offline use of a cached digest) */
  onWarning?: (line: string) => void;
  signal?: AbortSignal;
  /** a client to reuse (several pulls share tokens and connections); closed by its owner */
  client?: RegistryClient;
}

export interface PullResult {
  /** full name: "docker.io/library/nginx" */
  name: string;
  /** the parsed reference */
  reference: ImageReference;
  tag?: string;
  /** digest of the image manifest (the platform's, when the reference named an index) */
  manifestDigest: string;
  /** digest of the index the reference named, when it named one */
  indexDigest?: string;
  manifest: ImageManifest;
  configDigest: string;
  config: ImageConfigFile;
  layers: Descriptor[];
  /** config.rootfs.diff_ids, one per layer, bottom first */
  diffIds: string[];
  platform: Platform;
}

export async function pullToContent(o: PullOptions): Promise<PullResult> {
  const ref = typeof o.ref === 'string' ? parseImageReference(o.ref) : o.ref;
  const client = o.client ?? new RegistryClient({ ...o, insecureRegistries: [...(o.insecure ?? []), ...(o.insecureRegistries ?? [])] });
  try {
    return await pull(ref, client, o);
  } finally {
    if (o.client === undefined) client.close();
  }
}

async function pull(ref: ImageReference, client: RegistryClient, o: PullOptions): Promise<PullResult> {
  const repo: Repo = { domain: ref.domain, path: ref.path };
  const chosen = o.platform !== undefined;
  const want = o.platform === undefined ? hostPlatform() : typeof o.platform === 'string' ? parsePlatform(o.platform) : o.platform;
  const signal = o.signal;

  // 1. the top document's digest, and its bytes (from the store when it is there)
  const top = await resolveTop(ref, repo, client, o);
  let doc = parseManifestDocument(top.bytes, ref.ref, top.contentType);
  let manifestDigest = top.digest;
  let indexDigest: string | undefined;

  // 2. index → platform manifest
  if (doc.kind === 'index') {
    const index: ImageIndex = doc.index;
    indexDigest = top.digest;
    const d = pickManifest(index.manifests, want, { chosen, what: `${ref.ref} (an index)` });
    const what = `${ref.ref} for ${formatPlatform(want)}`;
    const child = await manifestByDigest(repo, d.digest, d.size, client, o.store, what, signal);
    doc = parseManifestDocument(child.bytes, what, child.contentType);
    if (doc.kind === 'index') throw new PodnsError('EBADIMAGE', `${what}: an index inside an index is not supported; push a flat index`);
    manifestDigest = d.digest;
    checkImageManifest(doc.manifest, what);
    keep(o.store, top);
    keep(o.store, child);
  } else {
    checkImageManifest(doc.manifest, ref.ref);
    keep(o.store, top);
  }
  const manifest = doc.manifest;
  const what = `${ref.ref}`;
  const total = manifest.layers.reduce((s, l) => s + l.size, 0);
  o.onProgress?.({ type: 'resolved', ref: ref.ref, manifestDigest, layers: manifest.layers.length, bytes: total });

  // 3. config
  const cfgD = manifest.config;
  await fetchBlob(repo, cfgD, client, o, 'config', 0);
  const config = parseImageConfig(o.store.read(cfgD.digest, LIMITS.configBytes), `${what}: config`, manifest.layers.length);
  if (chosen && (config.os !== want.os || config.architecture !== want.architecture)) {
    throw new PodnsError('ENOPLATFORM', `${what} is ${formatPlatform(config)}, not the ${formatPlatform(want)} asked for`);
  }

  o.onConfig?.({ manifest, layers: manifest.layers, diffIds: config.rootfs.diff_ids });

  // 4. layers, a few at a time
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < manifest.layers.length) {
      const i = next++;
      await fetchBlob(repo, manifest.layers[i]!, client, o, 'layer', i);
    }
  };
  const workers = Array.from({ length: Math.min(LAYER_PARALLELISM, manifest.layers.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;

  return {
    name: ref.name,
    reference: ref,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    manifestDigest,
    ...(indexDigest !== undefined ? { indexDigest } : {}),
    manifest,
    configDigest: cfgD.digest,
    config,
    layers: manifest.layers,
    diffIds: config.rootfs.diff_ids,
    platform: { os: config.os, architecture: config.architecture, ...(config.variant !== undefined ? { variant: config.variant } : {}) },
  };
}

interface TopDocument {
  digest: string;
  bytes: Buffer;
  contentType?: string;
  /** fetched now: stored once it parsed */
  fetched?: boolean;
}

/** A container image's manifest: an image config and layers podns can unpack (not an artifact). */
function checkImageManifest(manifest: ImageManifest, what: string): void {
  if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
    throw new PodnsError('EBADIMAGE', `${what}: the config's media type ${manifest.config.mediaType.slice(0, 100)} is not an image config (an artifact, not a container image?)`);
  }
  manifest.layers.forEach((l, i) => checkLayerMediaType(l, `${what}: layer ${i}`));
}

/** A manifest is stored only after it parsed and validated: a refused one leaves nothing. */
function keep(store: ContentStore, d: TopDocument): void {
  if (d.fetched) store.put(d.bytes, d.digest);
}

/** The document a reference names: stored (digest known and present) or fetched and stored. */
async function resolveTop(ref: ImageReference, repo: Repo, client: RegistryClient, o: PullOptions): Promise<TopDocument> {
  const signal = o.signal;
  if (ref.digest !== undefined) {
    return manifestByDigest(repo, ref.digest, undefined, client, o.store, ref.ref, signal);
  }
  const tag = ref.tag ?? 'latest';
  let digest: string | undefined;
  try {
    digest = (await client.headManifest(repo, tag, signal)).digest;
  } catch (err) {
    // registry unreachable: the caller's last known digest for this tag, when its manifest is stored
    const offline = !(err instanceof RegistryError) || err.status === 0 || isRetryable(err);
    if (offline && o.cachedDigest !== undefined && o.store.has(o.cachedDigest)) {
      o.onWarning?.(`${ref.ref}: the registry cannot be reached (${(err as Error).message.split('\n')[0]}); using the stored ${o.cachedDigest}`);
      return { digest: o.cachedDigest, bytes: o.store.read(o.cachedDigest, LIMITS.manifestBytes) };
    }
    // a registry without HEAD support (405) still serves GET; anything else is the answer
    if (!(err instanceof RegistryError) || (err.status !== 405 && err.status !== 400)) throw err;
  }
  if (digest !== undefined && o.store.has(digest)) {
    return { digest, bytes: o.store.read(digest, LIMITS.manifestBytes) };
  }
  const m = await client.getManifest(repo, digest ?? tag, signal);
  return { digest: m.digest, bytes: m.bytes, contentType: m.contentType, fetched: true };
}

async function manifestByDigest(repo: Repo, digest: string, size: number | undefined, client: RegistryClient, store: ContentStore, what: string, signal?: AbortSignal): Promise<TopDocument> {
  if (size !== undefined && size > LIMITS.manifestBytes) {
    throw new PodnsError('EBADIMAGE', `${what}: manifest ${digest} is ${size} bytes, more than the ${LIMITS.manifestBytes} allowed`);
  }
  if (store.has(digest)) return { digest, bytes: store.read(digest, LIMITS.manifestBytes) };
  const m = await client.getManifest(repo, digest, signal);
  if (size !== undefined && m.bytes.length !== size) {
    throw new PodnsError('EBADIMAGE', `${what}: manifest ${digest} is ${m.bytes.length} bytes, its descriptor says ${size}`);
  }
  return { digest, bytes: m.bytes, contentType: m.contentType, fetched: true };
}

/** One blob into the store: skipped when stored; else retried, each try resuming from the ingest file. */
async function fetchBlob(repo: Repo, d: Descriptor, client: RegistryClient, o: PullOptions, kind: 'config' | 'layer', index: number): Promise<void> {
  const store = o.store;
  const signal = o.signal;
  const event = (bytes: number, state: 'cached' | 'downloading' | 'done'): void =>
    o.onProgress?.({ type: 'blob', what: kind, index, digest: d.digest, bytes, total: d.size, state });
  if (kind === 'config' && d.size > LIMITS.configBytes) {
    throw new PodnsError('EBADIMAGE', `${repo.domain}/${repo.path}: config ${d.digest} is ${d.size} bytes, more than the ${LIMITS.configBytes} allowed`);
  }
  if (store.has(d.digest)) {
    event(d.size, 'cached');
    return;
  }
  const what = kind === 'config' ? 'the config' : `layer ${index}`;
  const urls = d.urls ?? [];
  let fromUrls = false;
  await client.retry(`${repo.domain}/${repo.path}@${d.digest}`, async () => {
    const resumed = (store.partials().get(d.digest) ?? 0) > 0;
    try {
      await store.ingest(d.digest, d.size, async (offset) => {
        if (!fromUrls) {
          try {
            return await client.openBlob(repo, d.digest, offset, signal);
          } catch (err) {
            // a foreign / non-distributable layer the registry does not hold: its URLs, as the spec says
            if (!(err instanceof RegistryError && err.status === 404 && isNonDistributable(d))) throw err;
            if (urls.length === 0) {
              throw new PodnsError('ENOBLOB', `${repo.domain}/${repo.path}: ${what} (${d.digest}) is non-distributable, the registry does not have it and the manifest gives no URLs to fetch it from`);
            }
            fromUrls = true;
          }
        }
        return openFirstUrl(client, urls, offset, `${repo.domain}/${repo.path}: ${what} (non-distributable)`, signal);
      }, (bytes) => event(bytes, 'downloading'));
    } catch (err) {
      // a corrupt partial from an earlier try: the store removed it; one fresh try is worth it
      if (resumed && err instanceof PodnsError && err.code === 'EBADBLOB') throw new PodnsError('ETRUNCATED', err.message);
      throw err;
    }
  }, signal);
  event(d.size, 'done');
}

async function openFirstUrl(client: RegistryClient, urls: readonly string[], offset: number, what: string, signal?: AbortSignal) {
  const errors: string[] = [];
  for (const u of urls) {
    try {
      return await client.openUrl(u, offset, signal);
    } catch (err) {
      errors.push((err as Error).message.split('\n')[0]!);
    }
  }
  throw new PodnsError('ENOBLOB', `${what}: none of its ${urls.length} URLs could be fetched (${errors.join('; ').slice(0, 300)})`);
}
