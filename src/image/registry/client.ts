// The OCI distribution API calls podns makes (pull only): manifest HEAD and GET, blob GET with Range.
// Each call goes through authorization (auth.ts: once more after a 401), retries with back-off for network
// failures, 429 (honouring Retry-After) and 5xx, and error mapping (errors.ts). Responses are checked before use:
// a manifest is size-capped while it streams, its digest is computed and compared with what was asked and with
// Docker-Content-Digest, and its Content-Type must be a manifest type.
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authorizer } from './auth.js';
import { parseChallenges } from './challenge.js';
import type { CredentialOptions } from './credentials.js';
import { errorFromResponse, header, isRetryable, RegistryError } from './errors.js';
import { Transport, type TransportOptions } from './transport.js';
import { digester, parseDigest } from '../digest.js';
import { LIMITS, MANIFEST_ACCEPT } from '../oci.js';
import { PodnsError } from '../../errors.js';

export interface RegistryClientOptions extends TransportOptions, CredentialOptions {
  /** tries of one request (network failures, 429, 5xx); default 5 */
  attempts?: number;
  /** first back-off; doubles each try, with jitter */
  backoffMs?: number;
  /** longest wait podns accepts (a longer Retry-After fails at once with the registry's message) */
  maxWaitMs?: number;
}

/** A repository on a registry: a reference's domain and path. */
export interface Repo {
  domain: string;
  path: string;
}

export interface ManifestHead {
  digest?: string;
  mediaType?: string;
  size?: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  contentType: string;
}

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 200;
export const DEFAULT_MAX_WAIT_MS = 60_000;
const MAX_BACKOFF_MS = 10_000;

export class RegistryClient {
  readonly transport: Transport;
  private readonly auth: Authorizer;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxWaitMs: number;

  constructor(o: RegistryClientOptions = {}) {
    this.transport = new Transport(o);
    this.auth = new Authorizer(this.transport, o);
    this.attempts = o.attempts ?? DEFAULT_ATTEMPTS;
    this.backoffMs = o.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.maxWaitMs = o.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  }

  close(): void {
    this.transport.close();
  }

  /** Runs FN again after a retryable failure, waiting with back-off or as long as Retry-After says. */
  async retry<T>(what: string, fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        if (signal?.aborted || attempt >= this.attempts || !isRetryable(err)) throw err;
        let wait = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2 ** (attempt - 1));
        wait = wait / 2 + Math.random() * (wait / 2);
        if (err instanceof RegistryError && err.retryAfter !== undefined) {
          if (err.retryAfter * 1000 > this.maxWaitMs) throw err;
          wait = err.retryAfter * 1000;
        }
        await sleep(wait, undefined, signal ? { signal } : undefined);
        void what;
      }
    }
  }

  /**
   * One authorized request to /v2/PATH/SUFFIX: a cached token or credentials up front, and after a 401 the challenge
   * is followed once (a fresh token) before the 401 becomes an error. Returns any other response for the caller.
   */
  private async request(repo: Repo, suffix: string, o: { method: 'GET' | 'HEAD'; headers?: Record<string, string>; signal?: AbortSignal }): Promise<IncomingMessage> {
    const base = await this.transport.base(repo.domain, o.signal);
    const url = new URL(`/v2/${repo.path}/${suffix}`, base);
    const scope = `repository:${repo.path}:pull`;
    // one re-auth: after a 401 to a request that carried a token (expired, revoked); a first 401 to a request
    // sent without one is the challenge itself
    for (let refused = 0; ;) {
      const authorization = await this.auth.header(repo.domain, repo.path, scope, o.signal);
      const res = await this.transport.send(url, {
        method: o.method,
        ...(o.headers ? { headers: o.headers } : {}),
        ...(authorization !== undefined ? { authorization } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (res.statusCode !== 401) return res;
      if (authorization !== undefined && ++refused > 1) return res;
      const ch = this.auth.noteChallenge(repo.domain, parseChallenges(res.headers['www-authenticate']));
      if (ch === undefined) return res;
      if (authorization !== undefined && ch.scheme === 'basic') return res; // the credentials themselves were refused
      res.resume();
      this.auth.invalidate(repo.domain, scope);
    }
  }

  /** HEAD of a manifest: the digest a tag points at (Docker-Content-Digest), without downloading it. */
  async headManifest(repo: Repo, reference: string, signal?: AbortSignal): Promise<ManifestHead> {
    const what = `${repo.domain}/${repo.path}:${reference}`;
    return this.retry(what, async () => {
      const res = await this.request(repo, `manifests/${reference}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT.join(', ') }, ...(signal ? { signal } : {}) });
      res.resume();
      if (res.statusCode !== 200) throw await errorFromResponse(res, what, repo.domain);
      const out: ManifestHead = {};
      const d = header(res, 'docker-content-digest');
      if (d !== undefined) out.digest = parseDigest(d, `${what}: Docker-Content-Digest`).value;
      const ct = header(res, 'content-type');
      if (ct !== undefined) out.mediaType = ct.split(';')[0]!.trim();
      const len = Number(header(res, 'content-length'));
      if (Number.isSafeInteger(len) && len >= 0) out.size = len;
      return out;
    }, signal);
  }

  /** GET of a manifest or index by tag or digest, size-capped, digest computed (and checked when by digest). */
  async getManifest(repo: Repo, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const byDigest = reference.includes(':') ? parseDigest(reference, 'manifest digest') : undefined;
    const what = `${repo.domain}/${repo.path}${byDigest ? '@' : ':'}${reference}`;
    return this.retry(what, async () => {
      const res = await this.request(repo, `manifests/${reference}`, { method: 'GET', headers: { accept: MANIFEST_ACCEPT.join(', ') }, ...(signal ? { signal } : {}) });
      if (res.statusCode !== 200) throw await errorFromResponse(res, what, repo.domain);
      const len = Number(header(res, 'content-length'));
      if (Number.isFinite(len) && len > LIMITS.manifestBytes) {
        res.destroy();
        throw new PodnsError('EBADIMAGE', `${what}: the manifest is ${len} bytes, more than the ${LIMITS.manifestBytes} allowed; refused`);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of res as AsyncIterable<Buffer>) {
        n += c.length;
        if (n > LIMITS.manifestBytes) {
          res.destroy();
          throw new PodnsError('EBADIMAGE', `${what}: the manifest is more than the ${LIMITS.manifestBytes} bytes allowed; refused`);
        }
        chunks.push(c);
      }
      if (Number.isFinite(len) && n < len) throw new PodnsError('ETRUNCATED', `${what}: the manifest ended after ${n} of ${len} bytes`);
      const bytes = Buffer.concat(chunks);
      const algorithm = byDigest?.algorithm ?? 'sha256';
      const h = digester(algorithm);
      h.update(bytes);
      const digest = h.digest();
      if (byDigest !== undefined && digest !== byDigest.value) {
        throw new PodnsError('EBADIMAGE', `${what}: the registry sent a manifest whose digest is ${digest}; refused`);
      }
      const dcd = header(res, 'docker-content-digest');
      if (dcd !== undefined && dcd.startsWith(`${algorithm}:`) && dcd !== digest) {
        throw new PodnsError('EBADIMAGE', `${what}: Docker-Content-Digest says ${dcd.slice(0, 80)} but the manifest hashes to ${digest}; refused`);
      }
      return { bytes, digest, contentType: (header(res, 'content-type') ?? '').split(';')[0]!.trim() };
    }, signal);
  }

  /**
   * A stream of a blob from OFFSET (Range); a registry that ignores Range (200) has the first OFFSET bytes skipped
   * here. Not retried: the content store's ingest is the unit that is retried (it resumes from its file).
   */
  async openBlob(repo: Repo, digest: string, offset: number, signal?: AbortSignal): Promise<Readable> {
    const what = `${repo.domain}/${repo.path}@${digest}`;
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.request(repo, `blobs/${parseDigest(digest).value}`, { method: 'GET', headers, ...(signal ? { signal } : {}) });
    return rangeBody(res, offset, what, async () => errorFromResponse(res, what, repo.domain, 'BLOB_UNKNOWN'));
  }

  /** A blob from a URL of a foreign / non-distributable layer (no registry credentials go there). */
  async openUrl(url: string, offset: number, signal?: AbortSignal): Promise<Readable> {
    const u = new URL(url);
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.transport.send(u, { method: 'GET', headers, ...(signal ? { signal } : {}) });
    return rangeBody(res, offset, u.host, async () => errorFromResponse(res, `layer URL ${u.host}${u.pathname.slice(0, 80)}`, u.host, 'BLOB_UNKNOWN'));
  }

  /** Asks a registry's /v2/ for its challenge, so that the first real request already carries a token. */
  async ping(domain: string, signal?: AbortSignal): Promise<void> {
    const base = await this.transport.base(domain, signal);
    await this.retry(domain, async () => {
      const res = await this.transport.send(new URL('/v2/', base), { method: 'GET', ...(signal ? { signal } : {}) });
      res.resume();
      if (res.statusCode === 401) this.auth.noteChallenge(domain, parseChallenges(res.headers['www-authenticate']));
      else if ((res.statusCode ?? 0) >= 500 || res.statusCode === 429) throw await errorFromResponse(res, domain, domain);
    }, signal);
  }
}

/** The body from OFFSET: checks 206's Content-Range, or skips OFFSET bytes of a 200. */
async function rangeBody(res: IncomingMessage, offset: number, what: string, error: () => Promise<Error>): Promise<Readable> {
  const status = res.statusCode ?? 0;
  if (status === 206 && offset > 0) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
    if (m === null || Number(m[1]) !== offset) {
      res.destroy();
      throw new PodnsError('ERANGE', `${what}: the server answered a range request from byte ${offset} with Content-Range "${(header(res, 'content-range') ?? '').slice(0, 60)}"`);
    }
    return res;
  }
  if (status === 416 && offset > 0) {
    res.resume();
    throw new PodnsError('ERANGE', `${what}: the server refused the range from byte ${offset} (416)`);
  }
  if (status !== 200) throw await error();
  if (offset === 0) return res;
  let skip = offset;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        cb();
        return;
      }
      const rest = chunk.subarray(skip);
      skip = 0;
      cb(null, rest);
    },
  });
  res.on('error', (e) => out.destroy(e));
  res.on('aborted', () => out.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
  out.on('close', () => res.destroy());
  return res.pipe(out);
}
