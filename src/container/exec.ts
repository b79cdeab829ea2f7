// execInContainer: a command inside a running container, through `podns-helper exec --pidfd`.
//
// The helper gets a pidfd of the workload and joins all its namespaces in one setns() (net, ipc, uts,
// pid, mnt, cgroup): the command sees exactly what the workload sees, root filesystem included. Node
// could not do that itself (a multithreaded process cannot join a mount namespace). The pidfd is opened
// before the workload is checked to be the container's (status.ts), so a recycled pid is never entered.
import { closeSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
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

/** The container's running workload as a pidfd (checked to be it), its config and the helper's argv and env. */
function prepareExec(o: ExecOptions, extra: Partial<ExecArgvOptions> = {}): { pidfd: number; args: string[]; env: Record<string, string>; name: string } {
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
    const args = execArgv({ ...execOptions(config, o.argv, o.tty === true), ...extra });
    return { pidfd, args, env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])), name };
  } catch (err) {
    closeSync(pidfd);
    throw err;
  }
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? constants.signals[signal] : 0);
}

/** Runs argv in the container with our stdio; resolves to its exit status (128+N when killed by signal N). */
export async function execInContainer(o: ExecOptions): Promise<number> {
  const { pidfd, args, env } = prepareExec(o);
  try {
    const child = spawn(executable(helperPath), args, {
      argv0: HELPER_ARGV0,
      env,
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
        child.once('exit', (code, signal) => resolveExit(exitStatus(code, signal)));
      });
    } finally {
      for (const [s, h] of handlers) process.off(s, h);
    }
  } finally {
    closeSync(pidfd);
  }
}

export interface CapturedExec {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  /** the time ran out: the command was killed (exitCode 137) */
  timedOut: boolean;
}

/** Output kept per stream at most (the CRI's ExecSync answers in one message): the rest is dropped. */
export const CAPTURE_MAX_BYTES = 16 << 20;

/**
 * Runs argv in the container with stdin /dev/null and its output captured (the CRI's ExecSync). After
 * timeoutMs (0: none) the command itself is SIGKILLed (the helper's child, found by the helper's pid),
 * then the helper. Touches no process-wide signal handler (a server runs many at once).
 */
export async function execCapture(o: Omit<ExecOptions, 'tty' | 'interactive'> & { timeoutMs?: number }): Promise<CapturedExec> {
  const { pidfd, args, env } = prepareExec(o);
  try {
    const child = spawn(executable(helperPath), args, { argv0: HELPER_ARGV0, env, stdio: ['ignore', 'pipe', 'pipe', pidfd] });
    const take = (stream: NodeJS.ReadableStream | null): Promise<Buffer> => new Promise((res) => {
      const parts: Buffer[] = [];
      let size = 0;
      if (stream === null) return res(Buffer.alloc(0));
      stream.on('data', (b: Buffer) => {
        if (size >= CAPTURE_MAX_BYTES) return;
        parts.push(b.subarray(0, CAPTURE_MAX_BYTES - size));
        size += b.length;
      });
      stream.on('end', () => res(Buffer.concat(parts)));
      stream.on('error', () => res(Buffer.concat(parts)));
      stream.on('close', () => res(Buffer.concat(parts)));
    });
    const out = take(child.stdout);
    const err = take(child.stderr);
    let timedOut = false;
    const timer = o.timeoutMs !== undefined && o.timeoutMs > 0 ? setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killChildren(child.pid);
      child.kill('SIGKILL');
    }, o.timeoutMs) : undefined;
    try {
      const code = await new Promise<number>((resolveExit, reject) => {
        child.once('error', reject);
        child.once('exit', (c, signal) => resolveExit(exitStatus(c, signal)));
      });
      // a process the command left behind may hold the pipes open: take what came within a moment
      const drained = setTimeout(() => { child.stdout?.destroy(); child.stderr?.destroy(); }, 1000);
      try {
        return { exitCode: code, stdout: await out, stderr: await err, timedOut };
      } finally {
        clearTimeout(drained);
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  } finally {
    closeSync(pidfd);
  }
}

/** SIGKILL to the children of pid (the helper's: the command it runs in the container), through pidfds. */
function killChildren(pid: number): void {
  let kids: number[];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const k of kids) {
    try {
      const fd = native.pidfdOpen(k);
      try {
        native.pidfdSendSignal(fd, constants.signals.SIGKILL);
      } finally {
        closeSync(fd);
      }
    } catch {
      // gone already
    }
  }
}

export interface ExecStreamOptions extends Omit<ExecOptions, 'interactive'> {
  /** the command reads a pipe (ExecSession.stdin); otherwise /dev/null */
  stdin: boolean;
}

/** A command running in a container with its stdio as streams (the CRI's streaming Exec). */
export interface ExecSession {
  /** its stdin (null without stdin): end() is its EOF (with tty: ^D typed into the pty) */
  stdin: Writable | null;
  /** its stdout (with tty: the pty's output) */
  stdout: Readable;
  /** its stderr; with tty only the helper's own error line, if it fails before the command runs */
  stderr: Readable;
  /** with tty: the pty's window size (the command's foreground group gets SIGWINCH) */
  resize(columns: number, rows: number): void;
  /** its exit status (128+N when killed by signal N; 125-127: the helper could not start it) */
  exited: Promise<number>;
  /** SIGKILL to the command and the helper (the client went away) */
  kill(): void;
}

/**
 * Starts argv in the container (the same namespaces, user, capabilities, seccomp and cgroups as the
 * workload: execOptions) with piped stdio, and with tty a pty whose size follows resize(). Touches no
 * process-wide signal handler. The pidfd is closed once the helper has it.
 */
export function execStream(o: ExecStreamOptions): ExecSession {
  const tty = o.tty === true;
  const { pidfd, args, env } = prepareExec(o, tty ? { resizeFd: 4 } : {});
  try {
    const child = spawn(executable(helperPath), args, {
      argv0: HELPER_ARGV0,
      env,
      stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', pidfd, ...(tty ? ['pipe' as const] : [])],
    });
    const resizeStream = tty ? child.stdio[4] as Writable | null : null;
    resizeStream?.on('error', () => undefined);
    child.stdin?.on('error', () => undefined); // EPIPE once the command is gone: its exit tells
    const exited = new Promise<number>((res) => {
      child.once('error', () => res(125));
      child.once('exit', (c, signal) => {
        resizeStream?.destroy();
        res(exitStatus(c, signal));
      });
    });
    return {
      stdin: child.stdin,
      stdout: child.stdout!,
      stderr: child.stderr!,
      resize: (columns, rows) => {
        if (resizeStream === null || resizeStream.destroyed) return;
        if (!Number.isInteger(columns) || !Number.isInteger(rows) || columns <= 0 || rows <= 0 || columns > 0xffff || rows > 0xffff) return;
        resizeStream.write(`${columns} ${rows}\n`);
      },
      exited,
      kill: () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        if (child.pid !== undefined) killChildren(child.pid);
        child.kill('SIGKILL');
      },
    };
  } finally {
    closeSync(pidfd);
  }
}
