// HTTP(S) to registries on node:http/https, with the rules that make it safe:
// - HTTPS by default. Plain HTTP only to a loopback address or a registry the user named insecure; to those,
//   HTTPS is tried first and HTTP is the fallback when the port does not speak TLS (docker's behaviour).
// - Per-registry CAs: every *.crt in certs.d/HOST[:PORT]/ under each certificate directory is trusted, added to the
//   system roots; HOST.cert + HOST.key there is a client certificate (docker's and containers' layout).
//   A registry named insecure is also not TLS-verified.
// - Redirects are followed (blob downloads go to storage hosts), and Authorization goes only to the origin that
//   the caller addressed: a redirect to another scheme, host or port never receives it. Every hop obeys the
//   HTTP rule above.
// - Timeouts: a socket idle for timeoutMs (connect, headers, or mid-body) fails with ETIMEDOUT.
import { readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { errnoError, PodnsError } from '../../errors.js';
import { DEFAULT_DOMAIN } from '../reference.js';

/** Where per-registry CA directories are looked for, in order (the first has podns's own). */
export const CERT_DIRS: readonly string[] = ['/etc/podns/certs.d', '/etc/containers/certs.d', '/etc/docker/certs.d'];
/** Docker Hub's registry endpoint: references say docker.io, the API lives here. */
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';
export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 10;

export interface TransportOptions {
  /** registries (host[:port]) that may use plain HTTP or unverified TLS */
  insecureRegistries?: readonly string[];
  /** replaces CERT_DIRS (tests point it at their own) */
  certDirs?: readonly string[];
  /** idle timeout of a request's socket */
  timeoutMs?: number;
}

export interface SendOptions {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: OutgoingHttpHeaders;
  /** sent only to URL's own origin, never across a redirect to another one */
  authorization?: string;
  body?: string;
  signal?: AbortSignal;
}

/** localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** The host[:port] that a reference's domain is served from. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_ENDPOINT : domain;
}

const SAFE_HOST = /^[A-Za-z0-9.\-[\]:]{1,260}$/;

export class Transport {
  private readonly insecure: Set<string>;
  private readonly certDirs: readonly string[];
  readonly timeoutMs: number;
  private readonly agents = new Map<string, http.Agent>();
  private readonly schemes = new Map<string, Promise<'https' | 'http'>>();

  constructor(o: TransportOptions = {}) {
    this.insecure = new Set((o.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.certDirs = o.certDirs ?? CERT_DIRS;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** HOST (host[:port] as in a URL) was named insecure (with or without its port). */
  isInsecure(host: string): boolean {
    const h = host.toLowerCase();
    return this.insecure.has(h) || this.insecure.has(h.replace(/:\d+$/, ''));
  }

  /** Plain HTTP is allowed to this host. */
  httpAllowed(url: URL): boolean {
    return isLoopbackHost(url.hostname) || this.isInsecure(url.host);
  }

  /** Refuses a URL podns must not talk to (plain HTTP to a remote host, another scheme). */
  checkUrl(url: URL, what: string): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.httpAllowed(url)) return;
    if (url.protocol === 'http:') {
      throw new PodnsError('EINSECURE', `${what}: ${url.host} is plain HTTP; podns uses HTTP only for loopback or a registry named with --insecure-registry ${url.host}`);
    }
    throw new PodnsError('EINSECURE', `${what}: ${url.protocol.slice(0, 20)} URLs are not allowed`);
  }

  /** The base URL of a registry ("https://host:port"), probing TLS once for hosts that may use HTTP. */
  async base(domain: string, signal?: AbortSignal): Promise<URL> {
    const host = registryHost(domain);
    if (!SAFE_HOST.test(host)) throw new PodnsError('EINVALIDREF', `registry host "${host.slice(0, 80)}" is not valid`);
    const httpsUrl = new URL(`https://${host}`);
    if (!this.httpAllowed(httpsUrl)) return httpsUrl;
    let scheme = this.schemes.get(host);
    if (scheme === undefined) {
      scheme = this.probe(httpsUrl, signal);
      this.schemes.set(host, scheme);
      scheme.catch(() => this.schemes.delete(host));
    }
    return new URL(`${await scheme}://${host}`);
  }

  private async probe(httpsUrl: URL, signal?: AbortSignal): Promise<'https' | 'http'> {
    try {
      const res = await this.once(new URL('/v2/', httpsUrl), { method: 'GET', ...(signal ? { signal } : {}) });
      res.resume();
      return 'https';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || /wrong version number|packet length too long/i.test((err as Error).message)) return 'http';
      throw err;
    }
  }

  /** One request, redirects followed; the caller reads or drains the response. */
  async send(url: URL, o: SendOptions = {}): Promise<IncomingMessage> {
    const origin = url.origin;
    let u = url;
    let method = o.method ?? 'GET';
    for (let hop = 0; ; hop++) {
      this.checkUrl(u, hop === 0 ? 'request' : 'redirect');
      const headers: OutgoingHttpHeaders = { ...o.headers };
      if (o.authorization !== undefined && u.origin === origin) headers.authorization = o.authorization;
      const res = await this.once(u, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}), ...(o.signal ? { signal: o.signal } : {}) });
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(status) || location === undefined) return res;
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new PodnsError('EREGISTRY', `${url.host}: more than ${MAX_REDIRECTS} redirects; the registry is misconfigured`);
      try {
        u = new URL(location, u);
      } catch {
        throw new PodnsError('EREGISTRY', `${u.host} redirected to an invalid URL`);
      }
      if (status === 303) method = 'GET';
    }
  }

  private agent(url: URL): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let a = this.agents.get(key);
    if (a !== undefined) return a;
    if (url.protocol === 'http:') {
      a = new http.Agent({ keepAlive: true, maxSockets: 16 });
    } else {
      const tls = this.tlsFor(url.host);
      a = new https.Agent({ keepAlive: true, maxSockets: 16, ...tls });
    }
    this.agents.set(key, a);
    return a;
  }

  /** CA and client certificate of HOST from the certificate directories. */
  private tlsFor(host: string): https.AgentOptions {
    const out: https.AgentOptions = {};
    if (this.isInsecure(host)) out.rejectUnauthorized = false;
    if (!SAFE_HOST.test(host) || host.includes('..')) return out;
    const cas: string[] = [];
    for (const base of this.certDirs) {
      const dir = join(base, host);
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const n of names) {
        if (n.endsWith('.crt')) cas.push(readFileSync(join(dir, n), 'utf8'));
        if (n.endsWith('.cert') && out.cert === undefined) {
          const key = join(dir, `${n.slice(0, -'.cert'.length)}.key`);
          try {
            out.key = readFileSync(key);
            out.cert = readFileSync(join(dir, n));
          } catch {
            throw new PodnsError('ETLS', `${join(dir, n)} has no matching .key file; add it or remove the .cert`);
          }
        }
      }
    }
    if (cas.length > 0) out.ca = [...rootCertificates, ...cas];
    return out;
  }

  private once(url: URL, o: { method: string; headers?: OutgoingHttpHeaders; body?: string; signal?: AbortSignal }): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'http:' ? http : https;
      const req = mod.request(url, {
        method: o.method,
        headers: { 'user-agent': 'podns', ...o.headers },
        agent: this.agent(url),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(errnoError('ETIMEDOUT', 'request', `no data for ${this.timeoutMs / 1000} s`, url.host));
      });
      req.on('error', (err) => reject(tlsHint(err, url)));
      // An abort after the response began destroys the socket with the AbortError while Node's http client no
      // longer listens on it: without a listener that is an uncaught exception (the whole process, a CRI server
      // too). The request and its body stream still see the error through their own listeners.
      req.on('socket', (s) => {
        if (guardedSockets.has(s)) return;
        guardedSockets.add(s);
        s.on('error', () => {});
      });
      req.on('response', (res) => {
        // the socket timeout keeps running while the body is read; a stall mid-body fails the stream
        resolve(res);
      });
      req.end(o.body);
    });
  }

  /** Drops idle keep-alive sockets (end of a pull). */
  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

/** Sockets that have the listener of once() (keep-alive sockets serve many requests: one listener each). */
const guardedSockets = new WeakSet<object>();

/** Certificate errors get the fix in their line. */
function tlsHint(err: Error, url: URL): Error {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    return new PodnsError('ETLS', `${url.host}: TLS certificate not trusted (${code}); put its CA in /etc/podns/certs.d/${url.host}/ca.crt, or name it with --insecure-registry`, { cause: err });
  }
  return err;
}
