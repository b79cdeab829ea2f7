// Finding container watchers from /proc alone, for gc: a crash (kill -9 of podns) between starting a shim
// and recording it, or a pod directory removed by hand, leaves watchers no record names. They are our
// helper binary running `shim`, and their environment (set by run.ts) says which root, pod and container.
import { closeSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { isErrno } from '../errors.js';
import { isShimCmdline, shimDirOf } from '../native/helper.js';
import { helperPath, native } from '../native/index.js';
import { environOf, procStat, scanProcesses } from '../pod/proc.js';

export interface WatcherProcess {
  pid: number;
  startTime: number;
  root?: string;
  pod?: string;
  container?: string;
  /** the container directory (--dir) */
  dir?: string;
}

export function listWatchers(): WatcherProcess[] {
  return scanProcesses(helperPath, (pid, startTime) => {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!isShimCmdline(args)) return undefined;
    const env = environOf(pid);
    const w: WatcherProcess = { pid, startTime };
    if (env.PODNS_ROOT !== undefined) w.root = env.PODNS_ROOT;
    if (env.PODNS_POD !== undefined) w.pod = env.PODNS_POD;
    if (env.PODNS_CONTAINER !== undefined) w.container = env.PODNS_CONTAINER;
    const dir = shimDirOf(args);
    if (dir !== undefined) w.dir = dir;
    return w;
  });
}

/**
 * Watchers of this state root whose container no podns record knows any more (the pod was removed, or a
 * crash left them): they are SIGKILLed (in their own pid namespace that ends their workload too; in a
 * shared one PR_SET_PDEATHSIG does). Returns one line per watcher killed, for gc's report.
 */
export function killStrayWatchers(root: string, known: (pod: string, container: string) => boolean): string[] {
  const done: string[] = [];
  for (const w of listWatchers()) {
    if (w.root !== root || w.pod === undefined || w.container === undefined) continue;
    if (known(w.pod, w.container)) continue;
    try {
      const fd = native.pidfdOpen(w.pid);
      try {
        if (procStat(w.pid)?.startTime !== w.startTime) continue;
        native.pidfdSendSignal(fd, constants.signals.SIGKILL);
        done.push(`container watcher ${w.pid} (pod ${w.pod}, container ${w.container})`);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (!isErrno(err, 'ESRCH')) throw err;
    }
  }
  return done;
}
