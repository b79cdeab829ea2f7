// Registry authorization: what goes in the Authorization header of a request for a repository scope.
// - Bearer (distribution's token flow): on a challenge, GET the realm with service and scope (Basic credentials
//   when podns has them, anonymous otherwise), or POST an OAuth2 refresh_token when the credentials are an identity
//   token. Tokens are cached per registry and scope until expires_in runs out.
// - Basic: the credentials themselves, on every request once the registry asked for them.
// The client re-authenticates once on a 401 (an expired or revoked token) before it gives up.
import type { Challenge } from './challenge.js';
import { findCredentials, type CredentialOptions, type Credentials } from './credentials.js';
import { readSmallBody, RegistryError, errorFromResponse } from './errors.js';
import type { Transport } from './transport.js';
import { PodnsError } from '../../errors.js';

/** The token spec's default lifetime when the server gives none. */
const DEFAULT_TOKEN_SECONDS = 60;
/** A token is renewed this long before the server says it expires. */
const EXPIRY_MARGIN_MS = 5_000;
const TOKEN_MAX = 16 * 1024;
const TOKEN_RESPONSE_MAX = 64 * 1024;

interface Token {
  header: string;
  expires: number;
}

export class Authorizer {
  private readonly tokens = new Map<string, Token>();
  /** what each registry asked for last: its challenge */
  private readonly challenges = new Map<string, Challenge>();
  private readonly creds = new Map<string, Promise<Credentials | undefined>>();
  private readonly inflight = new Map<string, Promise<Token>>();

  constructor(private readonly transport: Transport, private readonly o: CredentialOptions = {}) {}

  private credentials(domain: string, path: string): Promise<Credentials | undefined> {
    const key = `${domain}/${path}`;
    let c = this.creds.get(key);
    if (c === undefined) {
      c = findCredentials(domain, path, this.o);
      this.creds.set(key, c);
    }
    return c;
  }

  /** Remembers a registry's challenge (from its /v2/ answer or a 401) so the next request can authorize up front. */
  noteChallenge(domain: string, challenges: Challenge[]): Challenge | undefined {
    const ch = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (ch !== undefined) this.challenges.set(domain, ch);
    return ch;
  }

  /** The Authorization header for a request to PATH on DOMAIN with SCOPE, fetching a token when needed. */
  async header(domain: string, path: string, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const ch = this.challenges.get(domain);
    if (ch === undefined) return undefined;
    // a registry token given by the caller (CRI's AuthConfig.registry_token) goes as it is, whatever was asked
    if (this.o.credentials !== undefined && 'registryToken' in this.o.credentials) {
      const c = await this.credentials(domain, path);
      if (c?.registryToken !== undefined) return `Bearer ${c.registryToken}`;
    }
    if (ch.scheme === 'basic') {
      const c = await this.credentials(domain, path);
      if (c === undefined || c.username === '') {
        throw new RegistryError(`${domain}/${path}: ${domain} requires a login (Basic auth) and podns has no credentials for it; log in (docker login / podman login) or pass an auth file`, { status: 401, registryCode: 'UNAUTHORIZED' });
      }
      return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    const key = `${domain} ${scope}`;
    const t = this.tokens.get(key);
    if (t !== undefined && t.expires > Date.now()) return t.header;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.fetchToken(domain, path, scope, ch, signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const tok = await p;
    this.tokens.set(key, tok);
    return tok.header;
  }

  /** Forgets the cached token of a scope (after a 401 with it). */
  invalidate(domain: string, scope: string): void {
    this.tokens.delete(`${domain} ${scope}`);
  }

  private async fetchToken(domain: string, path: string, scope: string, ch: Challenge, signal?: AbortSignal): Promise<Token> {
    const what = `${domain}/${path}`;
    const realm = ch.params.realm;
    if (realm === undefined || realm === '') throw new RegistryError(`${what}: ${domain} asked for a Bearer token without a realm; the registry is misconfigured`, { status: 401 });
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${what}: the token realm "${realm.slice(0, 100)}" of ${domain} is not a URL`, { status: 401 });
    }
    this.transport.checkUrl(url, `${what}: token realm`);
    const c = await this.credentials(domain, path);
    const service = ch.params.service;
    let res;
    if (c?.identityToken !== undefined) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'podns', scope, ...(service !== undefined ? { service } : {}) });
      res = await this.transport.send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), ...(signal ? { signal } : {}) });
    } else {
      if (service !== undefined) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      const authorization = c !== undefined && c.username !== '' ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
      res = await this.transport.send(url, { method: 'GET', ...(authorization ? { authorization } : {}), ...(signal ? { signal } : {}) });
    }
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const err = await errorFromResponse(res, what, url.host);
      if (status === 401 || status === 403) {
        throw new RegistryError(c !== undefined
          ? `${what}: the token server ${url.host} refused the credentials from ${c.source} (HTTP ${status}); log in again`
          : `${what}: the token server ${url.host} refused an anonymous token (HTTP ${status}); log in (docker login / podman login)`,
        { status, registryCode: status === 401 ? 'UNAUTHORIZED' : 'DENIED' });
      }
      throw err;
    }
    const body = await readSmallBody(res, TOKEN_RESPONSE_MAX);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new RegistryError(`${what}: the token server ${url.host} answered something that is not JSON`, { status });
    }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '' || token.length > TOKEN_MAX || !/^[\x21-\x7e]+$/.test(token)) {
      throw new PodnsError('EREGISTRY', `${what}: the token server ${url.host} sent no usable token`);
    }
    const secs = typeof doc.expires_in === 'number' && Number.isFinite(doc.expires_in) && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
    return { header: `Bearer ${token}`, expires: Date.now() + Math.max(0, secs * 1000 - EXPIRY_MARGIN_MS) };
  }
}
