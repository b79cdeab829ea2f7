// A container's settings: checked before anything is made, then kept in containers/C/config.json.
import { PodnsError } from '../errors.js';
import type { ContainerConfig, PodRecord } from '../pod/types.js';

export type RestartPolicy = 'Never' | 'OnFailure' | 'Always';
export const RESTART_POLICIES: readonly RestartPolicy[] = ['Never', 'OnFailure', 'Always'];

// Kubernetes' rule for env names before 1.30 (IsEnvVarName): no '=', no NUL, nothing a shell trips on.
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function validateEnv(env: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME.test(k)) {
      throw new PodnsError('EINVALIDENV', `invalid environment variable name "${k.slice(0, 80)}": use letters, digits, '_', '-', '.', not starting with a digit`);
    }
    if (typeof v !== 'string' || v.includes('\0')) {
      throw new PodnsError('EINVALIDENV', `invalid value for environment variable "${k}": it must be a string without NUL bytes`);
    }
  }
  return env;
}

export function validateRestartPolicy(p: string | undefined): RestartPolicy | undefined {
  if (p === undefined) return undefined;
  if (!(RESTART_POLICIES as readonly string[]).includes(p)) {
    throw new PodnsError('EUSAGE', `invalid restart policy "${p}": use Never, OnFailure or Always`);
  }
  return p as RestartPolicy;
}

function validId(what: 'uid' | 'gid', n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > 4294967294) {
    throw new PodnsError('EINVALIDUSER', `invalid ${what} ${n}: use a number from 0 to 4294967294`);
  }
  return n;
}

export function validateIds(uid: number | undefined, gid: number | undefined): { uid?: number; gid?: number } {
  const out: { uid?: number; gid?: number } = {};
  const u = validId('uid', uid);
  const g = validId('gid', gid);
  if (u !== undefined) out.uid = u;
  if (g !== undefined) out.gid = g;
  return out;
}

/** "UID" or "UID:GID" (numbers only: there is no passwd lookup in someone else's rootfs). */
export function parseUser(spec: string): { uid: number; gid?: number } {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(spec);
  if (!m) throw new PodnsError('EINVALIDUSER', `invalid --user "${spec}": write UID or UID:GID as numbers, e.g. --user 1000:1000`);
  const ids = validateIds(Number(m[1]), m[2] === undefined ? undefined : Number(m[2]));
  return { uid: ids.uid!, ...(ids.gid !== undefined ? { gid: ids.gid } : {}) };
}

export function validateWorkdir(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  if (!dir.startsWith('/') || dir.includes('\0')) {
    throw new PodnsError('EUSAGE', `invalid working directory "${dir}": give an absolute path such as /app`);
  }
  return dir;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment the workload (and every exec into it) starts with, as container runtimes set it:
 * PATH, HOSTNAME (the pod's, as Kubernetes sets it), HOME, then the image's and the user's variables.
 */
export function workloadEnv(config: ContainerConfig, rec: Pick<PodRecord, 'hostname'>): string[] {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOSTNAME: rec.hostname,
    HOME: config.uid === undefined || config.uid === 0 ? '/root' : '/',
    ...config.env,
  };
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** argv for display: words with spaces or quotes are quoted. */
export function commandText(argv: string[]): string {
  return argv.map((a) => (/^[-\w./:=@%+,]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}
