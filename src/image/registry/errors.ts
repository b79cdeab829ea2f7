// Registry errors (OCI distribution spec, "Error Codes") as one line each, naming the problem and the fix.
// The body of an error response is hostile too: read at most ERROR_BODY_MAX bytes, codes and messages trimmed.
import type { IncomingMessage } from 'node:http';
import { isErrno, PodnsError } from '../../errors.js';

const ERROR_BODY_MAX = 64 * 1024;

export class RegistryError extends PodnsError {
  /** HTTP status, 0 for a network error */
  readonly status: number;
  /** the registry's code (MANIFEST_UNKNOWN...) when it sent one */
  readonly registryCode: string | undefined;
  /** seconds the registry asked to wait (429 Retry-After) */
  readonly retryAfter: number | undefined;
  constructor(message: string, o: { status: number; registryCode?: string; retryAfter?: number; code?: string; cause?: unknown }) {
    super(o.code ?? 'EREGISTRY', message, o.cause !== undefined ? { cause: o.cause } : undefined);
    this.name = 'RegistryError';
    this.status = o.status;
    this.registryCode = o.registryCode;
    this.retryAfter = o.retryAfter;
  }
}

/** Reads at most ERROR_BODY_MAX bytes of a response body (error bodies, token responses). */
export async function readSmallBody(res: IncomingMessage, max = ERROR_BODY_MAX): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      res.destroy();
      throw new RegistryError(`the registry sent a response body of more than ${max} bytes where a small one was expected; refused`, { status: res.statusCode ?? 0 });
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), undefined when absent or unreadable. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d{1,9}$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

function clip(s: unknown, n = 200): string {
  const str = typeof s === 'string' ? s : '';
  // one line: control characters (a hostile registry's newlines, escapes) become spaces
  const flat = str.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n)}…` : flat;
}

/** What a code means and what to do, for the codes people meet. */
const HINTS: Record<string, (what: string, host: string) => string> = {
  MANIFEST_UNKNOWN: (what, host) => `${what}: not found on ${host} (MANIFEST_UNKNOWN); check the tag or digest`,
  NAME_UNKNOWN: (what, host) => `${what}: repository not found on ${host} (NAME_UNKNOWN); check the name, or log in if it is private`,
  BLOB_UNKNOWN: (what, host) => `${what}: blob not found on ${host} (BLOB_UNKNOWN); the image on the registry is incomplete`,
  UNAUTHORIZED: (what, host) => `${what}: ${host} requires authentication (UNAUTHORIZED); log in (docker login / podman login) or check the credentials in auth.json`,
  DENIED: (what, host) => `${what}: access denied by ${host} (DENIED); the credentials lack pull permission, or the repository is private`,
  TOOMANYREQUESTS: (what, host) => `${what}: ${host} is rate limiting (TOOMANYREQUESTS); wait and retry, or log in for a higher limit`,
  NAME_INVALID: (what, host) => `${what}: ${host} says the repository name is invalid (NAME_INVALID)`,
  MANIFEST_INVALID: (what, host) => `${what}: ${host} says the manifest is invalid (MANIFEST_INVALID)`,
  UNSUPPORTED: (what, host) => `${what}: ${host} does not support this operation (UNSUPPORTED)`,
};

const STATUS_CODES: Record<number, string> = { 401: 'UNAUTHORIZED', 403: 'DENIED', 429: 'TOOMANYREQUESTS' };

/** The RegistryError for a non-success response: reads the body's `errors` (bounded) and maps its first code. */
export async function errorFromResponse(res: IncomingMessage, what: string, host: string, notFoundCode = 'MANIFEST_UNKNOWN'): Promise<RegistryError> {
  const status = res.statusCode ?? 0;
  let body: Buffer = Buffer.alloc(0);
  try {
    body = await readSmallBody(res);
  } catch {
    // the status says enough
  }
  let code: string | undefined;
  let message = '';
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(doc.errors) ? doc.errors[0] : undefined;
    if (first !== undefined && typeof first.code === 'string' && /^[A-Z_]{1,64}$/.test(first.code)) code = first.code;
    message = clip(first?.message);
  } catch {
    // not JSON (a proxy's HTML page): status only
  }
  code ??= STATUS_CODES[status] ?? (status === 404 ? notFoundCode : undefined);
  const retryAfter = parseRetryAfter(header(res, 'retry-after'));
  const hint = code !== undefined ? HINTS[code] : undefined;
  let line: string;
  if (hint !== undefined) line = hint(what, host);
  else if (code !== undefined) line = `${what}: ${host} answered ${status} ${code}${message ? `: ${message}` : ''}`;
  else line = `${what}: ${host} answered HTTP ${status}${status >= 500 ? '; the registry has a problem, retry later' : ''}`;
  if (code === 'TOOMANYREQUESTS' && retryAfter !== undefined) line += ` (it asks to wait ${retryAfter} s)`;
  return new RegistryError(line, { status, ...(code !== undefined ? { registryCode: code } : {}), ...(retryAfter !== undefined ? { retryAfter } : {}) });
}

export function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const RETRY_ERRNO = ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ETRUNCATED', 'ERR_STREAM_PREMATURE_CLOSE'];

/** Worth another try: a network failure, a truncated body, 429, or a 5xx gateway hiccup. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RegistryError) {
    if (err.status === 0) return true;
    return err.status === 429 || err.status === 502 || err.status === 503 || err.status === 504 || err.status === 500;
  }
  return isErrno(err, ...RETRY_ERRNO) || (err instanceof Error && /socket hang up|aborted/i.test(err.message) && !(err instanceof PodnsError));
}
