// Container logs in the CRI format the shim writes (kubelet's, so `crictl logs` tooling reads them too):
//   2026-11-27T04:50:01.123456789Z stdout F text
// F ends a line; P is a piece of a longer line that continues in the next entry of the same stream.
import { closeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PodnsError } from '../errors.js';
import { readPod } from '../pod/store.js';
import { paths, resolveRoot } from '../state/paths.js';
import { chooseContainer } from './choose.js';
import { closeFiles, drainEntries, lastEntryEnd, logFileName, openRun, readForward, sameInode, tailStarts, type LogFile, type LogPos } from './log-files.js';
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

/** Lines to the writers, batched per run of one stream (one write per 64 KiB, not per line). */
class Printer {
  private buf = '';
  private stream: Stream = 'stdout';

  constructor(private readonly out: LogWriters, private readonly timestamps: boolean) {}

  line(l: LogLine): void {
    if (l.stream !== this.stream || this.buf.length >= 64 * 1024) this.flush();
    this.stream = l.stream;
    this.buf += `${this.timestamps ? l.time + ' ' : ''}${l.text}\n`;
  }

  flush(): void {
    if (this.buf === '') return;
    (this.stream === 'stderr' ? this.out.stderr : this.out.stdout).write(this.buf);
    this.buf = '';
  }
}

/**
 * The file written after `f`, opened: the next newer one of its run, or the new run's oldest after a
 * restart. When f is gone altogether (the writer rotated past the cap while we slept: those lines are
 * lost, as kubelet's) the current run's oldest. undefined in the middle of a rotation (try again).
 */
function successor(dir: string, f: LogFile): LogFile | undefined {
  const prev = openRun(dir, 'previous');
  const cur = openRun(dir, 'current');
  const chain = [...prev, ...cur];
  const i = chain.findIndex((c) => c.ino === f.ino && c.dev === f.dev);
  const next = i >= 0 ? chain[i + 1] : cur[0];
  closeFiles(chain.filter((c) => c !== next));
  return next;
}


/**
 * A run's files from the last `tail` lines on (all without tail) to `ends`, as lines. With flush, a line
 * left open at the end (P pieces) comes out last; without, it stays in asm to be continued.
 */
function printRun(files: LogFile[], ends: number[], tail: number | undefined, flush: boolean, asm: LineAssembler, line: (l: LogLine) => void): void {
  const all: LogPos = { file: 0, offset: 0 };
  const { starts, skip } = tail === undefined || tail < 0 ? { starts: [all, all], skip: 0 } : tailStarts(files, ends, tail, flush);
  let k = skip;
  const take = (l: LogLine): void => { if (k > 0) k--; else line(l); };
  readForward(files, ends, starts, (e) => { const l = asm.push(e); if (l) take(l); }, flush);
  if (flush) for (const l of asm.flush()) take(l);
}

/**
 * Prints a container's log: stdout lines to out.stdout, stderr lines to out.stderr, in file order, over
 * the rotated files (log-files.ts). With follow, keeps reading until the container has exited and its
 * log is drained; across a rotation or a restart it finishes the file it holds and goes on with the next.
 */
export async function containerLogs(o: LogsOptions): Promise<void> {
  const root = resolveRoot(o.root);
  const out = o.out ?? { stdout: process.stdout, stderr: process.stderr };
  if (o.tail !== undefined && (!Number.isInteger(o.tail) || o.tail < -1)) {
    throw new PodnsError('EUSAGE', `invalid --tail ${o.tail}: give a number of lines, 0 or more (-1: all)`);
  }
  const rec = readPod({ root, name: o.pod });
  const { name } = chooseContainer(rec, o.container);
  const dir = paths.container(root, o.pod, name);
  const printer = new Printer(out, o.timestamps === true);
  const asm = new LineAssembler();
  const line = (l: LogLine): void => printer.line(l);
  const entry = (e: string): void => { const l = asm.push(e); if (l) line(l); };

  if (o.previous || !o.follow) {
    const files = openRun(dir, o.previous ? 'previous' : 'current');
    if (files.length === 0 && o.previous) {
      throw new PodnsError('ENOPREVIOUS', `container "${name}" in pod "${o.pod}" has no previous run (it has not restarted); drop --previous`);
    }
    try {
      printRun(files, files.map((f) => f.end), o.tail, true, asm, line);
      printer.flush();
    } finally {
      closeFiles(files);
    }
    return;
  }

  // Following: the tail of what is there, then the file being written, and the ones after it.
  let head: LogFile | undefined;
  let pos = 0;
  const carry = { b: Buffer.alloc(0) };
  const files = openRun(dir, 'current');
  if (files.length > 0) {
    const ends = files.map((f) => f.end);
    ends[ends.length - 1] = lastEntryEnd(files[files.length - 1]!, ends[ends.length - 1]!);
    try {
      printRun(files, ends, o.tail, false, asm, line);
    } catch (err) {
      closeFiles(files);
      throw err;
    }
    head = files.pop()!;
    pos = ends[ends.length - 1]!;
    closeFiles(files);
  }
  const poll = o.pollMs ?? 100;
  try {
    for (;;) {
      if (o.signal?.aborted) { printer.flush(); return; }
      // Is it over? Decided before the last read, so everything written before the end is printed.
      const st = readContainerStatus({ root, pod: o.pod, name });
      const ended = st !== undefined && st.state === 'exited';
      if (head === undefined) {
        const fs = openRun(dir, 'current');
        head = fs.shift();
        closeFiles(fs); // taken up again one by one as successors
        pos = 0;
      }
      let atHead = head === undefined;
      if (head !== undefined) {
        pos = drainEntries(head.fd, pos, carry, entry);
        atHead = sameInode(join(dir, logFileName('current', 0)), head);
        if (!atHead) {
          // renamed away (or removed): whatever was written before that is there now; then the next file
          pos = drainEntries(head.fd, pos, carry, entry);
          const next = successor(dir, head);
          if (next !== undefined) {
            if (carry.b.length > 0) { entry(carry.b.toString('utf8')); carry.b = Buffer.alloc(0); }
            closeSync(head.fd);
            head = next;
            pos = 0;
            continue;
          }
        }
      }
      if (ended && atHead) break;
      if (!existsSync(dir)) break; // the container was deleted
      printer.flush();
      await sleep(poll);
    }
    if (carry.b.length > 0) entry(carry.b.toString('utf8'));
    for (const l of asm.flush()) line(l);
    printer.flush();
  } finally {
    if (head !== undefined) closeSync(head.fd);
  }
}
