// The files of a container's CRI log, as the shim's writer leaves them (native/helper/crilog.h), newest first:
//   current.log, current.log.1 ... current.log.A      the running workload's
//   previous.log, previous.log.1 ... previous.log.B   the run before the last restart
// A rotation moves each file one number up and brings in a new, empty current.log, every name there at every
// step (the empty file moves down the list by exchanges: crilog.c); a restart links current.log* to
// previous.log* (newest first), unlinks current.log.1.. and renames a new file over current.log, so no
// name is missing there either (plain renames, with a gap meanwhile, where hard links fail). Reading them safely means: open every file of a run and check that
// no rotation happened meanwhile (each name still leads to the inode we hold), else try again; and read
// from the end, in chunks, for --tail, never a whole file.
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors.js';

export type LogRun = 'current' | 'previous';

export function logFileName(run: LogRun, k: number): string {
  return k === 0 ? `${run}.log` : `${run}.log.${k}`;
}

export interface LogFile {
  fd: number;
  ino: number;
  dev: number;
  /** the size when opened: where reading this file stops (a rotated file no longer grows) */
  end: number;
}

const CHUNK = 64 * 1024;
// a 1 ms pause between tries while the shim is in the middle of a rotation
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
const TRIES = 200;

export function closeFiles(files: LogFile[]): void {
  for (const f of files) closeSync(f.fd);
}

function openFile(path: string): LogFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  const st = fstatSync(fd);
  return { fd, ino: st.ino, dev: st.dev, end: st.size };
}

/** Whether `path` is the file f is open on (false when path is gone). */
export function sameInode(path: string, f: LogFile): boolean {
  try {
    const st = statSync(path);
    return st.ino === f.ino && st.dev === f.dev;
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
    throw err;
  }
}

/** The numbers of this run's files in the directory, ascending (0: the newest, `current.log`). */
function fileNumbers(dir: string, run: LogRun): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const prefix = `${run}.log`;
  const ks: number[] = [];
  for (const n of names) {
    if (n === prefix) ks.push(0);
    else if (n.startsWith(prefix + '.') && /^[1-9]\d{0,8}$/.test(n.slice(prefix.length + 1))) ks.push(Number(n.slice(prefix.length + 1)));
  }
  return ks.sort((x, y) => x - y);
}

/**
 * The files of one run, oldest first, opened. A consistent set: numbered 0..n-1 and, after opening, every
 * name still leads to the file opened under it, so no rotation ran in between (that would show one file
 * twice or miss one). A gap that stays (a watcher killed in the middle of a rotation) is taken as it is
 * on the last try. An empty list when the run has no file (no restart yet; a directory that is gone).
 */
export function openRun(dir: string, run: LogRun): LogFile[] {
  for (let attempt = 0; ; attempt++) {
    const last = attempt === TRIES - 1;
    if (attempt > 2) Atomics.wait(PAUSE, 0, 0, 1);
    const ks = fileNumbers(dir, run);
    if (ks.length === 0) {
      // current.log is missing only for a moment of a restart without hard links (crilog.c's fallback)
      if (run === 'current' && attempt < 3 && dirExists(dir)) continue;
      return [];
    }
    if (!last && !ks.every((k, i) => k === i)) continue; // a rotation is renaming right now
    const files: LogFile[] = [];
    const names: string[] = [];
    let ok = true;
    for (let i = ks.length - 1; i >= 0 && ok; i--) {
      const name = join(dir, logFileName(run, ks[i]!));
      const f = openFile(name);
      if (f !== undefined) { files.push(f); names.push(name); } else if (!last) ok = false;
    }
    if (last) return files;
    for (let i = 0; i < files.length && ok; i++) ok = sameInode(names[i]!, files[i]!);
    if (ok && fileNumbers(dir, run).length !== ks.length) ok = false;
    if (ok) return files;
    closeFiles(files);
  }
}

function dirExists(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** A position in a list of files (oldest first). */
export interface LogPos { file: number; offset: number }

function before(a: LogPos, b: LogPos): boolean {
  return a.file < b.file || (a.file === b.file && a.offset < b.offset);
}

/** The stream (0 stdout, 1 stderr) and tag of a CRI entry starting at buf[a]; undefined when malformed. */
function header(buf: Buffer, a: number, b: number): { stream: 0 | 1; tag: 'F' | 'P' } | undefined {
  const sp = buf.indexOf(32, a);
  if (sp < 0 || sp + 10 > b) return undefined;
  const s = buf.toString('latin1', sp + 1, sp + 10); // "stdout F "
  const stream = s.startsWith('stdout ') ? 0 : s.startsWith('stderr ') ? 1 : -1;
  if (stream < 0 || s[8] !== ' ' || (s[7] !== 'F' && s[7] !== 'P')) return undefined;
  return { stream: stream as 0 | 1, tag: s[7] as 'F' | 'P' };
}

interface BackEntry { pos: LogPos; stream: 0 | 1; tag: 'F' | 'P' }

const HEAD = 64; // a CRI entry's time, stream and tag fit in this many bytes

/**
 * The entries of the files, from the end of the last file to the start of the first, with their positions:
 * chunks read backwards, keeping of an entry that spans chunks only its first bytes (the header is all we
 * need). `ends[i]` is where file i stops.
 */
function* backwards(files: LogFile[], ends: number[]): Generator<BackEntry> {
  const chunk = Buffer.alloc(CHUNK);
  for (let i = files.length - 1; i >= 0; i--) {
    let pos = ends[i]!;
    let entryEnd = pos; // the entry being looked at ends here (its '\n', or the file's end)
    let head = Buffer.alloc(0); // first bytes of that entry found so far, when it began in a later chunk
    const emit = (start: number, first: Buffer): BackEntry | undefined => {
      if (entryEnd <= start) return undefined;
      const h = header(first, 0, first.length);
      return h ? { pos: { file: i, offset: start }, ...h } : undefined;
    };
    while (pos > 0) {
      const n = Math.min(CHUNK, pos);
      pos -= n;
      readFull(files[i]!.fd, chunk, n, pos);
      let j = n; // chunk[.., j) belongs to the entry ending at entryEnd
      for (;;) {
        const k = j > 0 ? chunk.lastIndexOf(10, j - 1) : -1;
        if (k < 0) break;
        const first = j === n && n - (k + 1) < HEAD ? Buffer.concat([chunk.subarray(k + 1, n), head]) : chunk.subarray(k + 1, j);
        const e = emit(pos + k + 1, first.subarray(0, HEAD));
        if (e) yield e;
        entryEnd = pos + k;
        head = Buffer.alloc(0);
        j = k;
      }
      head = Buffer.from(j === n && n < HEAD ? Buffer.concat([chunk.subarray(0, n), head]).subarray(0, HEAD) : chunk.subarray(0, Math.min(j, HEAD)));
    }
    const e = emit(0, head);
    if (e) yield e;
  }
}

/** Where the last whole entry of a file ends (after its newline): a piece after it is still being written. */
export function lastEntryEnd(f: LogFile, end: number): number {
  const chunk = Buffer.alloc(4096);
  let pos = end;
  while (pos > 0) {
    const n = Math.min(chunk.length, pos);
    pos -= n;
    readFull(f.fd, chunk, n, pos);
    const k = chunk.lastIndexOf(10, n - 1);
    if (k >= 0) return pos + k + 1;
  }
  return 0;
}

function readFull(fd: number, buf: Buffer, n: number, pos: number): void {
  for (let off = 0; off < n;) {
    const k = readSync(fd, buf, off, n - off, pos + off);
    if (k === 0) { buf.fill(0, off, n); return; }
    off += k;
  }
}

/**
 * How far back, beyond the lines wanted, --tail looks for a stream whose last entry it has not met: that
 * entry may be a P piece of a line still open (being written, or cut off), which must be shown or followed
 * from its first piece. Bounds the time for a stream that wrote nothing for long (a `yes` has no stderr).
 */
const OPEN_LINE_WINDOW = 4 * 1024 * 1024;

/**
 * Where each stream's share of the last `tail` lines starts, and how many lines read forward from there
 * come before them. Lines come out in the order of their F entries (a P entry continues in the stream's
 * next entry), so counting F entries from the end finds the lines; then the lines still open (their first
 * P pieces lie further back) are followed back to their start, per stream, skipping the other stream's
 * older entries. A stream whose last entry is a P piece has a line open at the end: with `flush` it is a
 * line of its own, shown last (as LineAssembler.flush gives it); otherwise its pieces are kept to be
 * continued (following). Memory: one chunk, whatever the files' size.
 */
export function tailStarts(files: LogFile[], ends: number[], tail: number, flush: boolean): { starts: (LogPos | undefined)[]; skip: number } {
  const state: ('none' | 'open' | 'closed')[] = ['none', 'none'];
  const starts: (LogPos | undefined)[] = [undefined, undefined];
  // bytes from the end to the start of each file, for the window
  const after: number[] = [];
  for (let i = files.length - 1, sum = 0; i >= 0; i--) { after[i] = sum; sum += ends[i]!; }
  let lines = 0;
  let windowEnd = -1; // bytes from the end where looking for open lines stops
  for (const e of backwards(files, ends)) {
    const s = e.stream;
    if (lines < tail) {
      if (e.tag === 'F') lines++;
      else if (state[s] === 'none' && flush) lines++;
      state[s] = 'open';
      starts[s] = e.pos;
      continue;
    }
    const back = after[e.pos.file]! + ends[e.pos.file]! - e.pos.offset;
    if (windowEnd < 0) windowEnd = back + OPEN_LINE_WINDOW;
    if (state[s] === 'open') {
      if (e.tag === 'P') starts[s] = e.pos;
      else state[s] = 'closed';
    } else if (state[s] === 'none') {
      // this stream's last entry lies before the lines wanted: a P piece there is a line left open
      if (e.tag === 'P') {
        state[s] = 'open';
        starts[s] = e.pos;
        if (flush) lines++;
      } else state[s] = 'closed';
    }
    if (state[0] === 'open' || state[1] === 'open') continue;
    if ((state[0] !== 'none' && state[1] !== 'none') || back > windowEnd) break;
  }
  return { starts, skip: Math.max(0, lines - tail) };
}

/**
 * Reads the files forward from the positions given per stream (undefined: none of that stream), up to
 * `ends`, handing each entry (a file line without its newline) to `entry`. The last file may end in a
 * piece without a newline (being written): an entry only with `lastPartial`.
 */
export function readForward(files: LogFile[], ends: number[], starts: (LogPos | undefined)[], entry: (e: string) => void, lastPartial: boolean): void {
  const live = starts.filter((s): s is LogPos => s !== undefined);
  if (live.length === 0) return;
  const from = live.reduce((a, b) => (before(a, b) ? a : b));
  const chunk = Buffer.alloc(CHUNK);
  for (let i = from.file; i < files.length; i++) {
    let pos = i === from.file ? from.offset : 0;
    let carry = Buffer.alloc(0);
    let carryPos = pos;
    const end = ends[i]!;
    const take = (buf: Buffer, a: number, b: number, at: number): void => {
      const h = header(buf, a, b);
      if (!h) return;
      const st = starts[h.stream];
      if (st === undefined || before({ file: i, offset: at }, st)) return;
      entry(buf.toString('utf8', a, b));
    };
    while (pos < end) {
      const n = readSync(files[i]!.fd, chunk, 0, Math.min(CHUNK, end - pos), pos);
      if (n === 0) break;
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      const base = carryPos;
      let a = 0;
      for (;;) {
        const nl = buf.indexOf(10, a);
        if (nl < 0) break;
        if (nl > a) take(buf, a, nl, base + a);
        a = nl + 1;
      }
      carry = Buffer.from(buf.subarray(a));
      carryPos = base + a;
      pos += n;
    }
    if (carry.length > 0 && (i < files.length - 1 || lastPartial)) take(carry, 0, carry.length, carryPos);
  }
}

/**
 * Reads fd from pos to its current end, handing over each complete entry (a file line without its
 * newline); returns the new position. The bytes after the last newline stay in carry.b for the next call:
 * entries are cut at newline bytes only, so a character split between two reads is decoded whole.
 */
export function drainEntries(fd: number, pos: number, carry: { b: Buffer }, entry: (e: string) => void): number {
  const chunk = Buffer.alloc(CHUNK);
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, pos);
    if (n === 0) return pos;
    pos += n;
    const buf = carry.b.length > 0 ? Buffer.concat([carry.b, chunk.subarray(0, n)]) : chunk.subarray(0, n);
    let a = 0;
    for (;;) {
      const nl = buf.indexOf(10, a);
      if (nl < 0) break;
      entry(buf.toString('utf8', a, nl));
      a = nl + 1;
    }
    carry.b = Buffer.from(buf.subarray(a));
  }
}
