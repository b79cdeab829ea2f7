// `podns image pull` (and what run/apply/CRI pull with): a reference → verified blobs in the content store
// (src/image/registry pullToContent) → each layer unpacked once by ChainID, the record and its name
// (layered.ts). A pull that dies part way leaves verified blobs and unpacked layers, and no record: the next
// pull reuses all of it.
import { oneLine, PodnsError } from '../errors.js';
import { resolveStore, type StoreOption } from '../state/store-root.js';
import { ContentStore } from './content/store.js';
import { withStoreLock } from './gc.js';
import { isDigest } from './digest.js';
import { EarlyUnpacker } from './early-unpack.js';
import { storeLayeredImage, UNPACK_PARALLELISM, type UnpackState } from './layered.js';
import { defaultPullPolicy, needsPull, type PullPolicy } from './pull-policy.js';
import { findImage, ImageNotFoundError } from './store.js';
import { readImage, readNames, storeName, type StoredImage } from './records.js';
import { parseImageReference, type ImageReference } from './reference.js';
import { explicitCredentials, type ExplicitCredentials } from './registry/credentials.js';
import { pullToContent, type PullEvent } from './registry/pull.js';

/** Registries allowed plain HTTP / unverified TLS, comma- or space-separated (besides --insecure-registry). */
export const INSECURE_ENV = 'PODNS_INSECURE_REGISTRIES';

export type ImagePullEvent = PullEvent | { type: 'unpack'; index: number; digest: string; state: UnpackState };

export interface ImagePullOptions extends StoreOption {
  ref: string;
  /** "os/arch[/variant]"; default: the host's */
  platform?: string;
  /** registries (host or host:port) allowed plain HTTP and unverified TLS; PODNS_INSECURE_REGISTRIES adds to them */
  insecure?: readonly string[];
  /** explicit credentials (CRI AuthConfig): they override the auth files */
  credentials?: ExplicitCredentials;
  /** an auth file replacing the default search (podman's --authfile) */
  authFile?: string;
  /** CA directories (certs.d layout) replacing the defaults */
  certDirs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  onProgress?: (e: ImagePullEvent) => void;
  onWarning?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ImagePullResult {
  /** the name it is stored under: "nginx:latest", "nginx@sha256:…" */
  ref: string;
  /** the image id: its manifest digest (the platform's) */
  id: string;
  /** what the reference resolved to: the index digest for a multi-platform image, else the manifest digest */
  digest: string;
  record: StoredImage;
}

const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

/** The insecure registries: the given ones and PODNS_INSECURE_REGISTRIES', each checked. */
export function insecureRegistries(given: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): string[] {
  const all = [...given, ...(env[INSECURE_ENV] ?? '').split(/[\s,]+/).filter(Boolean)];
  for (const h of all) {
    if (!HOST_RE.test(h)) throw new PodnsError('EUSAGE', `insecure registry "${h.slice(0, 80)}" is not a host or host:port (e.g. registry.local:5000)`);
  }
  return [...new Set(all.map((h) => h.toLowerCase()))];
}

export async function pullImage(o: ImagePullOptions): Promise<ImagePullResult> {
  const store = resolveStore(o.store);
  const parsed = parseImageReference(o.ref);
  const name = storeName(o.ref);
  const insecure = insecureRegistries(o.insecure, o.env);
  if (o.credentials !== undefined) explicitCredentials(o.credentials);
  const content = new ContentStore(store);
  // the digest this name resolved to last time: used (with a warning) when the registry cannot be reached
  const knownId = readNames(store)[name];
  const known = knownId !== undefined ? readImage(store, knownId) : undefined;
  const cachedDigest = known?.kind === 'layers' ? known.indexDigest ?? known.id : undefined;
  // shared: a prune waits for this pull (its blobs and layers have no record yet)
  return withStoreLock(store, 'sh', () => pullLocked(o, store, parsed, name, insecure, content, cachedDigest)).catch((err: unknown) => {
    if (o.signal?.aborted === true) {
      throw new PodnsError('ECANCELED', `${parsed.ref}: pull interrupted; what was downloaded is kept and the next pull resumes from it`, { cause: err });
    }
    throw networkError(err, parsed.ref, parsed.domain);
  });
}

/** Errnos of a registry that cannot be reached: the socket's own error, as a line that says so. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

function networkError(err: unknown, ref: string, domain: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err instanceof PodnsError || typeof code !== 'string' || !UNREACHABLE.has(code)) return err;
  return new PodnsError(code, `${ref}: cannot reach the registry ${domain} (${oneLine(err)}); check that it runs and that the name and port are right`, { cause: err });
}

async function pullLocked(o: ImagePullOptions, store: string, parsed: ImageReference, name: string, insecure: string[], content: ContentStore, cachedDigest: string | undefined): Promise<ImagePullResult> {
  // layers unpack while they download; what that misses, storeLayeredImage unpacks (early-unpack.ts)
  const early = new EarlyUnpacker({
    store, content, parallelism: UNPACK_PARALLELISM, ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(o.onProgress !== undefined ? { onUnpack: (e) => o.onProgress!({ type: 'unpack', ...e }) } : {}),
  });
  const res = await pullToContent({
    ref: parsed, store: content, insecure,
    ...(o.platform !== undefined ? { platform: o.platform } : {}),
    ...(o.credentials !== undefined ? { credentials: o.credentials } : {}),
    ...(o.authFile !== undefined ? { authFile: o.authFile } : {}),
    ...(o.certDirs !== undefined ? { certDirs: o.certDirs } : {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
    ...(cachedDigest !== undefined ? { cachedDigest } : {}),
    ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
    ...(o.onWarning !== undefined ? { onWarning: o.onWarning } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    onConfig: early.start,
  }).catch(early.fail);
  await early.settled();
  const { id, record } = await storeLayeredImage({
    store, content, name,
    manifestDigest: res.manifestDigest, manifest: res.manifest,
    configDigest: res.configDigest, config: res.config,
    layers: res.layers, diffIds: res.diffIds,
    ...(res.indexDigest !== undefined ? { indexDigest: res.indexDigest } : {}),
    platform: res.platform,
    source: `${res.name}@${res.indexDigest ?? res.manifestDigest}`,
    ...(o.onProgress !== undefined ? { onUnpack: early.report } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
  });
  return { ref: name, id, digest: res.indexDigest ?? res.manifestDigest, record };
}

export interface EnsureImageOptions extends Omit<ImagePullOptions, 'ref'> {
  /** the image as a container names it */
  name: string;
  /** default: Kubernetes' (Always for ":latest" or no tag, else IfNotPresent) */
  policy?: PullPolicy;
}

/**
 * Pulls NAME when the policy says so (pull-policy.ts: the table), before a container is made from it. Returns
 * the pull's result, or undefined when the store's image is used as it is. Missing with policy Never: the
 * not-found error. A pull that fails while the store has no such image: one line saying both.
 */
export async function ensureImage(o: EnsureImageOptions): Promise<ImagePullResult | undefined> {
  const store = resolveStore(o.store);
  const hit = findImage(store, o.name);
  const have = hit !== undefined ? readImage(store, hit.id)?.kind : undefined;
  const policy = o.policy ?? defaultPullPolicy(o.name);
  // an id (sha256:…, or hex digits of one) names a local image: there is nothing to pull it by
  const byId = isDigest(o.name) || /^[a-f0-9]{12,64}$/.test(o.name);
  if (!needsPull(policy, have) || (byId && have !== undefined)) return undefined;
  if (have === undefined && (policy === 'Never' || byId)) throw new ImageNotFoundError(storeNameOr(o.name));
  const { name, policy: _policy, ...rest } = o;
  void _policy;
  try {
    return await pullImage({ ...rest, ref: name, store });
  } catch (err) {
    if (have !== undefined || !(err instanceof Error) || (err instanceof PodnsError && (err.code === 'EUSAGE' || err.code === 'EINVALIDREF' || err.code === 'ECANCELED'))) throw err;
    throw new PodnsError(err instanceof PodnsError ? err.code : 'EPULL', `image "${storeNameOr(o.name)}" is not in the store and pulling it failed: ${oneLine(err)}`, { cause: err });
  }
}

function storeNameOr(name: string): string {
  try {
    return storeName(name);
  } catch {
    return name;
  }
}
