// Processes as /proc shows them: liveness with a pid-reuse guard, signalling through a pidfd, and the
// scan that finds pause processes gc must judge.
import { closeSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { constants } from 'node:os';
import { isErrno } from '../errors.js';
import { native, pausePath } from '../native/index.js';
import { BoundedSet } from '../util/bounded-set.js';

/** cpuTicks: utime+stime+cutime+cstime (fields 14-17), in clock ticks */
export interface ProcStat { state: string; ppid: number; startTime: number; cpuTicks: number }

/** /proc/PID/stat, or undefined when there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return undefined;
    throw err;
  }
  // comm (field 2) may contain spaces and ')': the fields after it start after the LAST ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime..cstime are fields 14-17 → f[11..14]; starttime is field 22 → f[19]
  return { state: f[0]!, ppid: Number(f[1]), startTime: Number(f[19]), cpuTicks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
}

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; (pid, startTime) names one process. */
export function startTimeOf(pid: number): number | undefined {
  return procStat(pid)?.startTime;
}

// Processes this process has seen end (pid + start time: one process, for good), so that a later look at
// the same record (a pod's pause after StopPodSandbox killed it, at RemovePodSandbox or ListPodSandbox)
// needs no /proc read. Bounded: the oldest are forgotten first (they are then read from /proc again).
const ended = new BoundedSet<string>(4096);

function endedKey(pid: number, startTime: number): string {
  return `${pid}:${startTime}`;
}

/** Records that the process (pid, startTime) has exited (its pidfd said so). */
export function noteEnded(p: ProcRef): void {
  ended.add(endedKey(p.pid, p.startTime));
}

/** Alive (not a zombie), and when startTime is given, the same process that was recorded. */
export function processAlive(pid: number | undefined, startTime?: number): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  if (startTime !== undefined && ended.has(endedKey(pid, startTime))) return false;
  const st = procStat(pid);
  if (st === undefined || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

export interface ProcRef { pid: number; startTime: number }

/**
 * A pidfd for exactly this process: the start time is checked once it is open (the pidfd then names the
 * process checked, whatever becomes of the pid), so a recycled pid is never the one signalled. undefined
 * when the process is already gone.
 */
export function openVerifiedPidfd(p: ProcRef): number | undefined {
  if (!Number.isInteger(p.pid) || p.pid <= 0 || ended.has(endedKey(p.pid, p.startTime))) return undefined;
  let fd: number;
  try {
    fd = native.pidfdOpen(p.pid);
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENOENT')) return undefined;
    throw err;
  }
  if (processAlive(p.pid, p.startTime)) return fd;
  closeSync(fd);
  return undefined;
}

/**
 * Resolves true once the process of pidfd has exited, false after ms. The event loop watches the pidfd
 * (it polls readable once the process is gone, also one that is not our child): no /proc polling, and
 * the wake-up comes the moment it exits.
 */
export function waitExit(pidfd: number, ms: number): Promise<boolean> {
  return native.pidfdWait(pidfd, Math.max(0, Math.min(Math.ceil(ms), 0x7fffffff)));
}

/** How long a SIGKILLed process may take to be gone (a pid namespace's init waits for all inside). */
export const KILL_WAIT_MS = 5000;

/**
 * SIGTERM, then SIGKILL after graceSec, then wait until it is gone. Signals go through a pidfd opened
 * first and then checked against the start time, so a recycled pid is never signalled; the waits are on
 * the same pidfd (waitExit). Returns false when the process was already gone.
 */
export async function terminate(p: ProcRef, graceSec: number): Promise<boolean> {
  const fd = openVerifiedPidfd(p);
  if (fd === undefined) return false;
  try {
    const send = (sig: number): boolean => {
      try {
        native.pidfdSendSignal(fd, sig);
        return true;
      } catch (err) {
        if (isErrno(err, 'ESRCH')) return false;
        throw err;
      }
    };
    if (graceSec > 0) {
      if (!send(constants.signals.SIGTERM)) return true;
      if (await waitExit(fd, graceSec * 1000)) {
        noteEnded(p);
        return true;
      }
    }
    if (!send(constants.signals.SIGKILL)) return true;
    // SIGKILL cannot be caught; the process is gone (a zombie at most) within moments.
    if (await waitExit(fd, KILL_WAIT_MS)) noteEnded(p);
    return true;
  } finally {
    closeSync(fd);
  }
}

/** SIGKILL without waiting (used under the lock by gc). */
export function killNow(p: ProcRef): boolean {
  const fd = openVerifiedPidfd(p);
  if (fd === undefined) return false;
  try {
    native.pidfdSendSignal(fd, constants.signals.SIGKILL);
    return true;
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return false;
    throw err;
  } finally {
    closeSync(fd);
  }
}

export interface PauseProcess extends ProcRef {
  /** from the pause's environment (set by podns when it started it) */
  root?: string;
  pod?: string;
  uid?: string;
}

export function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/**
 * Every live process running OUR pause binary (its /proc/PID/exe is build/Release/pause), with the pod
 * it was started for. A pause started by something else (kubelet's, podman's) has another exe and is
 * never touched. The podns environment variables say which state root and pod it belongs to.
 */
export function scanPauses(): PauseProcess[] {
  return scanProcesses(pausePath, (pid, startTime) => {
    const env = environOf(pid);
    return { pid, startTime, root: env.PODNS_ROOT, pod: env.PODNS_POD, uid: env.PODNS_UID };
  });
}

/**
 * Live (not zombie) processes whose /proc/PID/exe is `binary` — ours, never another tool's — mapped by
 * `pick`, which returns undefined to skip one. A rebuilt binary shows as "PATH (deleted)" and still counts.
 */
export function scanProcesses<T>(binary: string, pick: (pid: number, startTime: number) => T | undefined): T[] {
  let ours: string;
  try {
    ours = realpathSync(binary);
  } catch {
    return [];
  }
  const found: T[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    try {
      let exe = readlinkSync(`/proc/${pid}/exe`);
      if (exe.endsWith(' (deleted)')) exe = exe.slice(0, -' (deleted)'.length);
      if (exe !== ours) continue;
      const st = procStat(pid);
      if (st === undefined || st.state === 'Z') continue;
      const item = pick(pid, st.startTime);
      if (item !== undefined) found.push(item);
    } catch (err) {
      // gone meanwhile, or a kernel thread (no exe)
      if (isErrno(err, 'ENOENT', 'ESRCH', 'EACCES', 'EPERM')) continue;
      throw err;
    }
  }
  return found;
}

/** /proc/PID/oom_score_adj, or undefined when the process is gone. */
export function oomScoreAdj(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim());
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return undefined;
    throw err;
  }
}
