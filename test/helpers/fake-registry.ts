// A small OCI distribution server in Node for the faults the real registry cannot be made to show: a token server
// whose tokens expire, 429 with Retry-After, blob redirects to another host, corrupted blobs, a connection killed
// mid-blob (then Range), manifests with a lying Content-Type. It records every request (method, path, headers).
// Loopback only.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { MediaType } from '../../src/image/oci.js';

export const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeOptions {
  /** bind address (another loopback address makes "another host") */
  address?: string;
  /** 'bearer': /v2/ needs a token from /token; 'basic': /v2/ needs USERS' credentials */
  auth?: 'bearer' | 'basic';
  /** user → password; with 'bearer', the token endpoint then requires them */
  users?: Record<string, string>;
  /** how long the server accepts a token it issued (the client is told expires_in 300) */
  tokenTtlMs?: number;
}

export interface Faults {
  /** the next N requests under /v2/NAME get 429 with this Retry-After */
  tooMany?: { count: number; retryAfter: string };
  /** blob GETs answer 307 to this base URL + /storage/DIGEST */
  redirectBlobsTo?: string;
  /** these blobs are served with one byte flipped */
  corrupt?: Set<string>;
  /** the first GET of each of these blobs is cut (socket destroyed) after N bytes */
  killAfter?: Map<string, number>;
  /** answer Range requests with 200 and the whole blob */
  ignoreRange?: boolean;
  /** blobs the registry pretends not to have (404 BLOB_UNKNOWN) */
  missingBlobs?: Set<string>;
  /** manifests are served with this Content-Type instead of their own */
  contentType?: string;
}

export class FakeRegistry {
  readonly manifests = new Map<string, { body: Buffer; mediaType: string }>(); // "path:ref" → manifest
  readonly blobs = new Map<string, Buffer>();
  readonly requests: Recorded[] = [];
  readonly tokens = new Map<string, number>(); // token → issued at
  faults: Faults = {};
  private server: Server | undefined;
  host = '';

  constructor(readonly o: FakeOptions = {}) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => this.handle(req.method ?? 'GET', req.url ?? '/', req.headers, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, this.o.address ?? '127.0.0.1', resolve));
    const a = server.address() as AddressInfo;
    this.host = `${a.address}:${a.port}`;
    return this.host;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  /** Adds an image: gzip layers of the given tar-ish contents, a config (diff_ids right unless given). */
  addImage(path: string, tag: string, o: { layers?: Buffer[]; diffIds?: string[]; mediaType?: string; layerMediaType?: string; urls?: string[]; nonDistributable?: boolean } = {}): { manifestDigest: string; configDigest: string; layers: Array<{ digest: string; blob: Buffer; diffId: string }> } {
    const raw = o.layers ?? [randomBytes(300_000)];
    const layers = raw.map((r) => {
      const blob = gzipSync(r, { level: 1 });
      this.blobs.set(sha(blob), blob);
      return { digest: sha(blob), blob, diffId: sha(r) };
    });
    const config = Buffer.from(JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
      config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: o.diffIds ?? layers.map((l) => l.diffId) },
    }));
    this.blobs.set(sha(config), config);
    const mediaType = o.mediaType ?? MediaType.ociManifest;
    const docker = mediaType === MediaType.dockerManifest;
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType,
      config: { mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig, digest: sha(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: o.layerMediaType ?? (o.nonDistributable ? MediaType.ociLayerNonDistributableGzip : docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip),
        digest: l.digest, size: l.blob.length, ...(o.urls ? { urls: o.urls.map((u) => `${u}/storage/${l.digest}`) } : {}),
      })),
    }));
    this.putManifest(path, tag, manifest, mediaType);
    return { manifestDigest: sha(manifest), configDigest: sha(config), layers };
  }

  /** Every token issued so far is refused from now on (as if it had expired). */
  expireTokens(): void {
    for (const k of this.tokens.keys()) this.tokens.set(k, -Infinity);
  }

  putManifest(path: string, tag: string, body: Buffer, mediaType: string): void {
    this.manifests.set(`${path}:${tag}`, { body, mediaType });
    this.manifests.set(`${path}:${sha(body)}`, { body, mediaType });
  }

  /** Requests of one kind, e.g. count('GET', /blobs\//). */
  count(method: string, re: RegExp): number {
    return this.requests.filter((r) => r.method === method && re.test(r.path)).length;
  }

  private error(res: ServerResponse, status: number, code: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace(/_/g, ' '), detail: null }] }));
  }

  private handle(method: string, url: string, headers: IncomingHttpHeaders, res: ServerResponse): void {
    const u = new URL(url, 'http://x');
    this.requests.push({ method, path: u.pathname + u.search, headers });
    if (u.pathname === '/token') return this.token(u, headers, res);
    const storage = /^\/storage\/(sha256:[a-f0-9]{64})$/.exec(u.pathname);
    if (storage !== null) return this.sendBlob(storage[1]!, headers, res, method);
    if (!u.pathname.startsWith('/v2/')) return this.error(res, 404, 'NOT_FOUND');
    if (this.o.auth !== undefined && !this.authorized(headers)) {
      const challenge = this.o.auth === 'bearer'
        ? `Bearer realm="http://${this.host}/token",service="fake-registry"`
        : 'Basic realm="fake"';
      return this.error(res, 401, 'UNAUTHORIZED', { 'www-authenticate': challenge });
    }
    if (u.pathname === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const tm = this.faults.tooMany;
    if (tm !== undefined && tm.count > 0) {
      tm.count--;
      return this.error(res, 429, 'TOOMANYREQUESTS', { 'retry-after': tm.retryAfter });
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(u.pathname);
    if (m === null) return this.error(res, 404, 'NOT_FOUND');
    const [, path, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const man = this.manifests.get(`${path}:${ref}`);
      if (man === undefined) return this.error(res, 404, 'MANIFEST_UNKNOWN');
      res.writeHead(200, { 'content-type': this.faults.contentType ?? man.mediaType, 'content-length': man.body.length, 'docker-content-digest': sha(man.body) });
      res.end(method === 'HEAD' ? undefined : man.body);
      return;
    }
    if (this.faults.missingBlobs?.has(ref) || !this.blobs.has(ref)) return this.error(res, 404, 'BLOB_UNKNOWN');
    if (this.faults.redirectBlobsTo !== undefined) {
      res.writeHead(307, { location: `${this.faults.redirectBlobsTo}/storage/${ref}` });
      res.end();
      return;
    }
    this.sendBlob(ref, headers, res, method);
  }

  private sendBlob(digest: string, headers: IncomingHttpHeaders, res: ServerResponse, method: string): void {
    let blob = this.blobs.get(digest);
    if (blob === undefined) return this.error(res, 404, 'BLOB_UNKNOWN');
    if (this.faults.corrupt?.has(digest)) {
      blob = Buffer.from(blob);
      blob[Math.floor(blob.length / 2)]! ^= 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(String(headers.range ?? ''));
    if (range !== null && !this.faults.ignoreRange) start = Number(range[1]);
    const body = blob.subarray(start);
    const partial = start > 0;
    res.writeHead(partial ? 206 : 200, {
      'content-type': 'application/octet-stream', 'content-length': body.length,
      ...(partial ? { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
    });
    if (method === 'HEAD') return void res.end();
    const kill = this.faults.killAfter?.get(digest);
    if (kill !== undefined) {
      this.faults.killAfter!.delete(digest);
      res.write(body.subarray(0, kill), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }

  private basicOk(headers: IncomingHttpHeaders): boolean {
    const m = /^Basic (.+)$/.exec(String(headers.authorization ?? ''));
    if (m === null) return false;
    const [user, ...rest] = Buffer.from(m[1]!, 'base64').toString().split(':');
    return this.o.users?.[user!] === rest.join(':');
  }

  private authorized(headers: IncomingHttpHeaders): boolean {
    if (this.o.auth === 'basic') return this.basicOk(headers);
    const m = /^Bearer (.+)$/.exec(String(headers.authorization ?? ''));
    if (m === null) return false;
    const issued = this.tokens.get(m[1]!);
    return issued !== undefined && Date.now() - issued < (this.o.tokenTtlMs ?? 3_600_000);
  }

  private token(u: URL, headers: IncomingHttpHeaders, res: ServerResponse): void {
    if (this.o.users !== undefined && !this.basicOk(headers)) return this.error(res, 401, 'UNAUTHORIZED');
    if (u.searchParams.get('service') !== 'fake-registry' || !/^repository:.+:pull$/.test(u.searchParams.get('scope') ?? '')) {
      return this.error(res, 400, 'BAD_REQUEST');
    }
    const token = randomBytes(16).toString('hex');
    this.tokens.set(token, Date.now());
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  }
}
