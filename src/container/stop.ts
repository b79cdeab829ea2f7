// Stopping containers: SIGTERM to each watcher (it forwards SIGTERM to the workload, stops restarting and
// records the exit), then after the grace period SIGKILL to what is left, workload first, then watcher;
// then whatever is still in the container's cgroup is killed (frozen first) and the cgroup removed.
// Every process is opened as a pidfd and recognised (status.ts) before it is signalled, so a recycled pid
// is never hit, and "already gone" is success: stop is safe to repeat, also after a crash.
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';
import { KILL_WAIT_MS, procStat, waitExit, type ProcStat } from '../pod/proc.js';
import type { ContainerStatus } from '../pod/types.js';
import { tryReadPod } from '../pod/store.js';
import { listDir } from '../state/files.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { isWatcherOf, isWorkloadOf, noteRunStopped, readStatusFile, runStopped } from './status.js';
import { containerCgroupsBusy, recordedContainerCgroups, removeContainerCgroups, removeContainerCgroupsAsync } from './limits.js';
import { inBackground } from '../state/trash.js';

const { SIGTERM, SIGKILL } = constants.signals;

/** Seconds between SIGTERM and SIGKILL when a stop or delete names none (kubelet's default is 30; podman's 10). */
export const DEFAULT_GRACE_SECONDS = 10;

/** Containers of a pod: the record's list, then any directory the record does not name (a crash between). */
export function containerNames(root: string, pod: string): string[] {
  const rec = tryReadPod(root, pod);
  const names = [...(rec?.containers ?? [])];
  for (const d of listDir(paths.containers(root, pod)).sort()) {
    if (!d.startsWith('.') && !names.includes(d)) names.push(d);
  }
  return names;
}

interface Target { pid: number; startTime: number; fd: number }

/**
 * A pidfd of pid if it is the process we mean (check, given its /proc stat read once the pidfd is open:
 * the pidfd names the process checked, whatever becomes of the pid), with its start time: from then on
 * "alive" means this very process (pid + start time), whatever becomes of its cmdline while it dies.
 */
function openChecked(pid: number, check: (st: ProcStat) => boolean): Target | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let fd: number;
  try {
    fd = native.pidfdOpen(pid);
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENOENT', 'EINVAL')) return undefined;
    throw err;
  }
  const st = procStat(pid);
  if (st === undefined || !check(st)) {
    closeSync(fd);
    return undefined;
  }
  return { pid, startTime: st.startTime, fd };
}

function send(t: Target | undefined, sig: number): void {
  if (t === undefined) return;
  try {
    native.pidfdSendSignal(t.fd, sig);
  } catch (err) {
    if (!isErrno(err, 'ESRCH')) throw err;
  }
}

/** Every target gone (waited on its pidfd) within ms? */
async function waitGone(targets: Array<Target | undefined>, ms: number): Promise<boolean> {
  const waits = targets.filter((t): t is Target => t !== undefined).map((t) => waitExit(t.fd, ms));
  return (await Promise.all(waits)).every((gone) => gone);
}

/**
 * Stops the container, then kills whatever is still in its cgroup and removes it: an exec session's
 * background process in a pod that shares one pid namespace (the pause, not the watcher, is its init, so
 * the watcher's end does not take it), an orphan the watcher left. The watcher removes an empty cgroup
 * itself when it ends; what it could not remove (EBUSY) is done here.
 */
async function stopOne(root: string, pod: string, name: string, graceSec: number, background: boolean): Promise<void> {
  const st = readStatusFile(root, pod, name);
  const dir = paths.container(root, pod, name);
  if (st !== undefined && runStopped(dir, st)) return; // stopped by us already, cgroups and all
  const gone = await stopProcesses(root, pod, name, graceSec, st);
  const cgroups = recordedContainerCgroups(paths.containerConfig(root, pod, name));
  // an exec session's process still in the cgroup: killed before the answer (below), not after it
  if (background && gone && !containerCgroupsBusy(cgroups)) {
    // config.json names them until the container is removed, which removes what is left (and so do a pod's
    // delete and gc's); the run counts as stopped once they are gone
    inBackground(removeContainerCgroupsAsync(cgroups).then(() => {
      if (st !== undefined) noteRunStopped(dir, st);
    }));
    return;
  }
  await removeContainerCgroups(cgroups);
  if (st !== undefined && gone) noteRunStopped(dir, st);
}

/**
 * The container's processes only (watcher and workload, SIGKILL after graceSec), its cgroups left as they
 * are: for a caller that removes them itself afterwards (removeContainer: once, after the devices cgroup).
 * True when both are seen gone; false when one may still be there (after SIGKILL and KILL_WAIT_MS, or a
 * workload still alive when its watcher ended): the caller then kills by cgroup.
 */
export async function stopProcesses(root: string, pod: string, name: string, graceSec: number,
  st: ContainerStatus | undefined = readStatusFile(root, pod, name)): Promise<boolean> {
  if (st === undefined) return true;
  const dir = paths.container(root, pod, name);
  if (runStopped(dir, st)) return true;
  const watcher = openChecked(st.watcherPid, (ps) => isWatcherOf(st.watcherPid, dir, ps));
  // the workload of the last run (a watcher killed earlier leaves it to PR_SET_PDEATHSIG, which is quick)
  const workload = openChecked(st.pid, (ps) => isWorkloadOf(st.pid, st.watcherPid, ps));
  try {
    if (watcher === undefined && workload === undefined) return true;
    // The watcher forwards SIGTERM and records the exit; without one, the workload gets it directly.
    if (graceSec > 0) {
      send(watcher ?? workload, SIGTERM);
      // (the watcher ends after its workload: seen gone now, or left to the cgroup's removal)
      if (await waitGone([watcher ?? workload], graceSec * 1000)) return await waitGone([workload], 0);
    }
    // Workload first: in a shared pid namespace the watcher's death would leave it to PDEATHSIG.
    // (In its own pid namespace the watcher is init, and its death ends everything in there.)
    send(workload, SIGKILL);
    send(watcher, SIGKILL);
    // SIGKILL cannot be caught: both are gone within moments (the watcher, as a pid namespace's
    // init, only once the kernel has killed and reaped everything in that namespace).
    return await waitGone([watcher, workload], KILL_WAIT_MS);
  } finally {
    if (watcher !== undefined) closeSync(watcher.fd);
    if (workload !== undefined) closeSync(workload.fd);
  }
}

export interface StopOptions extends RootOption {
  pod: string;
  /** the containers to stop; all of the pod's when absent */
  names?: string[];
  /** seconds between SIGTERM and SIGKILL (0: SIGKILL at once); default 10 */
  grace?: number;
  /** the containers' cgroups removed after the return, on a pool thread, once their processes are seen gone */
  background?: boolean;
}

/**
 * Stop the named containers of a pod (all when names is undefined), in parallel, each with `grace`
 * seconds between SIGTERM and SIGKILL. Containers that are not running are skipped.
 */
export async function stopContainers(o: StopOptions): Promise<void> {
  const r = resolveRoot(o.root);
  const pod = validateName('pod', o.pod);
  const list = o.names ?? containerNames(r, pod);
  for (const n of list) validateName('container', n);
  const graceSec = o.grace ?? DEFAULT_GRACE_SECONDS;
  const grace = Number.isFinite(graceSec) && graceSec > 0 ? graceSec : 0;
  await Promise.all(list.map((n) => stopOne(r, pod, n, grace, o.background === true)));
}
