// Run a program inside the namespaces of another process (a pod's pause, a container) through
// `podns-helper exec`.
//
// Why not setns() here: Node is multithreaded. The kernel refuses to move a multithreaded process
// into another mount (or user) namespace, and switching the calling thread's netns would leak into
// threads libuv starts meanwhile. The single-threaded C helper joins, forks (so a joined pid
// namespace applies to the program) and execs; this module only builds its argv and reads the result.
//
// The target is named by pidfd where possible: a pid can be reused by an unrelated process between
// our check and the helper's setns; a pidfd cannot. The pidfd (O_CLOEXEC in this process) is handed
// to the helper as one of its stdio fds, at a known index, and closed here once the helper runs.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { errnoError, isErrno, type ErrnoError } from '../errors.js';
import { execArgv, HELPER_ARGV0, parseHelperError, type ExecTarget } from '../native/helper.js';
import { executable, helperPath, native, type NsType } from '../native/index.js';
import { NS_TYPES } from './identities.js';

export type NsExecTarget =
  /** every namespace of this process except user and time (pidfd_open'd here) */
  | { pid: number }
  /** the same through a pidfd the caller holds (stays open; the caller closes it) */
  | { pidfd: number }
  /** namespace files: pins (ROOT/pods/POD/ns/net, /run/netns/NAME) or /proc/PID/ns/TYPE */
  | { nsPaths: Partial<Record<NsType, string>> };

/** 'inherit' | 'pipe' | 'ignore', or an fd of this process the program gets as that stdio stream. */
export type NsExecStdioEntry = 'inherit' | 'pipe' | 'ignore' | number;
export type NsExecStdio = 'inherit' | 'pipe' | 'ignore' | [NsExecStdioEntry, NsExecStdioEntry, NsExecStdioEntry];

export interface NsExecOptions {
  target: NsExecTarget;
  argv: string[];
  /** variables set for the program, on top of the inherited environment (or alone, with clearEnv) */
  env?: Record<string, string>;
  clearEnv?: boolean;
  /** working directory; default: the helper's, or / of the joined mount namespace */
  cwd?: string;
  uid?: number;
  gid?: number;
  /** a pty as the program's controlling terminal and stdio (the helper relays it) */
  tty?: boolean;
  /** default 'inherit' */
  stdio?: NsExecStdio;
  /** written to stdin when stdin is 'pipe' (nsExec ends stdin after it, or at once without input) */
  input?: string | Uint8Array;
  /** aborting sends SIGTERM to the helper, which passes it on to the program */
  signal?: AbortSignal;
}

export interface NsExecResult {
  /** the program's exit status; 128+N when it (or the helper) was killed by signal N */
  code: number;
  /** when stdout was 'pipe' */
  stdout?: string;
  /** when stderr was 'pipe' */
  stderr?: string;
}

/** A failure to start the program, with the helper's exit code (125 setup, 126 not executable, 127 not found). */
export interface NsExecError extends ErrnoError {
  exitCode: number;
}

export interface NsExecHandle {
  /** the podns-helper process; child.stdin/stdout/stderr are the program's when 'pipe' */
  child: ChildProcess;
  /** settles when the helper has exited and its pipes are drained; rejects when the program could not start */
  result: Promise<NsExecResult>;
}

const uidMax = 4294967294;

function fail(message: string): never {
  throw new TypeError(`nsExec: ${message}`);
}

function checkId(what: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0 && v <= uidMax)) fail(`${what} must be an integer 0..${uidMax}, got ${v}`);
}

function checkString(what: string, v: string): void {
  if (typeof v !== 'string' || v.includes('\0')) fail(`${what} must be a string without NUL bytes`);
}

/**
 * The helper's arguments (`exec ...`), checked. `targetFd` is where the pidfd sits in the helper (pid/pidfd
 * targets), `errFd` where the helper reports a failure to start.
 */
export function helperExecArgs(o: NsExecOptions, targetFd: number | undefined, errFd: number | undefined): string[] {
  if (!Array.isArray(o.argv) || o.argv.length === 0) fail('argv must name a program');
  o.argv.forEach((a, i) => checkString(`argv[${i}]`, a));
  if (o.argv[0] === '') fail('argv[0] must not be empty');
  checkId('uid', o.uid);
  checkId('gid', o.gid);
  const t = o.target;
  let target: ExecTarget;
  if ('nsPaths' in t) {
    const entries = Object.entries(t.nsPaths).filter(([, p]) => p !== undefined) as Array<[string, string]>;
    if (entries.length === 0) fail('target.nsPaths names no namespace');
    for (const [type, p] of entries) {
      if (!(NS_TYPES as readonly string[]).includes(type)) fail(`unknown namespace type '${type}' (use ${NS_TYPES.join(', ')})`);
      checkString(`nsPaths.${type}`, p);
      if (!p.startsWith('/')) fail(`nsPaths.${type} must be an absolute path, got '${p}'`);
    }
    target = { ns: entries.map(([type, path]) => ({ type, path })) };
  } else {
    if (targetFd === undefined) fail('internal: no fd for the pidfd');
    target = { pidfd: targetFd };
  }
  if (o.cwd !== undefined) checkString('cwd', o.cwd);
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (k === '' || k.includes('=')) fail(`env name '${k}' must be non-empty and without '='`);
    checkString(`env.${k}`, v);
  }
  return execArgv({
    target,
    ...(errFd !== undefined ? { errFd } : {}),
    ...(o.tty ? { tty: true } : {}),
    ...(o.uid !== undefined ? { uid: o.uid } : {}),
    ...(o.gid !== undefined ? { gid: o.gid } : {}),
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    ...(o.clearEnv ? { clearEnv: true } : {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
    argv: o.argv,
  });
}

/** "error ENOENT execvp foo: No such file or directory" → an ErrnoError like fs's. */
function startError(line: string, exitCode: number): NsExecError {
  const e = parseHelperError(line);
  const code = e?.code ?? 'EIO';
  const step = e?.step ?? 'exec';
  const text = e?.message ?? line;
  // The step is "<syscall> [<path or detail>]", e.g. "execvp ls", "setns net /run/netns/web".
  const [first = 'exec', ...rest] = step.split(' ');
  const syscall = first.replace(/\(.*\)$/, '');
  const hint = code === 'ESRCH' ? ' — the target process has exited' : '';
  const err = errnoError(code, syscall, text) as NsExecError;
  err.message = `podns-helper exec: ${step}: ${code} (${text})${hint}`;
  if (rest.length > 0) err.path = rest.join(' ');
  err.exitCode = exitCode;
  return err;
}

function openPidfd(pid: number): number {
  if (!(Number.isSafeInteger(pid) && pid > 0)) fail(`target.pid must be a positive integer, got ${pid}`);
  try {
    return native.pidfdOpen(pid);
  } catch (err) {
    if (isErrno(err, 'ESRCH')) throw errnoError('ESRCH', 'pidfd_open', `target process ${pid} does not exist`, String(pid));
    throw err;
  }
}

function collect(stream: Readable | null | undefined): Promise<string> | undefined {
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Start the program; see nsExec for the one-call form. */
export function startNsExec(o: NsExecOptions): NsExecHandle {
  const helper = executable(helperPath);
  const stdio = o.stdio ?? 'inherit';
  const base: NsExecStdioEntry[] = typeof stdio === 'string' ? [stdio, stdio, stdio] : [...stdio];
  if (base.length !== 3) fail('stdio must be a string or an array of 3 entries');

  let ownedPidfd: number | undefined;
  let pidfd: number | undefined;
  const t = o.target;
  if ('pid' in t) pidfd = ownedPidfd = openPidfd(t.pid);
  else if ('pidfd' in t) {
    if (!(Number.isSafeInteger(t.pidfd) && t.pidfd >= 0)) fail(`target.pidfd must be a file descriptor, got ${t.pidfd}`);
    pidfd = t.pidfd;
  }

  // The helper's fds: 0-2 the program's stdio, then the pidfd (Node dup2()s it to this index),
  // then a pipe on which the helper reports a failure to start. The helper marks both
  // close-on-exec again, so the program inherits only 0-2.
  const spawnStdio: Array<NsExecStdioEntry> = [...base];
  let targetFd: number | undefined;
  if (pidfd !== undefined) {
    targetFd = spawnStdio.length;
    spawnStdio.push(pidfd);
  }
  const errFd = spawnStdio.length;
  spawnStdio.push('pipe');

  let child: ChildProcess;
  try {
    const args = helperExecArgs(o, targetFd, errFd);
    const opts: SpawnOptions = { stdio: spawnStdio, killSignal: 'SIGTERM' };
    if (o.signal) opts.signal = o.signal;
    child = spawn(helper, args, { ...opts, argv0: HELPER_ARGV0 });
  } finally {
    // The helper has its own copy now (or never started); ours must not outlive this call.
    if (ownedPidfd !== undefined) closeSync(ownedPidfd);
  }

  const errStream = child.stdio[errFd] as Readable | null;
  const errText = collect(errStream) ?? Promise.resolve('');
  const stdout = base[1] === 'pipe' ? collect(child.stdout) : undefined;
  const stderr = base[2] === 'pipe' ? collect(child.stderr) : undefined;
  if (o.input !== undefined) {
    if (base[0] !== 'pipe' || !child.stdin) fail('input needs stdio[0] to be \'pipe\'');
    const stdin: Writable = child.stdin;
    stdin.on('error', () => {}); // EPIPE when the program does not read its input: not our failure
    stdin.end(o.input);
  }

  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => {
      resolve(code ?? (sig ? 128 + (osConstants.signals[sig] ?? 0) : 125));
    });
  });

  const result = (async (): Promise<NsExecResult> => {
    const [code, errLine, out, err] = await Promise.all([exited, errText, stdout, stderr]);
    const line = errLine.split('\n').find((l) => l.startsWith('error '));
    if (line !== undefined) throw startError(line, code);
    const r: NsExecResult = { code };
    if (out !== undefined) r.stdout = out;
    if (err !== undefined) r.stderr = err;
    return r;
  })();
  return { child, result };
}

/**
 * Run argv in the target's namespaces and wait for it.
 * Resolves with the program's exit status (a non-zero status is a result, not an error).
 * Rejects with an ErrnoError (plus exitCode 125/126/127) when the program could not be started:
 * target gone (ESRCH), namespace file missing (ENOENT), program not found (ENOENT from execvp)...
 */
export async function nsExec(o: NsExecOptions): Promise<NsExecResult> {
  const h = startNsExec(o);
  if (o.input === undefined && h.child.stdin) h.child.stdin.end();
  return h.result;
}
