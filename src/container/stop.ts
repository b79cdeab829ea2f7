// Stopping containers: SIGTERM to each watcher (it forwards SIGTERM to the workload, stops restarting and
// records the exit), then after the grace period SIGKILL to what is left, workload first, then watcher.
// Every process is opened as a pidfd and recognised (status.ts) before it is signalled, so a recycled pid
// is never hit, and "already gone" is success: stop is safe to repeat, also after a crash.
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';
import { tryReadPod } from '../pod/store.js';
import { listDir } from '../state/files.js';
import { validateName } from '../state/names.js';
import { paths } from '../state/paths.js';
import { isWatcherOf, isWorkloadOf, readStatusFile } from './status.js';

const { SIGTERM, SIGKILL } = constants.signals;

/** Containers of a pod: the record's list, then any directory the record does not name (a crash between). */
export function containerNames(root: string, pod: string): string[] {
  const rec = tryReadPod(root, pod);
  const names = [...(rec?.containers ?? [])];
  for (const d of listDir(paths.containers(root, pod)).sort()) {
    if (!d.startsWith('.') && !names.includes(d)) names.push(d);
  }
  return names;
}

/** pidfd of pid if it passes check after opening (so it is the process we mean), else undefined. */
function openChecked(pid: number, check: () => boolean): number | undefined {
  if (!check()) return undefined;
  let fd: number;
  try {
    fd = native.pidfdOpen(pid);
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENOENT', 'EINVAL')) return undefined;
    throw err;
  }
  if (!check()) {
    closeSync(fd);
    return undefined;
  }
  return fd;
}

function send(fd: number | undefined, sig: number): void {
  if (fd === undefined) return;
  try {
    native.pidfdSendSignal(fd, sig);
  } catch (err) {
    if (!isErrno(err, 'ESRCH')) throw err;
  }
}

async function stopOne(root: string, pod: string, name: string, graceSec: number): Promise<void> {
  const st = readStatusFile(root, pod, name);
  if (st === undefined) return;
  const dir = paths.container(root, pod, name);
  const watcherAlive = (): boolean => isWatcherOf(st.watcherPid, dir);
  const watcher = openChecked(st.watcherPid, watcherAlive);
  // The workload of the last run (a watcher killed earlier may have left it running briefly).
  const workload = openChecked(st.pid, () => isWorkloadOf(st.pid, st.watcherPid));
  try {
    if (watcher === undefined && workload === undefined) return;
    if (graceSec > 0 && watcher !== undefined) {
      send(watcher, SIGTERM);
      const deadline = Date.now() + graceSec * 1000;
      while (Date.now() < deadline && watcherAlive()) await sleep(20);
    } else if (graceSec > 0) {
      send(workload, SIGTERM);
      const deadline = Date.now() + graceSec * 1000;
      while (Date.now() < deadline && isWorkloadOf(st.pid, st.watcherPid)) await sleep(20);
    }
    // Workload first: killing the watcher of a shared pid namespace first would leave the workload to
    // PR_SET_PDEATHSIG alone. (In its own pid namespace the watcher is init: its death ends them all.)
    if (workload !== undefined && isWorkloadOf(st.pid, st.watcherPid)) send(workload, SIGKILL);
    if (watcher !== undefined && watcherAlive()) send(watcher, SIGKILL);
    for (let i = 0; i < 400 && (watcherAlive() || isWorkloadOf(st.pid, st.watcherPid)); i++) await sleep(5);
  } finally {
    if (watcher !== undefined) closeSync(watcher);
    if (workload !== undefined) closeSync(workload);
  }
}

/**
 * Stop the named containers of a pod (all when names is undefined), in parallel, each with graceSec
 * between SIGTERM and SIGKILL (0: SIGKILL at once). Containers that are not running are skipped.
 */
export async function stopContainers(root: string, pod: string, names: string[] | undefined, graceSec: number): Promise<void> {
  const r = resolve(root);
  validateName('pod', pod);
  const list = names ?? containerNames(r, pod);
  for (const n of list) validateName('container', n);
  const grace = Number.isFinite(graceSec) && graceSec > 0 ? graceSec : 0;
  await Promise.all(list.map((n) => stopOne(r, pod, n, grace)));
}
