// One container out of a pod, for good (the CRI's RemoveContainer; the CLI removes containers only with
// their pod): its processes (SIGKILL), its cgroups, its directory, then its name in pod.json. In that
// order, so a crash part way leaves a name without a directory (read as "not running") or a directory
// the record does not name (found by stopContainers and gc like any leftover), never a process without
// either. Repeating it is harmless: what is already gone counts as done.
import { closeSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { NotFoundError } from '../errors.js';
import { native } from '../native/index.js';
import { updatePod } from '../pod/store.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { discardDir } from '../state/trash.js';
import { recordedDevicesCgroup, removeDevicesCgroup } from './devices.js';
import { recordedContainerCgroups, removeContainerCgroups } from './limits.js';
import { isWatcherOf, readStatusFile, runStopped } from './status.js';
import { stopProcesses } from './stop.js';

/** background: the container's directory is renamed into the trash and removed after the return, on a pool thread (state/trash.ts). */
export async function removeContainer(o: RootOption & { pod: string; name: string; background?: boolean }): Promise<void> {
  const root = resolveRoot(o.root);
  const pod = validateName('pod', o.pod);
  const name = validateName('container', o.name);
  // the processes, then the cgroups once (devices first: a pod made before pods had cgroups of their own
  // loses its pod level only once the container's last cgroup is gone)
  // (a run this process stopped already, StopContainer's: its processes and its cgroups but the devices one are gone)
  const st = readStatusFile(root, pod, name);
  const stopped = st !== undefined && runStopped(paths.container(root, pod, name), st);
  if (!stopped) await stopProcesses(root, pod, name, 0, st);
  const cfg = paths.containerConfig(root, pod, name);
  await removeDevicesCgroup(recordedDevicesCgroup(cfg));
  if (!stopped) await removeContainerCgroups(recordedContainerCgroups(cfg));
  if (o.background === true) discardDir(root, paths.container(root, pod, name), `${pod}.${name}`);
  else rmSync(paths.container(root, pod, name), { recursive: true, force: true });
  try {
    await updatePod({ root, name: pod, update: (r) => { r.containers = r.containers.filter((c) => c !== name); } });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/**
 * A new log file for a container whose log is one file (RunOptions.logFile) that its reader has renamed
 * away: the watcher closes it and opens (creates) one at the same path (SIGUSR1). false when the
 * container does not run (nothing writes its log).
 */
export function reopenContainerLog(o: RootOption & { pod: string; name: string }): boolean {
  const root = resolveRoot(o.root);
  const st = readStatusFile(root, validateName('pod', o.pod), validateName('container', o.name));
  if (st === undefined || st.state === 'exited') return false;
  const dir = paths.container(root, o.pod, o.name);
  let fd: number;
  try {
    fd = native.pidfdOpen(st.watcherPid);
  } catch {
    return false;
  }
  try {
    // checked after the pidfd is open: the process signalled is the one checked, never a recycled pid
    if (!isWatcherOf(st.watcherPid, dir)) return false;
    native.pidfdSendSignal(fd, constants.signals.SIGUSR1);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
