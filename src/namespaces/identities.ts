// Which namespaces a process is in, by the kernel's own identity: the (dev, ino) of the nsfs inode
// behind /proc/PID/ns/TYPE — what `readlink /proc/PID/ns/net` shows as net:[ino]. Two processes share a
// namespace exactly when both numbers are equal; names, pids and pin paths are only ways to reach one.
import { existsSync } from 'node:fs';
import { errnoError, isErrno } from '../errors.js';
import { native, type NsId, type NsType } from '../native/index.js';

/** Every namespace type the kernel lists under /proc/PID/ns (the pid_for_children/time_for_children
 * links are not identities of the process itself). */
export const NS_TYPES: readonly NsType[] = Object.freeze(['net', 'ipc', 'uts', 'pid', 'mnt', 'cgroup', 'user', 'time']);

export type NsIdentities = Record<NsType, NsId | null>;

function checkPid(pid: number | 'self'): void {
  if (pid !== 'self' && !(Number.isSafeInteger(pid) && pid > 0)) {
    throw new TypeError(`pid must be a positive integer or 'self', got ${String(pid)}`);
  }
}

/**
 * The namespaces of a process; null for a type this kernel does not have (ENOENT, e.g. time before 5.6).
 * A process that does not exist (or exits while being read) is an ESRCH error, not a record of nulls.
 */
export function nsIdentities(pid: number | 'self'): NsIdentities {
  checkPid(pid);
  const out = {} as NsIdentities;
  let missing = false;
  for (const type of NS_TYPES) {
    try {
      out[type] = native.nsId(pid, type);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      out[type] = null;
      missing = true;
    }
  }
  // ENOENT is also what /proc says for a process that is gone (or a zombie without namespaces).
  if (missing && pid !== 'self' && (!existsSync(`/proc/${pid}`) || NS_TYPES.every((t) => out[t] === null))) {
    throw errnoError('ESRCH', 'nsIdentities', `process ${pid} does not exist`, `/proc/${pid}/ns`);
  }
  return out;
}

/** True when both are known and name the same namespace. */
export function sameNamespace(a: NsId | null | undefined, b: NsId | null | undefined): boolean {
  return a != null && b != null && a.ino === b.ino && a.dev === b.dev;
}

/** 'net:[4026531840]' — the form readlink shows, for messages and logs. */
export function formatNsId(type: NsType, id: NsId | null): string {
  return id === null ? `${type}:[none]` : `${type}:[${id.ino}]`;
}
