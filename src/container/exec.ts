// execInContainer: a command inside a running container, through `podns-helper exec --pidfd`.
//
// The helper gets a pidfd of the workload and joins all its namespaces in one setns() (net, ipc, uts,
// pid, mnt, cgroup): the command sees exactly what the workload sees, root filesystem included. Node
// could not do that itself (a multithreaded process cannot join a mount namespace). The pidfd is opened
// before the workload is checked to be the container's (status.ts), so a recycled pid is never entered.
import { closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { isErrno, PodnsError } from '../errors.js';
import { execArgv, HELPER_ARGV0, type ExecArgvOptions } from '../native/helper.js';
import { executable, helperPath, native } from '../native/index.js';
import { readPod } from '../pod/store.js';
import { paths, resolveRoot } from '../state/paths.js';
import type { ContainerConfig } from '../pod/types.js';
import { workloadEnv } from './config.js';
import { privilegeOptions } from './privileges.js';
import { chooseContainer } from './choose.js';
import { isWatcherOf, isWorkloadOf, readContainerConfig, readContainerStatus, statusText } from './status.js';

export interface ExecOptions {
  root?: string;
  pod: string;
  container?: string;
  argv: string[];
  /** a pty for the command (its size follows our terminal) */
  tty?: boolean;
  /** pass our stdin through; otherwise the command reads /dev/null */
  interactive?: boolean;
}

/**
 * The helper's options for one exec, the pidfd being fd 3. The container's environment is not among
 * them: it is the helper's own environment, which CMD inherits — /proc/PID/environ is readable by the
 * owner only, while /proc/PID/cmdline (argv) is readable by every user.
 */
export function execOptions(config: Pick<ContainerConfig, 'workingDir' | 'uid' | 'gid' | 'capabilities' | 'ambientCapabilities' | 'noNewPrivileges' | 'seccomp' | 'supplementalGroups' | 'devicesCgroup' | 'cgroupDirs'>, argv: string[], tty: boolean): ExecArgvOptions {
  return {
    target: { pidfd: 3 },
    ...(tty ? { tty } : {}),
    ...(config.uid !== undefined ? { uid: config.uid } : {}),
    ...(config.gid !== undefined ? { gid: config.gid } : {}),
    // the same user, groups, capabilities, no_new_privs and filter as the container's main process
    ...privilegeOptions(config),
    // and the same cgroups: devices, and the limits' (an exec session gets no more than the workload)
    ...(config.devicesCgroup !== undefined || config.cgroupDirs !== undefined
      ? { cgroups: [...(config.devicesCgroup !== undefined ? [config.devicesCgroup] : []), ...(config.cgroupDirs ?? [])] } : {}),
    cwd: config.workingDir ?? '/',
    argv,
  };
}

/** Runs argv in the container with our stdio; resolves to its exit status (128+N when killed by signal N). */
export async function execInContainer(o: ExecOptions): Promise<number> {
  const root = resolveRoot(o.root);
  if (o.argv.length === 0 || o.argv[0] === '') {
    throw new PodnsError('EUSAGE', 'no command to run: give one after --, e.g. podns exec POD -- sh');
  }
  const rec = readPod({ root, name: o.pod });
  const { name } = chooseContainer(rec, o.container);
  const st = readContainerStatus({ root, pod: o.pod, name });
  const config = readContainerConfig({ root, pod: o.pod, name });
  if (st === undefined || config === undefined || st.state !== 'running') {
    throw new PodnsError('ENOTRUNNING', `container "${name}" in pod "${o.pod}" is not running (${statusText(st)}); see: podns logs ${o.pod} -c ${name}`);
  }
  let pidfd: number;
  try {
    pidfd = native.pidfdOpen(st.pid);
  } catch (err) {
    if (isErrno(err, 'ESRCH')) throw new PodnsError('ENOTRUNNING', `container "${name}" in pod "${o.pod}" has just exited; see: podns logs ${o.pod} -c ${name}`);
    throw err;
  }
  try {
    if (!isWorkloadOf(st.pid, st.watcherPid) || !isWatcherOf(st.watcherPid, paths.container(root, o.pod, name))) {
      throw new PodnsError('ENOTRUNNING', `container "${name}" in pod "${o.pod}" is not running (it is restarting or has just exited); try again`);
    }
    const env = workloadEnv(config, rec);
    if (o.tty && process.env.TERM !== undefined && !env.some((e) => e.startsWith('TERM='))) env.push(`TERM=${process.env.TERM}`);
    const args = execArgv(execOptions(config, o.argv, o.tty === true));
    const child = spawn(executable(helperPath), args, {
      argv0: HELPER_ARGV0,
      env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit', pidfd],
    });
    // The helper relays signals to the command. SIGINT/SIGQUIT from the terminal reach the helper
    // directly (same process group), so we only must not die of them; SIGTERM/SIGHUP sent to podns
    // alone are passed on.
    const forward = (sig: NodeJS.Signals) => () => { child.kill(sig); };
    const handlers: Array<[NodeJS.Signals, () => void]> = [
      ['SIGINT', () => undefined], ['SIGQUIT', () => undefined], ['SIGTERM', forward('SIGTERM')], ['SIGHUP', forward('SIGHUP')],
    ];
    for (const [s, h] of handlers) process.on(s, h);
    try {
      return await new Promise<number>((resolveExit, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          resolveExit(code ?? 128 + (signal ? constants.signals[signal] : 0));
        });
      });
    } finally {
      for (const [s, h] of handlers) process.off(s, h);
    }
  } finally {
    closeSync(pidfd);
  }
}
