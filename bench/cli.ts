// The podns CLI: the same four operations as whole processes (Node start-up, module loading, the work,
// exit), with `node -e 0` (the start-up floor) and `podns --version` (start-up plus loading the CLI)
// measured in the same loop, so all of them meet the same machine conditions.
//
// Processes are started with the addon's spawn (clone(CLONE_VM|CLONE_VFORK) + execve, as posix_spawn)
// and reaped with waitpid: no libuv fork of this big process, no event-loop latency in the numbers.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { native, packageRoot } from '../src/native/index.js';
import { WORKLOAD } from './library.js';
import { readProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import { since } from './stats.js';

export const CLI_OPS = ['node -e 0', 'podns --version', 'create', 'run', 'exec', 'delete'] as const;
export type CliOp = (typeof CLI_OPS)[number];
export type CliTimes = Record<CliOp, number[]>;

const bin = path.join(packageRoot, 'bin', 'podns.js');

function argvFor(op: CliOp, pod: string, extraNodeArgs: string[] = []): string[] {
  const node = process.execPath;
  switch (op) {
    case 'node -e 0':
      return [node, ...extraNodeArgs, '-e', '0'];
    case 'podns --version':
      return [node, ...extraNodeArgs, bin, '--version'];
    case 'create':
      return [node, ...extraNodeArgs, bin, 'create', pod];
    case 'run':
      return [node, ...extraNodeArgs, bin, 'run', pod, '--name', 'c', '--', ...WORKLOAD];
    case 'exec':
      return [node, ...extraNodeArgs, bin, 'exec', pod, '-c', 'c', '--', '/bin/true'];
    case 'delete':
      return [node, ...extraNodeArgs, bin, 'delete', pod];
  }
}

/** Runs argv to completion; returns its wall time in ms. Output goes to `log` (shown when it fails). */
function runTimed(argv: string[], env: string[], logFd: number, logPath: string): number {
  truncateSync(logPath, 0);
  const start = process.hrtime.bigint();
  const pid = native.spawn({ path: argv[0]!, argv, env, fds: [[1, logFd], [2, logFd]] });
  const st = native.waitpid(pid);
  const ms = since(start);
  if (st.code !== 0) {
    const out = readFileSync(logPath, 'utf8').trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${argv.slice(1).join(' ')} failed (${st.code !== null ? `exit ${st.code}` : `signal ${st.signal}`}): ${out}`);
  }
  return ms;
}

function cliEnv(root: string): string[] {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.PODNS_ROOT = root;
  delete env.NODE_OPTIONS; // nothing injected into the measured processes
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

export function measureCli(root: string, n: number, warmup: number): CliTimes {
  const t = Object.fromEntries(CLI_OPS.map((op) => [op, [] as number[]])) as CliTimes;
  const dir = mkdtempSync(path.join(tmpdir(), 'podns-bench-'));
  const logPath = path.join(dir, 'out.log');
  const logFd = openSync(logPath, 'w');
  const env = cliEnv(root);
  try {
    for (let i = 0; i < warmup + n; i++) {
      const pod = `cli-${i}`;
      for (const op of CLI_OPS) {
        const ms = runTimed(argvFor(op, pod), env, logFd, logPath);
        if (i >= warmup) t[op].push(ms);
      }
    }
  } finally {
    closeSync(logFd);
    rmSync(dir, { recursive: true, force: true });
  }
  return t;
}

/** V8 CPU profiles (node --cpu-prof) of `runs` CLI runs of each operation, summarized per operation. */
export function profileCli(root: string, runs: number): Record<CliOp, ProfileSummary> {
  const dir = mkdtempSync(path.join(tmpdir(), 'podns-bench-prof-'));
  const logPath = path.join(dir, 'out.log');
  const logFd = openSync(logPath, 'w');
  const env = cliEnv(root);
  const out = {} as Record<CliOp, ProfileSummary>;
  try {
    const per: Record<string, string[]> = {};
    for (let i = 0; i < runs; i++) {
      const pod = `cliprof-${i}`;
      for (const op of CLI_OPS) {
        const profDir = path.join(dir, op.replace(/[^a-z0-9]+/gi, '_'));
        runTimed(argvFor(op, pod, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=100']), env, logFd, logPath);
        per[op] = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(profDir, f));
      }
    }
    for (const op of CLI_OPS) out[op] = summarizeProfile((per[op] ?? []).map(readProfile));
  } finally {
    closeSync(logFd);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
