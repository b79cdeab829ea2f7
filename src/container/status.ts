// What a container is doing, from what the shim wrote (status.json) checked against the kernel.
//
// status.json is written by the watcher only. A watcher that was SIGKILLed (stop after the grace period,
// a crash) cannot say that it ended, so a "running" status whose watcher is gone is reported as exited.
// Processes are recognised, not just looked up by pid: a watcher is our helper running `shim --dir DIR`
// for exactly this container, and the workload is that watcher's child. A recycled pid matches neither.
import { readFileSync } from 'node:fs';
import { isErrno, PodnsError } from '../errors.js';
import { shimDirOf } from '../native/helper.js';
import { procStat, type ProcStat } from '../pod/proc.js';
import type { ContainerConfig, ContainerStatus } from '../pod/types.js';
import { readJsonIfExists } from '../state/files.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { BoundedSet } from '../util/bounded-set.js';

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return [];
    throw err;
  }
}

/** Is pid alive and the watcher of the container whose directory is dir? (st: its /proc stat, read already) */
export function isWatcherOf(pid: number, dir: string, st: ProcStat | undefined = procStat(pid)): boolean {
  if (st === undefined || st.state === 'Z' || st.state === 'X') return false;
  const a = cmdline(pid);
  return shimDirOf(a) === dir;
}

/** Is pid alive and the workload that this watcher started? (st: its /proc stat, read already) */
export function isWorkloadOf(pid: number, watcherPid: number, st: ProcStat | undefined = procStat(pid)): boolean {
  return st !== undefined && st.state !== 'Z' && st.state !== 'X' && st.ppid === watcherPid;
}

// Runs of containers this process has stopped for good (watcher and workload seen gone on their pidfds,
// the container's cgroups removed), by container directory and the run as status.json names it (watcher,
// workload, start): the status of such a run is "exited" without a look at /proc, and a second stop (a
// StopPodSandbox after StopContainer, a RemoveContainer) has nothing left to do. A later run writes another
// status (other pids, another start), which is looked at afresh. Bounded: the oldest are forgotten first.
const stoppedRuns = new BoundedSet<string>(4096);

function runKey(dir: string, st: ContainerStatus): string {
  return `${dir}\0${st.watcherPid}\0${st.pid}\0${st.startedAt}`;
}

/** Records that this run of the container in dir is stopped and its cgroups are gone. */
export function noteRunStopped(dir: string, st: ContainerStatus): void {
  stoppedRuns.add(runKey(dir, st));
}

/** Did this process stop this run (noteRunStopped)? */
export function runStopped(dir: string, st: ContainerStatus): boolean {
  return stoppedRuns.has(runKey(dir, st));
}

/** status.json as the shim wrote it, undefined when there is none (yet). */
export function readStatusFile(root: string, pod: string, name: string): ContainerStatus | undefined {
  try {
    return readJsonIfExists<ContainerStatus>(paths.containerStatus(root, pod, name));
  } catch (err) {
    // written tmp+rename, so never half a file; a syntax error means someone else wrote it
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * The container's status, with the kernel's word on liveness: a running/restarting status whose watcher
 * is gone is returned as exited (exit code and signal unknown: null). undefined: never started.
 */
export function readContainerStatus(o: RootOption & { pod: string; name: string }): ContainerStatus | undefined {
  const root = resolveRoot(o.root);
  const pod = validateName('pod', o.pod);
  const name = validateName('container', o.name);
  const st = readStatusFile(root, pod, name);
  if (st === undefined || st.state === 'exited') return st;
  const dir = paths.container(root, pod, name);
  if (!runStopped(dir, st) && isWatcherOf(st.watcherPid, dir)) return st;
  return { ...st, state: 'exited', finishedAt: st.finishedAt, exitCode: st.state === 'restarting' ? st.exitCode : null, signal: st.state === 'restarting' ? st.signal : null };
}

/** The container's config.json (what run recorded), undefined when there is none. */
export function readContainerConfig(o: RootOption & { pod: string; name: string }): ContainerConfig | undefined {
  const root = resolveRoot(o.root);
  const pod = validateName('pod', o.pod);
  const name = validateName('container', o.name);
  try {
    return readJsonIfExists<ContainerConfig>(paths.containerConfig(root, pod, name));
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new PodnsError('ECORRUPT', `the config of container "${name}" in pod "${pod}" is unreadable (${err.message}); delete the pod`);
    }
    throw err;
  }
}

/** "Running", "Exited (3)", "Restarting", "Created", "OOMKilled" (kubectl's reason), "Running (last OOMKilled)" — as ps shows it. */
export function statusText(st: ContainerStatus | undefined): string {
  if (st === undefined) return 'Created';
  if (st.state === 'running') return st.lastState?.reason === 'OOMKilled' ? 'Running (last OOMKilled)' : 'Running';
  if (st.reason === 'OOMKilled') return 'OOMKilled';
  if (st.state === 'restarting') return 'Restarting';
  if (st.exitCode === null) return 'Exited (unknown)';
  return `Exited (${st.exitCode})`;
}
