// Small helpers for the native tests: read the kernel's view of processes from /proc, and hold a child
// process alive for exactly as long as a test needs it (no sleeps).
import * as fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import { native, type SpawnOptions, type WaitStatus } from '../../src/native/index.js';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  session: number;
}

/** /proc/PID/stat, or undefined when the process is gone (reaped). */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: it ends at the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    session: Number(rest[3]),
  };
}

/** Every process whose parent is `ppid`, zombies included. */
export function childrenOf(ppid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st !== undefined && st.ppid === ppid) out.push(st);
  }
  return out;
}

/** A field of /proc/PID/status, e.g. 'NSpid', 'VmRSS', 'SigIgn'. */
export function statusField(pid: number | 'self', field: string): string {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`/proc/${pid}/status has no ${field}`);
  return line.slice(field.length + 1).trim();
}

/** Polls until cond() holds. The limit only keeps a broken build from hanging the run; it asserts nothing. */
export async function waitFor(what: string, cond: () => boolean, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads a blocking fd until EOF. */
export function readAll(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface Held {
  pid: number;
  /** Lets the child end (EOF on its stdin) and reaps it. Idempotent. */
  release(): WaitStatus | undefined;
}

/**
 * Starts /bin/cat (with the addon's spawn) reading a pipe only we can write to: it lives until release().
 * Released again at teardown, so a failing assertion leaves nothing running.
 */
export function hold(t: ExecutionContext, opts: Partial<SpawnOptions> = {}): Held {
  const [r, w] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({ path: '/bin/cat', argv: ['cat'], ...opts, fds: [[0, r], ...(opts.fds ?? [])] });
  } catch (err) {
    fs.closeSync(w);
    throw err;
  } finally {
    fs.closeSync(r);
  }
  let status: WaitStatus | undefined;
  let released = false;
  const held: Held = {
    pid,
    release() {
      if (!released) {
        released = true;
        fs.closeSync(w);
        status = native.waitpid(pid);
      }
      return status;
    },
  };
  t.teardown(() => {
    held.release();
  });
  return held;
}
