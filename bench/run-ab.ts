// Container run, A/B: this build against the build before the change, measured in the same run.
//
// The baseline is a git ref (PODNS_BENCH_BASELINE, default c3e5507: main before issue 10). Its tree comes
// from `git archive` into node_modules/.cache/podns-bench-baseline/SHA, and is built there once (node-gyp
// rebuild and tsc, with this checkout's node_modules linked in); later runs reuse it. Each build runs in a
// worker process of its own (ab-worker.ts) with its own state root and bridge, and the two take turns,
// AB BA AB ..., so a drift of the machine during the section hits both alike. Without git history, or when
// the baseline does not build, the section says why and measures nothing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../src/native/index.js';
import { median } from './stats.js';

export const DEFAULT_BASELINE = 'c3e5507';
/** The budget: run may grow by at most this much (median) over the build before the change. */
export const RUN_BUDGET_MS = 0.5;

export interface AbResult {
  ref: string;
  sha: string;
  head?: string;
  base: number[];
  cur: number[];
  /** this build minus the baseline, per round (the two runs of a round are back to back) */
  paired: number[];
}

function git(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('git', ['-C', packageRoot, ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.status === 0 ? r.stdout : r.stderr || String(r.error ?? '')).trim() };
}

/** The baseline's package directory, built; or why there is none. */
export function prepareBaseline(ref: string, log: (s: string) => void): { dir: string; sha: string } | { skipped: string } {
  const rev = git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (!rev.ok || rev.out === '') {
    return { skipped: `baseline "${ref}" is not in this checkout's git history (${rev.out.split('\n')[0] || 'no such commit'}); set PODNS_BENCH_BASELINE=REF` };
  }
  const sha = rev.out;
  const cache = path.join(packageRoot, 'node_modules', '.cache', 'podns-bench-baseline');
  const dir = path.join(cache, sha);
  if (existsSync(path.join(dir, '.built'))) return { dir, sha };

  log(`run A/B: building the baseline ${ref} (${sha.slice(0, 12)}) once, in ${dir}`);
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const logFile = path.join(cache, `${sha}.build.log`);
  const steps: Array<[string, string[]]> = [
    ['git archive', ['git', '-C', packageRoot, 'archive', '--format=tar', '-o', `${work}.tar`, sha]],
    ['tar', ['tar', '-x', '-f', `${work}.tar`, '-C', work]],
    ['node-gyp rebuild', [process.execPath, path.join(packageRoot, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild']],
    ['tsc', [process.execPath, path.join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']],
  ];
  const logText: string[] = [];
  for (const [name, argv] of steps) {
    if (name === 'node-gyp rebuild') symlinkSync(path.join(packageRoot, 'node_modules'), path.join(work, 'node_modules'));
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: work, encoding: 'utf8', maxBuffer: 64 << 20 });
    logText.push(`$ ${name}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    if (r.status !== 0) {
      writeFileSync(logFile, logText.join('\n'));
      rmSync(work, { recursive: true, force: true });
      rmSync(`${work}.tar`, { force: true });
      return { skipped: `the baseline ${ref} (${sha.slice(0, 12)}) did not build (${name} failed; see ${logFile})` };
    }
  }
  rmSync(`${work}.tar`, { force: true });
  writeFileSync(path.join(work, '.built'), `${sha}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return { dir, sha };
}

/** A worker process for one build; ask() sends "run" and waits for its milliseconds. */
function worker(dir: string, root: string, bridge: string, subnet: string) {
  const js = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ab-worker.js');
  const child = spawn(process.execPath, [js, dir, root, bridge, subnet], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error(`run A/B: the worker for ${dir} ended (exit ${child.exitCode ?? child.signalCode})`);
    return r.value;
  };
  return {
    ready: async () => {
      const l = await next();
      if (l !== 'ready') throw new Error(`run A/B: the worker for ${dir} said "${l}"`);
    },
    ask: async (): Promise<number> => {
      child.stdin!.write('run\n');
      const l = await next();
      if (l.startsWith('error ')) throw new Error(`run A/B (${dir}): ${l.slice(6)}`);
      return Number(l);
    },
    close: async () => {
      child.stdin!.end();
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.on('close', r));
    },
  };
}

export async function runAb(o: { ref: string; n: number; warmup: number; log: (s: string) => void }): Promise<AbResult | { skipped: string; ref: string }> {
  const b = prepareBaseline(o.ref, o.log);
  if ('skipped' in b) return { ...b, ref: o.ref };
  const head = git(['rev-parse', '--short=12', 'HEAD']);
  const base = worker(b.dir, '/run/podns-bench-ab/base', 'podnsab0', '10.231.0.0/24');
  const cur = worker(packageRoot, '/run/podns-bench-ab/this', 'podnsab1', '10.232.0.0/24');
  const res: AbResult = { ref: o.ref, sha: b.sha, ...(head.ok ? { head: head.out } : {}), base: [], cur: [], paired: [] };
  try {
    await base.ready();
    await cur.ready();
    for (let i = 0; i < o.warmup + o.n; i++) {
      // AB, then BA: neither build always goes first
      const [x, y] = i % 2 === 0 ? [base, cur] : [cur, base];
      const tx = await x.ask();
      const ty = await y.ask();
      const [tb, tc] = x === base ? [tx, ty] : [ty, tx];
      if (i < o.warmup) continue;
      res.base.push(tb);
      res.cur.push(tc);
      res.paired.push(tc - tb);
    }
  } finally {
    await Promise.all([base.close(), cur.close()]);
  }
  return res;
}

export function abDelta(r: AbResult): { delta: number; pairedMedian: number } {
  return { delta: median(r.cur) - median(r.base), pairedMedian: median(r.paired) };
}
