// Container logs in the CRI format the shim writes (kubelet's, so `crictl logs` tooling reads them too):
//   2026-11-27T04:50:01.123456789Z stdout F text
// F ends a line; P is a piece of a longer line that continues in the next entry of the same stream.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, PodnsError } from '../errors.js';
import { readPod } from '../pod/store.js';
import { paths, resolveRoot } from '../state/paths.js';
import { chooseContainer } from './choose.js';
import { readContainerStatus } from './status.js';

export type Stream = 'stdout' | 'stderr';

export interface LogLine {
  /** RFC 3339 with nanoseconds, UTC: when the (first piece of the) line was read */
  time: string;
  stream: Stream;
  /** the line without its newline */
  text: string;
}

const ENTRY = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s;

/** Joins P pieces to whole lines, per stream. Feed entries in file order. */
export class LineAssembler {
  private pending: Partial<Record<Stream, { time: string; text: string }>> = {};

  /** One log file line (without its newline); returns a whole line when this entry completes one. */
  push(entry: string): LogLine | undefined {
    const m = ENTRY.exec(entry);
    if (!m) return undefined;
    const [, time, stream, tag, text] = m as unknown as [string, string, Stream, 'F' | 'P', string];
    const prev = this.pending[stream];
    if (tag === 'P') {
      this.pending[stream] = prev ? { time: prev.time, text: prev.text + text } : { time, text };
      return undefined;
    }
    delete this.pending[stream];
    return prev ? { time: prev.time, stream, text: prev.text + text } : { time, stream, text };
  }

  /** Lines still open at the end (a log cut in the middle of a long line). */
  flush(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const p = this.pending[stream];
      if (p) out.push({ time: p.time, stream, text: p.text });
    }
    this.pending = {};
    return out;
  }
}

export function parseLog(text: string): LogLine[] {
  const a = new LineAssembler();
  const out: LogLine[] = [];
  for (const entry of text.split('\n')) {
    const l = a.push(entry);
    if (l) out.push(l);
  }
  return [...out, ...a.flush()];
}

export interface LogWriters {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export interface LogsOptions {
  root?: string;
  pod: string;
  container?: string;
  /** only the last N lines (before following) */
  tail?: number;
  /** each line prefixed with its RFC 3339 time, as kubectl logs --timestamps */
  timestamps?: boolean;
  /** the log of the run before the last restart */
  previous?: boolean;
  /** keep printing until the container ends */
  follow?: boolean;
  /** poll interval while following, ms */
  pollMs?: number;
  out?: LogWriters;
  /** stop following when this resolves/aborts */
  signal?: AbortSignal;
}

function emit(w: LogWriters, l: LogLine, timestamps: boolean): void {
  (l.stream === 'stderr' ? w.stderr : w.stdout).write(`${timestamps ? l.time + ' ' : ''}${l.text}\n`);
}

function openLog(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Reads from fd at pos to the current end; returns the new position and the complete file lines. */
function readMore(fd: number, pos: number, carry: { s: string }): { pos: number; entries: string[] } {
  const buf = Buffer.alloc(64 * 1024);
  const entries: string[] = [];
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    pos += n;
    carry.s += buf.toString('utf8', 0, n);
    const lines = carry.s.split('\n');
    carry.s = lines.pop()!;
    entries.push(...lines);
  }
  return { pos, entries };
}

function sameFile(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/**
 * Prints a container's log: stdout lines to out.stdout, stderr lines to out.stderr, in file order.
 * With follow, keeps reading until the container has exited and its log is drained; across a restart it
 * finishes the old file and goes on with the new one.
 */
export async function containerLogs(o: LogsOptions): Promise<void> {
  const root = resolveRoot(o.root);
  const out = o.out ?? { stdout: process.stdout, stderr: process.stderr };
  if (o.tail !== undefined && (!Number.isInteger(o.tail) || o.tail < -1)) {
    throw new PodnsError('EUSAGE', `invalid --tail ${o.tail}: give a number of lines, 0 or more (-1: all)`);
  }
  const rec = readPod({ root, name: o.pod });
  const { name } = chooseContainer(rec, o.container);
  const ts = o.timestamps === true;
  if (o.previous) {
    const fd = openLog(paths.containerPreviousLog(root, o.pod, name));
    if (fd === undefined) {
      throw new PodnsError('ENOPREVIOUS', `container "${name}" in pod "${o.pod}" has no previous run (it has not restarted); drop --previous`);
    }
    try {
      const carry = { s: '' };
      const { entries } = readMore(fd, 0, carry);
      if (carry.s !== '') entries.push(carry.s);
      printTail(out, entries, o.tail, ts);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const path = paths.containerLog(root, o.pod, name);
  let fd = openLog(path);
  let pos = 0;
  const carry = { s: '' };
  let asm = new LineAssembler();
  try {
    if (fd !== undefined) {
      const r = readMore(fd, 0, carry);
      pos = r.pos;
      // not following: a last entry without its newline (being written right now) is shown as it is
      if (!o.follow && carry.s !== '') r.entries.push(carry.s);
      asm = printTail(out, r.entries, o.tail, ts, !o.follow);
    }
    if (!o.follow) return;
    const poll = o.pollMs ?? 100;
    for (;;) {
      if (o.signal?.aborted) return;
      // Is it over? Decided before the last read, so everything written before the end is printed.
      const st = readContainerStatus({ root, pod: o.pod, name });
      const ended = st === undefined ? false : st.state === 'exited';
      if (fd === undefined) fd = openLog(path);
      if (fd !== undefined) {
        const r = readMore(fd, pos, carry);
        pos = r.pos;
        for (const e of r.entries) { const l = asm.push(e); if (l) emit(out, l, ts); }
        // rotated by a restart: the old file is complete (the watcher closed it), go on with the new one
        if (!sameFile(fd, path)) {
          const rest = readMore(fd, pos, carry);
          for (const e of rest.entries) { const l = asm.push(e); if (l) emit(out, l, ts); }
          if (carry.s !== '') { const l = asm.push(carry.s); if (l) emit(out, l, ts); carry.s = ''; }
          closeSync(fd);
          fd = openLog(path);
          pos = 0;
          continue;
        }
      }
      if (ended) {
        if (carry.s !== '') { const l = asm.push(carry.s); if (l) emit(out, l, ts); }
        for (const l of asm.flush()) emit(out, l, ts);
        return;
      }
      await sleep(poll);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Prints the last `tail` whole lines of these entries; returns the assembler holding any open piece. */
function printTail(out: LogWriters, entries: string[], tail: number | undefined, ts: boolean, flush = true): LineAssembler {
  const asm = new LineAssembler();
  const lines: LogLine[] = [];
  for (const e of entries) { const l = asm.push(e); if (l) lines.push(l); }
  if (flush) lines.push(...asm.flush());
  const shown = tail === undefined || tail < 0 ? lines : tail === 0 ? [] : lines.slice(-tail);
  for (const l of shown) emit(out, l, ts);
  return asm;
}
