// What /proc says about one process: its namespaces (by inode), its command, its parent.
// The views read the kernel, not podns's records: a record says which pid to look at, /proc says the truth.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { NsType } from '../../native/podns-native.js';
import { isErrno } from '../errors.js';
import { procStat } from '../pod/proc.js';

export const NS_TYPES: readonly NsType[] = ['net', 'ipc', 'uts', 'pid', 'mnt', 'cgroup', 'user', 'time'];

export interface NsIdent { ino: number; dev: number }
export type NsSet = Partial<Record<NsType, NsIdent>>;

function gone(err: unknown): boolean {
  // ESRCH/ENOENT: the process ended while we looked; EACCES: a kernel thread or a process we may not inspect.
  return isErrno(err, 'ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'EINVAL');
}

/** stat(2) of /proc/PID/ns/TYPE follows the magic link to the nsfs inode `readlink` prints as TYPE:[ino]. */
export function nsOf(pid: number | 'self', type: NsType): NsIdent | undefined {
  try {
    const st = statSync(`/proc/${pid}/ns/${type}`);
    return { ino: st.ino, dev: st.dev };
  } catch (err) {
    if (gone(err)) return undefined;
    throw err;
  }
}

/** Every namespace of a process; {} when it is gone. Types the kernel lacks (no time ns before 5.6) are left out. */
export function nsSetOf(pid: number | 'self'): NsSet {
  const out: NsSet = {};
  for (const t of NS_TYPES) {
    const id = nsOf(pid, t);
    if (id !== undefined) out[t] = id;
  }
  return out;
}

/** stat of a namespace file that is not under /proc (a pin): undefined when missing or not a mounted nsfs file. */
export function nsOfPath(path: string, nsfsDev: number): NsIdent | undefined {
  try {
    const st = statSync(path);
    // an unmounted pin is an empty file on the state fs: another device than nsfs
    return st.dev === nsfsDev ? { ino: st.ino, dev: st.dev } : undefined;
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

/** The nsfs device number (every namespace file shares it). */
export function nsfsDev(): number {
  return statSync('/proc/self/ns/net').dev;
}

export function sameNs(a: NsIdent | undefined, b: NsIdent | undefined): boolean {
  return a !== undefined && b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

/** comm (at most 15 characters), or undefined when gone. */
export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch (err) {
    if (gone(err)) return undefined;
    throw err;
  }
}

export function cmdlineOf(pid: number): string[] {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, a) => !(i === a.length - 1 && s === ''));
  } catch (err) {
    if (gone(err)) return [];
    throw err;
  }
}

export interface ProcEntry { pid: number; ppid: number; comm: string; mnt?: NsIdent; pidNs?: NsIdent; net?: NsIdent }

/** One pass over /proc: live processes (zombies left out) with the namespaces the views key on. */
export function scanProcesses(): ProcEntry[] {
  const out: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    const st = procStat(pid);
    if (st === undefined || st.state === 'Z' || st.state === 'X') continue;
    const mnt = nsOf(pid, 'mnt');
    if (mnt === undefined) continue; // kernel thread or gone
    out.push({ pid, ppid: st.ppid, comm: commOf(pid) ?? '?', mnt, pidNs: nsOf(pid, 'pid'), net: nsOf(pid, 'net') });
  }
  return out;
}
