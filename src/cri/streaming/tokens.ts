// Single-use tokens for the streaming server's URLs: the CRI's Exec/Attach/PortForward RPC stores its
// request under a new token and answers a URL naming it; the HTTP request that comes with the token takes
// the request out (once). Tokens live one minute, as kubelet's; an unknown, used or expired token is
// not found. In-flight tokens are capped so that a client calling the RPC in a loop cannot grow the map
// (kubelet's request cache is bounded too); the RPC answers RESOURCE_EXHAUSTED then (src/cri/streams.ts).
import { randomBytes } from 'node:crypto';

export const TOKEN_TTL_MS = 60_000;
export const MAX_TOKENS = 4096;

export class TokenCacheFullError extends Error {}

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(private readonly ttlMs = TOKEN_TTL_MS, private readonly now: () => number = Date.now) {}

  /** A new token for value (24 url-safe characters: 144 random bits). */
  put(value: T): string {
    this.sweep();
    if (this.entries.size >= MAX_TOKENS) throw new TokenCacheFullError(`${MAX_TOKENS} streaming requests are waiting for their client; try again within a minute`);
    const token = randomBytes(18).toString('base64url');
    this.entries.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The value of a live token, which is used up by this; undefined when unknown, used or expired. */
  take(token: string): T | undefined {
    const e = this.entries.get(token);
    if (e === undefined) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  /** The token is live (not used up by this). */
  has(token: string): boolean {
    const e = this.entries.get(token);
    return e !== undefined && e.expires > this.now();
  }

  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, e] of this.entries) if (e.expires <= t) this.entries.delete(k);
  }
}
