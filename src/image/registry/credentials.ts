// Registry credentials, found where docker and podman keep them:
//   1. the auth file given by the caller (--authfile), else REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json
//      (containers-auth.json(5): keys are a host or host/namespace/repo, the most specific wins);
//   2. $DOCKER_CONFIG/config.json, else ~/.docker/config.json (auths, credHelpers per host, credsStore for all).
// In each file a credential helper named for the host wins over an `auths` entry (docker's order). A helper is run
// as `docker-credential-NAME get` with argv only, the server URL on stdin, its JSON answer on stdout.
// Nothing is cached here: the client asks once per registry per pull.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PodnsError } from '../../errors.js';
import { DEFAULT_DOMAIN } from '../reference.js';

export interface Credentials {
  username: string;
  password: string;
  /** an OAuth2 refresh token (docker's identitytoken): the token flow uses it instead of the password */
  identityToken?: string;
  /** a bearer token to send as it is (explicit credentials only) */
  registryToken?: string;
  /** where it came from, for error lines (a file, or docker-credential-NAME) */
  source: string;
}

const TOKEN_RE = /^[\x21-\x7e]{1,16384}$/;
const EXPLICIT = 'the credentials given to the pull';

/** Explicit credentials as the client uses them; a usage error for an empty or unusable one. */
export function explicitCredentials(c: ExplicitCredentials): Credentials {
  const bad = (why: string): PodnsError => new PodnsError('EUSAGE', `registry credentials: ${why}`);
  if (typeof c !== 'object' || c === null) throw bad('expected username and password, an identity token or a registry token');
  if ('registryToken' in c) {
    if (typeof c.registryToken !== 'string' || !TOKEN_RE.test(c.registryToken)) throw bad('the registry token must be 1-16384 printable ASCII characters without spaces');
    return { username: '', password: '', registryToken: c.registryToken, source: EXPLICIT };
  }
  if ('identityToken' in c) {
    if (typeof c.identityToken !== 'string' || !TOKEN_RE.test(c.identityToken)) throw bad('the identity token must be 1-16384 printable ASCII characters without spaces');
    return { username: '', password: '', identityToken: c.identityToken, source: EXPLICIT };
  }
  if (typeof c.username !== 'string' || typeof c.password !== 'string' || c.username === '') throw bad('a username (not empty) and a password are needed');
  if (/[\0\r\n:]/.test(c.username) || /[\0\r\n]/.test(c.password)) throw bad('the username or password contains a control character or the username a ":"');
  return { username: c.username, password: c.password, source: EXPLICIT };
}

/** Credentials given by the caller (CRI PullImage's AuthConfig, a library user): they replace the auth files. */
export type ExplicitCredentials =
  | { username: string; password: string }
  /** an OAuth2 refresh token for the registry's token server (docker's identitytoken) */
  | { identityToken: string }
  /** a bearer token sent to the registry as it is */
  | { registryToken: string };

export interface CredentialOptions {
  /** explicit credentials: used for every registry of the pull, no auth file is read */
  credentials?: ExplicitCredentials;
  /** an auth file that replaces the default search (podman's --authfile) */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
  /** seconds a credential helper may take */
  helperTimeoutMs?: number;
}

/** docker login writes Docker Hub's entry under this legacy key. */
const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HELPER_OUTPUT_MAX = 64 * 1024;

interface AuthFile {
  auths?: Record<string, { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown }>;
  credHelpers?: Record<string, unknown>;
  credsStore?: unknown;
}

function readAuthFile(file: string, required: boolean): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PodnsError('EAUTHFILE', `cannot read the auth file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as AuthFile;
  } catch (err) {
    throw new PodnsError('EAUTHFILE', `the auth file ${file} is not valid JSON (${(err as Error).message.split('\n')[0]}); fix or remove it`);
  }
}

/** "https://host:port/v1/" or "host:port/ns" → "host:port" and the path after it. */
function splitKey(key: string): { host: string; path: string } {
  const k = key.replace(/^https?:\/\//, '');
  const slash = k.indexOf('/');
  return slash < 0 ? { host: k, path: '' } : { host: k.slice(0, slash), path: k.slice(slash + 1).replace(/\/+$/, '') };
}

function hostMatches(keyHost: string, domain: string): boolean {
  if (domain === DEFAULT_DOMAIN) return DOCKER_HUB_KEYS.some((k) => splitKey(k).host === keyHost);
  return keyHost === domain;
}

function decodeEntry(e: NonNullable<AuthFile['auths']>[string], source: string, key: string): Credentials | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  let username = typeof e.username === 'string' ? e.username : '';
  let password = typeof e.password === 'string' ? e.password : '';
  if (typeof e.auth === 'string' && e.auth !== '') {
    const dec = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = dec.indexOf(':');
    if (colon < 0) throw new PodnsError('EAUTHFILE', `${source}: the "auth" of "${key.slice(0, 80)}" is not base64 of user:password; log in again`);
    username = dec.slice(0, colon);
    password = dec.slice(colon + 1);
  }
  const identityToken = typeof e.identitytoken === 'string' && e.identitytoken !== '' ? e.identitytoken : undefined;
  if (username === '' && password === '' && identityToken === undefined) return undefined;
  return { username, password, ...(identityToken !== undefined ? { identityToken } : {}), source };
}

/** The entry of `auths` for DOMAIN/PATH: the longest matching host/namespace key. */
function fromAuths(file: AuthFile, domain: string, path: string, source: string): Credentials | undefined {
  let best: { len: number; key: string } | undefined;
  for (const key of Object.keys(file.auths ?? {})) {
    const k = splitKey(key);
    if (!hostMatches(k.host, domain)) continue;
    // a Docker Hub legacy key has the path "v1": it is a host-wide entry
    const kp = k.path === 'v1' ? '' : k.path;
    if (kp !== '' && path !== kp && !path.startsWith(`${kp}/`)) continue;
    if (best === undefined || kp.length > best.len) best = { len: kp.length, key };
  }
  return best === undefined ? undefined : decodeEntry(file.auths![best.key]!, source, best.key);
}

function helperFor(file: AuthFile, domain: string): string | undefined {
  for (const [key, name] of Object.entries(file.credHelpers ?? {})) {
    if (typeof name === 'string' && hostMatches(splitKey(key).host, domain)) return name;
  }
  return typeof file.credsStore === 'string' && file.credsStore !== '' ? file.credsStore : undefined;
}

/** Runs `docker-credential-NAME get`; undefined when the helper has no entry for the server. */
export async function runCredentialHelper(name: string, serverUrl: string, o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Credentials | undefined> {
  if (!HELPER_NAME.test(name)) throw new PodnsError('EAUTHFILE', `credential helper name "${name.slice(0, 80)}" is not valid (letters, digits, '.', '_', '-')`);
  const prog = `docker-credential-${name}`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(prog, ['get'], { env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], timeout: o.timeoutMs ?? 30_000 });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (out.length < HELPER_OUTPUT_MAX) out += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (err.length < 4096) err += s;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new PodnsError('EAUTHFILE', e.code === 'ENOENT'
        ? `credential helper ${prog} is configured but not installed (not on PATH); install it or remove it from the docker config`
        : `credential helper ${prog}: ${e.message}`));
    });
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.on('error', () => {});
    child.stdin.end(serverUrl);
  });
  if (code !== 0) {
    const msg = (stdout + stderr).trim();
    if (/credentials not found/i.test(msg)) return undefined;
    throw new PodnsError('EAUTHFILE', `credential helper ${prog} failed (exit ${code}): ${msg.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    throw new PodnsError('EAUTHFILE', `credential helper ${prog} printed something that is not JSON`);
  }
  if (typeof doc.Username !== 'string' || typeof doc.Secret !== 'string') {
    throw new PodnsError('EAUTHFILE', `credential helper ${prog} printed no Username/Secret strings`);
  }
  // docker's convention: the user "<token>" means the secret is an identity (refresh) token
  if (doc.Username === '<token>') return { username: '', password: '', identityToken: doc.Secret, source: prog };
  return { username: doc.Username, password: doc.Secret, source: prog };
}

/** The auth files to look in, in order. */
export function authFiles(o: CredentialOptions = {}): Array<{ file: string; required: boolean; kind: 'containers' | 'docker' }> {
  const env = o.env ?? process.env;
  if (o.authFile !== undefined) return [{ file: o.authFile, required: true, kind: 'containers' }];
  const out: Array<{ file: string; required: boolean; kind: 'containers' | 'docker' }> = [];
  if (env.REGISTRY_AUTH_FILE) out.push({ file: env.REGISTRY_AUTH_FILE, required: true, kind: 'containers' });
  else if (env.XDG_RUNTIME_DIR) out.push({ file: join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'), required: false, kind: 'containers' });
  const dockerDir = env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker');
  out.push({ file: join(dockerDir, 'config.json'), required: false, kind: 'docker' });
  return out;
}

/** Credentials for a repository (DOMAIN as in a reference: "docker.io", "localhost:5000"), or undefined. */
export async function findCredentials(domain: string, path: string, o: CredentialOptions = {}): Promise<Credentials | undefined> {
  if (o.credentials !== undefined) return explicitCredentials(o.credentials);
  for (const { file, required } of authFiles(o)) {
    const doc = readAuthFile(file, required);
    if (doc === undefined) continue;
    const helper = helperFor(doc, domain);
    if (helper !== undefined) {
      const serverUrl = domain === DEFAULT_DOMAIN ? DOCKER_HUB_KEYS[0]! : domain;
      const c = await runCredentialHelper(helper, serverUrl, { ...(o.env !== undefined ? { env: o.env } : {}), ...(o.helperTimeoutMs !== undefined ? { timeoutMs: o.helperTimeoutMs } : {}) });
      if (c !== undefined) return c;
    }
    const c = fromAuths(doc, domain, path, file);
    if (c !== undefined) return c;
  }
  return undefined;
}
