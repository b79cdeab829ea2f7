// The reading side of rotated CRI logs on real files (no container): --tail from the end across files
// gives what reading everything would, the log limits' parser and bounds.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineAssembler, parseLog, type LogLine } from '../../src/container/logs.js';
import { closeFiles, lastEntryEnd, logFileName, openRun, readForward, tailStarts, type LogPos } from '../../src/container/log-files.js';
import {
  DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE, parseLogMaxFiles, parseLogMaxSize, validateLogLimits,
} from '../../src/container/log-limits.js';
import { PodnsError } from '../../src/errors.js';
import { parseSize } from '../../src/util/units.js';

// a small deterministic generator (xorshift), so that a failure can be replayed
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

const TIME = '2026-01-01T00:00:00.000000000Z';

/** Random CRI entries: both streams, long lines in P pieces (some longer than the reader's 64 KiB chunk). */
function entries(seed: number, count: number, endOpen: boolean): string[] {
  const r = rng(seed);
  const out: string[] = [];
  let n = 0;
  const open = [false, false];
  for (let i = 0; i < count; i++) {
    const s = r() < 0.3 ? 1 : 0;
    const name = s === 0 ? 'stdout' : 'stderr';
    const x = r();
    const len = x < 0.05 ? 70000 + Math.floor(r() * 30000) : x < 0.2 ? Math.floor(r() * 20000) : Math.floor(r() * 60);
    const text = `${n++}:` + 'é'.repeat(Math.floor(len / 4)) + 'x'.repeat(len - Math.floor(len / 4));
    const tag = r() < 0.3 ? 'P' : 'F';
    open[s] = tag === 'P';
    out.push(`${TIME} ${name} ${tag} ${tag === 'F' && r() < 0.05 ? '' : text}`);
  }
  // close what is open, unless the test wants a log cut in the middle of a line
  if (!endOpen) {
    if (open[0]) out.push(`${TIME} stdout F end`);
    if (open[1]) out.push(`${TIME} stderr F end`);
  }
  return out;
}

/** Writes the entries as one run's files, cut at random entry boundaries; returns the directory. */
function writeRun(t: { teardown(f: () => void): void }, es: string[], files: number, seed: number, unterminated = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'podns-test-logfiles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = rng(seed);
  const cuts = [...new Set(Array.from({ length: files - 1 }, () => Math.floor(r() * es.length)))].sort((a, b) => a - b);
  const parts: string[][] = [];
  let a = 0;
  for (const c of [...cuts, es.length]) { parts.push(es.slice(a, c)); a = c; }
  parts.forEach((p, i) => {
    const k = parts.length - 1 - i; // the last part is current.log
    const last = k === 0;
    writeFileSync(join(dir, logFileName('current', k)), p.map((e) => e + '\n').join('').slice(0, last && unterminated ? -1 : undefined));
  });
  return dir;
}

function readTail(dir: string, tail: number | undefined, flush: boolean): { lines: LogLine[]; pending: LogLine[] } {
  const files = openRun(dir, 'current');
  try {
    const ends = files.map((f) => f.end);
    if (!flush) ends[ends.length - 1] = lastEntryEnd(files[files.length - 1]!, ends[ends.length - 1]!);
    const all: LogPos = { file: 0, offset: 0 };
    const { starts, skip } = tail === undefined ? { starts: [all, all], skip: 0 } : tailStarts(files, ends, tail, flush);
    const asm = new LineAssembler();
    const lines: LogLine[] = [];
    readForward(files, ends, starts, (e) => { const l = asm.push(e); if (l) lines.push(l); }, flush);
    const rest = asm.flush();
    return flush ? { lines: [...lines, ...rest].slice(skip), pending: [] } : { lines: lines.slice(skip), pending: rest };
  } finally {
    closeFiles(files);
  }
}

test('--tail from the end over rotated files gives the last N lines that reading everything gives', (t) => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const es = entries(seed, 400, false);
    const whole = parseLog(es.join('\n'));
    const dir = writeRun(t, es, 1 + (seed % 5), seed * 7);
    t.deepEqual(readTail(dir, undefined, true).lines, whole, `seed ${seed}: everything`);
    for (const n of [0, 1, 2, 3, 7, 50, 399, 1000]) {
      t.deepEqual(readTail(dir, n, true).lines, n === 0 ? [] : whole.slice(-n), `seed ${seed}: --tail ${n}`);
    }
  }
});

test('following: the tail leaves a line still being written (P pieces, an unterminated entry) to be continued', (t) => {
  for (const seed of [11, 12, 13, 14]) {
    const es = entries(seed, 300, true);
    const dir = writeRun(t, es, 3, seed, true);
    // what a follower has seen once the file is complete: every whole line, and the open pieces pending
    const a = new LineAssembler();
    const whole: LogLine[] = [];
    for (const e of es.slice(0, -1)) { const l = a.push(e); if (l) whole.push(l); }
    const pending = a.flush();
    for (const n of [0, 1, 5, 1000]) {
      const r = readTail(dir, n, false);
      t.deepEqual(r.lines, n === 0 ? [] : whole.slice(-n), `seed ${seed}: -f --tail ${n}`);
      // an open line is carried in whole, from its first piece, whatever N is
      t.deepEqual(r.pending, pending, `seed ${seed}: -f --tail ${n}, pending pieces`);
    }
  }
});

test('--tail on a log cut in the middle of a line: the open pieces come last, as reading everything gives them', (t) => {
  for (const seed of [31, 32, 33, 34, 35]) {
    const es = entries(seed, 300, true);
    const whole = parseLog(es.join('\n'));
    const dir = writeRun(t, es, 3, seed);
    for (const n of [0, 1, 2, 5, 1000]) {
      t.deepEqual(readTail(dir, n, true).lines, n === 0 ? [] : whole.slice(-n), `seed ${seed}: --tail ${n}`);
    }
  }
});

test('openRun lists a run oldest first and nothing for a run that has no file', (t) => {
  const es = entries(21, 50, false);
  const dir = writeRun(t, es, 4, 3);
  const files = openRun(dir, 'current');
  t.true(files.length >= 2);
  t.is(openRun(dir, 'previous').length, 0);
  closeFiles(files);
  t.is(openRun(join(dir, 'gone'), 'current').length, 0);
});

test('a numbering left with a gap (a watcher killed in the middle of a rotation) is read as it is', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podns-test-logfiles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'current.log.2'), `${TIME} stdout F old\n`);
  writeFileSync(join(dir, 'current.log'), `${TIME} stdout F new\n`);
  const files = openRun(dir, 'current');
  t.is(files.length, 2);
  const out: string[] = [];
  readForward(files, files.map((f) => f.end), [{ file: 0, offset: 0 }, { file: 0, offset: 0 }], (e) => out.push(e.slice(-3)), true);
  closeFiles(files);
  t.deepEqual(out, ['old', 'new']);
});

test('log limits: sizes as Kubernetes writes them, kubelet\'s defaults, bounds with one clear line', (t) => {
  t.is(parseSize('10Mi'), 10 * 1024 * 1024);
  t.is(parseSize('10MiB'), 10 * 1024 * 1024);
  t.is(parseSize('512Ki'), 512 * 1024);
  t.is(parseSize('1M'), 1e6);
  t.is(parseSize('1MB'), 1e6);
  t.is(parseSize('65536'), 65536);
  t.is(parseSize('2Gi'), 2 * 2 ** 30);
  for (const bad of ['', '10 Mi', '-1', '1.5Mi', 'Mi', '10mi', '10Xi', '0x10', '10MiBs']) t.is(parseSize(bad), undefined, bad);
  t.deepEqual(validateLogLimits({}), { logMaxSize: DEFAULT_LOG_MAX_SIZE, logMaxFiles: DEFAULT_LOG_MAX_FILES });
  t.is(DEFAULT_LOG_MAX_SIZE, 10 * 1024 * 1024);
  t.is(DEFAULT_LOG_MAX_FILES, 5);
  const e1 = t.throws(() => parseLogMaxSize('10XB'));
  t.is((e1 as PodnsError).code, 'EUSAGE');
  t.regex(e1!.message, /invalid --log-max-size "10XB": give bytes or a size such as 10Mi/);
  t.regex(t.throws(() => parseLogMaxSize('1Ki'))!.message, /use 32768 \(32Ki, a file must hold one whole log line\)/);
  t.regex(t.throws(() => parseLogMaxFiles('1'))!.message, /invalid log max files 1: use 2/);
  t.regex(t.throws(() => parseLogMaxFiles('x'))!.message, /invalid --log-max-files "x"/);
  t.regex(t.throws(() => parseLogMaxFiles('101'))!.message, /to 100/);
  t.is(parseLogMaxFiles('2'), 2);
});
