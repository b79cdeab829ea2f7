// Starting the pause (see "pause" in docs/DESIGN.md): the process that holds the pod's namespaces.
//
// The pause must not be our child: it outlives this process, and as a child of Node it would stay a
// zombie here once it died (we never waitpid(-1)). It used to detach itself (`pause -d FD`: fork, write
// the child's pid to FD, exit), which made every create wait until the exec'd pause had started up,
// forked and answered: on a VM, milliseconds of exec and page faults. native.spawn({detach}) does the
// double fork before exec instead (clone of an intermediate that clones the pause and exits; see
// native/addon/spawn.cc), so the pid is known when spawn returns and the pause's start-up runs on while
// we go on with the pins. What `pause -d` guaranteed still holds:
//   - own session (setsid in the child), not our child (reparented when the intermediate exits);
//   - SIGINT/SIGTERM/SIGCHLD blocked from birth (blockSignals: kept blocked across execve, and pause
//     blocks them again first thing), so a SIGTERM sent before its main() runs still means "exit 0";
//   - with sharePid, PID 1 of a new pid namespace (CLONE_NEWPID on the pause's own clone);
//   - no fd but 0-2 (/dev/null) reaches it; the pause closes everything else anyway.
// Subreaper, oom_score_adj and chdir are the pause's own first steps, before it forks anything.
import { constants } from 'node:os';
import { PodnsError } from '../errors.js';
import { native, pausePath, type SpawnOptions } from '../native/index.js';
import { startTimeOf, type ProcRef } from './proc.js';

export interface StartPauseOptions {
  /** absolute state root; with pod and uid, put in the pause's environment so gc can tell whose it is */
  root: string;
  pod: string;
  uid: string;
  sharePid: boolean;
  /** CLONE_NEW* for the new namespaces */
  cloneFlags: number;
  /** namespaces to join instead (pod:OTHER's net, or all three for repair) */
  setns?: Array<{ fd: number; nstype: number }>;
  hostname?: string;
  /** cgroup.procs fds of the pod's pause leaf: joined before exec */
  cgroupProcs?: number[];
}

export function pauseEnv(root: string, pod: string, uid: string): string[] {
  return [`PODNS_ROOT=${root}`, `PODNS_POD=${pod}`, `PODNS_UID=${uid}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
}

function spawnOptions(o: StartPauseOptions): SpawnOptions {
  const { SIGINT, SIGTERM, SIGCHLD } = constants.signals;
  return {
    path: pausePath,
    argv: ['pause'],
    env: pauseEnv(o.root, o.pod, o.uid),
    cloneFlags: o.cloneFlags | (o.sharePid ? native.CLONE_NEWPID : 0),
    setns: o.setns ?? [],
    ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
    ...(o.cgroupProcs !== undefined ? { cgroupProcs: o.cgroupProcs } : {}),
    cwd: '/',
    setsid: true,
    detach: true,
    blockSignals: [SIGINT, SIGTERM, SIGCHLD],
  };
}

function started(pid: number): ProcRef {
  // The pause has exec'd (spawn returns after that); its start time names it from here on. Gone already:
  // it failed in its first steps (they only fail on a broken system) or someone killed it.
  const startTime = startTimeOf(pid);
  if (startTime === undefined) {
    throw new PodnsError('EPAUSE', `the pause process (pid ${pid}) exited right after it started; check that ${pausePath} is built (npx node-gyp rebuild)`);
  }
  return { pid, startTime };
}

export function startPause(o: StartPauseOptions): ProcRef {
  return started(native.spawn(spawnOptions(o)));
}

/**
 * startPause on a libuv pool thread (native.spawnAsync): the caller goes on meanwhile. The setns fds must
 * stay open until the promise settles.
 */
export async function startPauseAsync(o: StartPauseOptions): Promise<ProcRef> {
  return started(await native.spawnAsync(spawnOptions(o)));
}
