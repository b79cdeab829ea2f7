// npm run bench: every measurement in one run, inside the sandbox (bench/sandbox-run.ts puts it there).
//
//   node dist/bench/run.js [--quick] [--only SECTION,...] [--out FILE] [--no-profile]
//   (--quick: few iterations, scaling up to 100 pods, results to $TMPDIR/podns-bench-quick.json)
//   sections: floor, shell, library, run-ab, limits, cli, image-pull, image-run, memory, scale, cri
//   image-pull, image-run: pull + unpack of a 97 MB 3-layer image from a loopback registry against skopeo+umoci
//   and podman; time to a running container from a stored layered image (bench/image.ts). Alone (--only
//   image-…), their results go to $TMPDIR/podns-bench-image.json unless --out says otherwise.
//   cri: podns's CRI server vs containerd's (bench/cri.ts): pod to running and teardown, memory per pod
//   limits: create + run with a memory limit vs the same without, interleaved in this build (budget +0.3 ms)
//   run-ab: container run of this build against a baseline build (PODNS_BENCH_BASELINE=REF, default
//   c3e5507), interleaved in this run; `npm run bench -- --only run-ab` runs just that (its results go to
//   $TMPDIR/podns-bench-run-ab.json unless --out says otherwise).
//
// Prints a table (median, p95, and the ratio to this run's baseline), the targets with PASS or MISS
// (and by how much, with a profile of where the time goes), and writes bench/results.json.
// The machine is left quiet between sections (settle()): the kernel frees network namespaces
// asynchronously, and a section must not pay for the previous one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { floorPath, helperPath, packageRoot, pausePath, executable } from '../src/native/index.js';
import { deletePod, listPods, oneLine } from './api.js';
import { CLI_OPS, measureCli, profileCli, type CliOp, type CliTimes } from './cli.js';
import { floorExec, floorPod, floorScale, floorShell, type FloorExec, type FloorPod } from './floor.js';
import { measureLibrary, OPS, profileLibrary, type LibraryTimes, type Op, type OpProfile } from './library.js';
import type { ProfileSummary } from './profile.js';
import { abDelta, DEFAULT_BASELINE, RUN_BUDGET_MS, runAb, type AbResult } from './run-ab.js';
import { benchCri, CRI_CLIENTS, CRI_SIDES, type CriBench, type CriClientKind } from './cri.js';
import { limitsDelta, LIMITS_BUDGET_MS, measureLimits, type LimitsTimes } from './limits.js';
import { IMAGE_RUN_BUDGET_MS, IMAGE_RUN_WARMUP, PULL_RSS_BUDGET, measureImageRun, measurePull, prepareImageRun, PULL_WARMUP, pullVerdict, setupImageEnv, type ImageRunTimes, type PullTimes } from './image.js';
import { podMemory, scaleOnce, type PodMemory, type ScaleProfile, type ScaleRun } from './scale.js';
import { fmtKiB, fmtMs, fmtRatio, median, nsToMs, slope, summarize, tenths, type Summary } from './stats.js';
import { machineInfo, netnsAllocated, settle } from './system.js';

const SECTIONS = ['floor', 'shell', 'library', 'run-ab', 'limits', 'cli', 'image-pull', 'image-run', 'memory', 'scale', 'cri'] as const;
type Section = (typeof SECTIONS)[number];

interface Config {
  quick: boolean;
  only: Set<Section>;
  out: string;
  profile: boolean;
  floorPodN: number;
  floorExecN: number;
  shellN: number;
  libN: number;
  libWarmup: number;
  libProfileRuns: number;
  abN: number;
  abWarmup: number;
  cliN: number;
  cliWarmup: number;
  cliProfileRuns: number;
  imagePullN: number;
  imageRunN: number;
  memoryPods: number;
  scaleSizes: number[];
  criN: number;
  criWarmup: number;
  /** kubelet-like polling calls per client and runtime before the timed rounds (bench/cri.ts poll) */
  criPolls: number;
  criMemoryPods: number;
}

function parseArgs(argv: string[]): Config {
  let quick = false;
  let only: Set<Section> = new Set(SECTIONS);
  let out = path.join(packageRoot, 'bench', 'results.json');
  let profile = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--no-profile') profile = false;
    else if (a === '--only' && argv[i + 1] !== undefined) {
      const list = argv[++i]!.split(',').map((s) => s.trim()).filter(Boolean);
      for (const s of list) {
        if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section "${s}"; sections: ${SECTIONS.join(', ')}`);
      }
      only = new Set(list as Section[]);
    } else if (a === '--out' && argv[i + 1] !== undefined) out = path.resolve(argv[++i]!);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: npm run bench -- [--quick] [--only ${SECTIONS.join(',')}] [--out FILE] [--no-profile]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument "${a}"; see npm run bench -- --help`);
  }
  // Only the A/B: its own default file, so that bench/results.json stays the latest full run.
  if (only.size === 1 && only.has('run-ab') && !argv.includes('--out')) out = path.join(tmpdir(), 'podns-bench-run-ab.json');
  if (only.size === 1 && only.has('limits') && !argv.includes('--out')) out = path.join(tmpdir(), 'podns-bench-limits.json');
  if ([...only].every((s) => s.startsWith('image-')) && !argv.includes('--out')) out = path.join(tmpdir(), 'podns-bench-image.json');
  if (only.size === 1 && only.has('cri') && !argv.includes('--out')) out = path.join(tmpdir(), 'podns-bench-cri.json');
  // Full run: about 5 minutes on 2 cores; most of it is the kernel deleting links (an RCU barrier each).
  return quick
    ? { quick, only, out: argv.includes('--out') ? out : path.join(tmpdir(), 'podns-bench-quick.json'), profile,
      floorPodN: 40, floorExecN: 200, shellN: 8, libN: 15, libWarmup: 3, libProfileRuns: 3, abN: 20, abWarmup: 3, cliN: 5, cliWarmup: 1,
      cliProfileRuns: 1, imagePullN: 3, imageRunN: 15, memoryPods: 10, scaleSizes: [1, 10, 100], criN: 8, criWarmup: 4, criPolls: 400, criMemoryPods: 5 }
    : { quick, only, out, profile,
      floorPodN: 200, floorExecN: 1000, shellN: 40, libN: 150, libWarmup: 10, libProfileRuns: 10, abN: 150, abWarmup: 10, cliN: 30, cliWarmup: 3,
      cliProfileRuns: 3, imagePullN: 9, imageRunN: 100, memoryPods: 50, scaleSizes: [1, 100, 500, 1000], criN: 40, criWarmup: 8, criPolls: 3000, criMemoryPods: 20 };
}

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

/**
 * How idle the CPUs were before each section, and how many network namespaces the kernel still held: a
 * busy machine, or one still tearing down the namespaces of the section before, makes every number
 * suspect. (A few namespaces more than at the start are the sandbox's and the bench's own.)
 */
const quiet: Array<{ section: string; idle: number; waitedMs: number; netns?: number }> = [];
const netnsAtStart = netnsAllocated();
const NETNS_SLACK = 8;
async function quietBefore(section: string): Promise<void> {
  const netnsMax = netnsAtStart === undefined ? undefined : netnsAtStart + NETNS_SLACK;
  const q = await settle(netnsMax === undefined ? {} : { netnsMax });
  quiet.push({ section, idle: q.idle, waitedMs: q.waitedMs, ...(q.netns !== undefined ? { netns: q.netns } : {}) });
  if (q.idle < 0.9) log(`warning: the CPUs are busy (only ${(q.idle * 100).toFixed(0)}% idle) before ${section}: its numbers are not reliable`);
  if (netnsMax !== undefined && q.netns !== undefined && q.netns > netnsMax) {
    log(`warning: ${q.netns - (netnsAtStart ?? 0)} network namespaces of earlier sections were still being torn down before ${section}: its numbers are not reliable`);
  }
}

// ---- the table ---------------------------------------------------------------------------------

interface Row {
  group: string;
  name: string;
  summary: Summary;
  /** the row this one is compared with, and the ratio of the medians */
  vs?: { name: string; ratio: number };
  note?: string;
}

const rows: Row[] = [];
const byKey = new Map<string, Row>();

/** How the ratio column names a baseline's group (the group headings stay long). */
const SHORT_GROUP: Record<string, string> = {
  'floor (C, raw syscalls + rtnetlink)': 'floor',
  'shell path (unshare, ip, nsenter)': 'shell path',
  'podns CLI (whole processes)': '',
};
const CRI_GROUPS: Record<CriClientKind, string> = {
  lean: 'CRI: podns vs containerd 1.6 (lean client: node:http2 + protobuf, as grpc-go; interleaved)',
  'grpc-js': 'CRI: podns vs containerd 1.6 (@grpc/grpc-js client, ~0.2-0.4 ms more per RPC on both; same run, interleaved)',
};
for (const g of Object.values(CRI_GROUPS)) SHORT_GROUP[g] = '';
const CRI_FLOOR_GROUP = 'CRI no-op floor: Version, per client and runtime (in every RPC of both sides)';
const AB_GROUP = `container run A/B (interleaved; budget +${RUN_BUDGET_MS} ms)`;
SHORT_GROUP[AB_GROUP] = '';

function addRow(group: string, name: string, ms: number[], vsKey?: string, note?: string): Row {
  const r: Row = { group, name, summary: summarize(ms) };
  if (vsKey !== undefined) {
    const base = byKey.get(vsKey);
    if (base) r.vs = { name: `${SHORT_GROUP[base.group] ?? base.group} ${base.name}`.trim(), ratio: r.summary.median / base.summary.median };
  }
  if (note !== undefined) r.note = note;
  rows.push(r);
  byKey.set(`${group}/${name}`, r);
  return r;
}

function printTable(): string {
  const head = ['', 'median', 'p95', 'n', 'ratio', 'to (baseline)'];
  const lines: string[][] = [];
  let group = '';
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      lines.push([`[${group}]`, '', '', '', '', '']);
    }
    lines.push([`  ${r.name}`, fmtMs(r.summary.median), fmtMs(r.summary.p95), String(r.summary.n),
      r.vs ? fmtRatio(r.vs.ratio) : '', r.vs ? r.vs.name : (r.note ?? '')]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [fmt(head), ...lines.map(fmt)].join('\n') + '\n';
}

// ---- targets -----------------------------------------------------------------------------------

interface Target {
  name: string;
  rule: string;
  value: string;
  limit: string;
  pass: boolean;
  /** how far from the limit, in words ("12% over", "31% under") */
  margin: string;
  /** where the time goes, when missed (or always, for the record) */
  explain?: string[];
}

const targets: Target[] = [];

function target(name: string, rule: string, value: number, limit: number, unit: (x: number) => string, lowerIsBetter = true): Target {
  const pass = lowerIsBetter ? value <= limit : value >= limit;
  const off = lowerIsBetter ? value / limit - 1 : limit / value - 1;
  const margin = pass ? `${Math.abs(off * 100).toFixed(0)}% inside` : `missed by ${(off * 100).toFixed(0)}%`;
  const t: Target = { name, rule, value: unit(value), limit: unit(limit), pass, margin };
  targets.push(t);
  return t;
}

function profileLines(cpu: ProfileSummary | undefined, kernel?: { samples: number; stacks: Array<{ stack: string; count: number }> }, n = 6): string[] {
  const out: string[] = [];
  if (cpu) {
    out.push(`V8 CPU profile, per run (${fmtMs(cpu.sampledMs)} sampled of ${fmtMs(cpu.totalMs)} profiled):`);
    out.push('  podns functions, inclusive time:');
    for (const f of cpu.inclusive.slice(0, n + 2)) out.push(`  ${fmtMs(f.ms).padStart(8)} ${f.pct.toFixed(0).padStart(3)}%  ${f.name}`);
    out.push('  self time, natives and syscalls counted for the podns function calling them:');
    for (const f of cpu.folded.slice(0, n)) out.push(`  ${fmtMs(f.ms).padStart(8)} ${f.pct.toFixed(0).padStart(3)}%  ${f.name}`);
  }
  if (kernel && kernel.samples > 0) {
    const total = kernel.stacks.reduce((a, s) => a + s.count, 0);
    out.push(`kernel: where the threads were (${kernel.samples} samples; share of all thread samples):`);
    for (const s of kernel.stacks.slice(0, n)) out.push(`  ${((100 * s.count) / Math.max(1, total)).toFixed(0).padStart(3)}%  ${s.stack}`);
  }
  return out;
}

// ---- cleanup -----------------------------------------------------------------------------------

async function removeAllPods(root: string): Promise<void> {
  let pods: Array<{ name: string }> = [];
  try {
    pods = listPods({ root });
  } catch {
    return;
  }
  for (const p of pods) {
    try {
      await deletePod({ root, name: p.name, grace: 1, force: true });
    } catch (err) {
      log(`cleanup: pod ${p.name}: ${oneLine(err)}`);
    }
  }
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cfg = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the bench makes namespaces, bridges and veths: run it as root (npm run bench)');
  if (process.env.PODNS_SANDBOX !== '1') {
    throw new Error('not inside the bench sandbox: run it through `npm run bench`, which makes a fresh network and mount namespace');
  }
  executable(floorPath);
  executable(pausePath);
  executable(helperPath);
  const root = '/run/podns-bench';
  process.env.PODNS_ROOT = root;
  const machine = machineInfo();
  const started = Date.now();
  const has = (s: Section) => cfg.only.has(s);
  const results: Record<string, unknown> = {};
  const profiles: Record<string, unknown> = {};
  log(`${cfg.quick ? 'quick' : 'full'} run on ${machine.cpuModel} x${machine.nproc}, kernel ${machine.kernel}, node ${machine.node}`);

  let libProfiles: Record<Op, OpProfile> | undefined;
  let cliProfiles: Record<CliOp, ProfileSummary> | undefined;
  let floorPodOff: FloorPod | undefined;
  let scaleFloor: { on?: FloorPod; off?: FloorPod } = {};
  let scaleRuns: ScaleRun[] = [];
  let scaleProf: ScaleProfile[] | undefined;
  let memory: PodMemory | undefined;
  let ab: AbResult | undefined;
  let abSkipped: string | undefined;
  let lim: LimitsTimes | undefined;
  let pull: PullTimes | undefined;
  let pullLayerSizes: number[] = [];
  let imageRun: ImageRunTimes | undefined;
  let cri: CriBench | undefined;
  let criSkipped: string | undefined;

  try {
    // -- 1. the kernel floor ----------------------------------------------------------------------
    if (has('floor') || has('library') || has('shell')) {
      await quietBefore('floor pod (IPv6 off)');
      log(`floor: pod x${cfg.floorPodN} (IPv6 off, the baseline), IPv6 on, holder exec'ing the pause; exec x${cfg.floorExecN}`);
      floorPodOff = floorPod(cfg.floorPodN, { ipv6: false });
      await quietBefore('floor pod (IPv6 on)');
      const on = floorPod(cfg.floorPodN, { ipv6: true });
      await quietBefore('floor pod (pause)');
      const withPause = floorPod(Math.ceil(cfg.floorPodN / 3), { ipv6: false, pause: true });
      await quietBefore('floor exec');
      const ex: FloorExec = floorExec(cfg.floorExecN);
      addRow('floor (C, raw syscalls + rtnetlink)', 'pod create', nsToMs(floorPodOff.create_ns), undefined, 'BASELINE (IPv6 off, as podns pods)');
      addRow('floor (C, raw syscalls + rtnetlink)', '  clone(NEWNET|NEWIPC|NEWUTS)', nsToMs(floorPodOff.step_clone_ns ?? []), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('floor (C, raw syscalls + rtnetlink)', '  netlink socket in the pod', nsToMs(floorPodOff.step_socket_ns ?? []), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('floor (C, raw syscalls + rtnetlink)', '  veth (peer in pod, on bridge)', nsToMs(floorPodOff.step_veth_ns ?? []), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('floor (C, raw syscalls + rtnetlink)', '  lo+eth0 up, addr, route', nsToMs(floorPodOff.step_inpod_ns ?? []), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('floor (C, raw syscalls + rtnetlink)', 'pod delete', nsToMs(floorPodOff.delete_ns), undefined, 'BASELINE (veth delete = rcu_barrier)');
      addRow('floor (C, raw syscalls + rtnetlink)', 'pod create, IPv6 on', nsToMs(on.create_ns), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('floor (C, raw syscalls + rtnetlink)', 'pod create, holder execs pause', nsToMs(withPause.create_ns), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('floor (C, raw syscalls + rtnetlink)', 'fork+setns+exec (to exec)', nsToMs(ex.exec_ns), undefined, 'BASELINE');
      addRow('floor (C, raw syscalls + rtnetlink)', 'fork+setns+exec /bin/true+wait', nsToMs(ex.full_ns), undefined, 'BASELINE');
      results.floor = { pod: floorSummary(floorPodOff), podIpv6On: floorSummary(on), podWithPause: floorSummary(withPause),
        exec: { exec: summarize(nsToMs(ex.exec_ns)), full: summarize(nsToMs(ex.full_ns)) } };
    }

    // -- 2. the shell path ------------------------------------------------------------------------
    if (has('shell') || has('library')) {
      await quietBefore('shell path');
      log(`shell: unshare + ip + nsenter, x${cfg.shellN}`);
      // as a script would: seven commands, IPv6 left as it is (disabling it would add a command, and time)
      const sh = floorShell(cfg.shellN);
      addRow('shell path (unshare, ip, nsenter)', 'pod create', nsToMs(sh.create_ns), 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow('shell path (unshare, ip, nsenter)', 'pod delete', nsToMs(sh.delete_ns), 'floor (C, raw syscalls + rtnetlink)/pod delete');
      results.shell = floorSummary(sh);
    }

    // -- 3. the library ---------------------------------------------------------------------------
    let lib: LibraryTimes | undefined;
    if (has('library')) {
      await quietBefore('library');
      log(`library: create, run, exec, delete x${cfg.libN} (+${cfg.libWarmup} warm-up)`);
      lib = await measureLibrary(root, cfg.libN, cfg.libWarmup);
      const g = 'podns library';
      addRow(g, 'create (bridge pod)', lib.create, 'floor (C, raw syscalls + rtnetlink)/pod create');
      addRow(g, 'create, vs the shell path', lib.create, 'shell path (unshare, ip, nsenter)/pod create');
      addRow(g, 'run (until exec\'d)', lib.run, 'floor (C, raw syscalls + rtnetlink)/fork+setns+exec (to exec)');
      addRow(g, 'exec true', lib.exec, 'floor (C, raw syscalls + rtnetlink)/fork+setns+exec /bin/true+wait');
      addRow(g, 'delete (with its container)', lib.delete, 'floor (C, raw syscalls + rtnetlink)/pod delete');
      results.library = Object.fromEntries(OPS.map((op) => [op, summarize(lib![op])]));
      if (cfg.profile) {
        await quietBefore('library profile');
        log(`library: the same under the CPU profiler and the kernel stack sampler, x${cfg.libProfileRuns}`);
        libProfiles = await profileLibrary(root, cfg.libProfileRuns);
        profiles.library = libProfiles;
      }
    }

    // -- 3b. container run, this build against the build before the change -------------------------
    if (has('run-ab')) {
      const ref = process.env.PODNS_BENCH_BASELINE || DEFAULT_BASELINE;
      await quietBefore('run A/B');
      log(`run A/B: container run, this build and the baseline ${ref} in turn, x${cfg.abN} each (+${cfg.abWarmup} warm-up)`);
      const r = await runAb({ ref, n: cfg.abN, warmup: cfg.abWarmup, log });
      if ('skipped' in r) {
        abSkipped = r.skipped;
        log(`run A/B: skipped: ${r.skipped}`);
        results.runAb = { ref, skipped: r.skipped };
      } else {
        ab = r;
        const g = AB_GROUP;
        const baseName = `run, baseline ${r.ref === r.sha.slice(0, r.ref.length) ? '' : `${r.ref} `}${r.sha.slice(0, 7)}`;
        addRow(g, baseName, r.base, undefined, 'BASELINE (the build before the change)');
        addRow(g, `run, this build${r.head ? ` ${r.head.slice(0, 7)}` : ''}`, r.cur, `${g}/${baseName}`);
        const d = abDelta(r);
        results.runAb = { ref: r.ref, baseline: r.sha, head: r.head, base: summarize(r.base), this: summarize(r.cur),
          deltaMedianMs: d.delta, deltaP95Ms: summarize(r.cur).p95 - summarize(r.base).p95, pairedMedianMs: d.pairedMedian, budgetMs: RUN_BUDGET_MS };
      }
    }

    // -- 3c. create + run with a memory limit vs without, this build -------------------------------
    if (has('limits')) {
      await quietBefore('limits');
      log(`limits: create + run with --memory 64m (pod and container) and without, in turn, x${cfg.abN} each (+${cfg.abWarmup} warm-up)`);
      lim = await measureLimits(root, cfg.abN, cfg.abWarmup);
      const g = `create + run, memory limit vs none (interleaved; budget +${LIMITS_BUDGET_MS} ms)`;
      addRow(g, 'create, no limit', lim.createPlain, undefined, 'BASELINE');
      addRow(g, 'create, --memory 64m', lim.createLimited, `${g}/create, no limit`);
      addRow(g, 'run, no limit', lim.runPlain, undefined, 'BASELINE');
      addRow(g, 'run, --memory 64m', lim.runLimited, `${g}/run, no limit`);
      const d = limitsDelta(lim);
      results.limits = { createPlain: summarize(lim.createPlain), createLimited: summarize(lim.createLimited), runPlain: summarize(lim.runPlain),
        runLimited: summarize(lim.runLimited), deltaMedianMs: d.delta, pairedMedianMs: d.pairedMedian, budgetMs: LIMITS_BUDGET_MS };
    }

    // -- 3d. the CRI: podns's server vs containerd's, same client, interleaved -----------------------
    if (has('cri')) {
      await quietBefore('cri');
      const r = await benchCri({ n: cfg.criN, warmup: cfg.criWarmup, polls: cfg.criPolls, memoryPods: cfg.criMemoryPods, log });
      if ('skipped' in r) {
        criSkipped = r.skipped;
        log(`cri: skipped: ${r.skipped}`);
        results.cri = { skipped: r.skipped };
      } else {
        cri = r;
        for (const client of CRI_CLIENTS) {
          const g = CRI_GROUPS[client];
          for (const [what, key] of [['pod to running (run+create+start)', 'up'], ['teardown (stop+remove)', 'down'], ['end to end', 'total']] as const) {
            addRow(g, `containerd ${what}`, r.times[client].containerd[key], undefined, 'BASELINE');
            addRow(g, `podns ${what}`, r.times[client].podns[key], `${g}/containerd ${what}`);
          }
        }
        for (const client of CRI_CLIENTS) for (const side of CRI_SIDES) addRow(CRI_FLOOR_GROUP, `${client} client, ${side}`, r.floor[client][side]);
        for (const client of CRI_CLIENTS) {
          for (const side of CRI_SIDES) {
            for (const [step, ms] of Object.entries(r.times[client][side].steps)) addRow(`CRI steps, ${side}, ${client} client`, step, ms);
          }
        }
        const timesOf = (client: CriClientKind) => Object.fromEntries(CRI_SIDES.map((side) => [side, {
          up: summarize(r.times[client][side].up), down: summarize(r.times[client][side].down), total: summarize(r.times[client][side].total),
          steps: Object.fromEntries(Object.entries(r.times[client][side].steps).map(([k, v]) => [k, summarize(v)])),
        }]));
        results.cri = {
          n: r.n, containerdSnapshotter: r.snapshotter,
          clientsNote: 'lean: node:http2 + protobuf (test/cri/lean-client.ts; the headline, closest to kubelet\'s grpc-go); grpc-js: @grpc/grpc-js (test/cri/client.ts)',
          ...timesOf('lean'),
          grpcJs: timesOf('grpc-js'),
          floor: Object.fromEntries(CRI_CLIENTS.map((client) => [client, Object.fromEntries(CRI_SIDES.map((side) => [side, summarize(r.floor[client][side])]))])),
          ...(r.migration ? { cgroupMigration: r.migration } : {}),
          ...(r.memory ? { memory: r.memory, memoryNote: 'bytes, PSS from /proc/PID/smaps_rollup; perPod = pause + watcher (podns) or pause + shim (containerd); daemonShare = daemon PSS growth / pods' } : {}),
        };
      }
    }

    // -- 4. the CLI -------------------------------------------------------------------------------
    let cli: CliTimes | undefined;
    if (has('cli')) {
      await quietBefore('cli');
      log(`cli: node -e 0, podns --version, create, run, exec, delete x${cfg.cliN} (+${cfg.cliWarmup} warm-up)`);
      cli = measureCli(root, cfg.cliN, cfg.cliWarmup);
      const g = 'podns CLI (whole processes)';
      addRow(g, 'node -e 0', cli['node -e 0'], undefined, 'BASELINE (Node start-up)');
      addRow(g, 'podns --version', cli['podns --version'], `${g}/node -e 0`);
      addRow(g, 'podns create', cli.create, `${g}/node -e 0`);
      addRow(g, 'podns run', cli.run, `${g}/node -e 0`);
      addRow(g, 'podns exec -- true', cli.exec, `${g}/node -e 0`);
      addRow(g, 'podns delete', cli.delete, `${g}/node -e 0`);
      results.cli = Object.fromEntries(CLI_OPS.map((op) => [op, summarize(cli![op])]));
      if (cfg.profile) {
        log(`cli: --cpu-prof of each, x${cfg.cliProfileRuns}`);
        cliProfiles = profileCli(root, cfg.cliProfileRuns);
        profiles.cli = cliProfiles;
      }
    }

    // -- 4b. images: pull + unpack against skopeo+umoci and podman; a running container from a stored image
    if (has('image-pull') || has('image-run')) {
      await quietBefore('image setup');
      const env = await setupImageEnv(log);
      try {
        if (has('image-pull')) {
          if (env.podmanSkipped !== undefined) log(`image pull: podman not measured: ${env.podmanSkipped}`);
          await quietBefore('image pull');
          log(`image pull: ${env.ref}, podns, skopeo+umoci${env.podmanSkipped === undefined ? ', podman' : ''} in turn, cold each time, x${cfg.imagePullN} (+${PULL_WARMUP} warm-up)`);
          pull = await measurePull(env, cfg.imagePullN, PULL_WARMUP, log);
          pullLayerSizes = env.image.layers.map((l) => l.blobBytes);
          const mb = (env.image.randomBytes / 1e6).toFixed(0);
          const g = `image pull + unpack (${mb} MB random, ${env.image.layers.length} gzip layers, loopback registry; whole processes, cold)`;
          SHORT_GROUP[g] = '';
          addRow(g, 'skopeo copy + umoci unpack', pull.total['skopeo+umoci'], undefined, 'BASELINE');
          addRow(g, '  skopeo copy (to an OCI dir)', pull.skopeoCopy, `${g}/skopeo copy + umoci unpack`);
          addRow(g, '  umoci unpack', pull.umociUnpack, `${g}/skopeo copy + umoci unpack`);
          if (pull.total.podman.length) addRow(g, 'podman pull', pull.total.podman, undefined, 'BASELINE');
          const v = pullVerdict(pull);
          const vsFastest = `${g}/${v.fastest === 'podman' ? 'podman pull' : 'skopeo copy + umoci unpack'}`;
          addRow(g, 'podns pullImage (node process)', pull.total.podns, vsFastest);
          addRow(g, '  the pull call in it', pull.podnsCall, vsFastest);
          addRow(g, 'podns image pull -q (CLI)', pull.total['podns CLI'], vsFastest);
          results.imagePull = {
            ref: env.ref, randomBytes: env.image.randomBytes, layers: env.image.layers,
            ...(env.podmanSkipped !== undefined ? { podmanSkipped: env.podmanSkipped } : {}),
            total: Object.fromEntries(Object.entries(pull.total).filter(([, v]) => v.length).map(([k, v]) => [k, summarize(v)])),
            podnsCall: summarize(pull.podnsCall), skopeoCopy: summarize(pull.skopeoCopy), umociUnpack: summarize(pull.umociUnpack),
            podnsRssBeforeKiB: pull.podnsRssBeforeKiB, podnsPeakRssKiB: pull.podnsHwmKiB, raw: pull.total,
          };
        }
        if (has('image-run')) {
          const setup = await prepareImageRun(env, root);
          await quietBefore('image run');
          log(`image run: a container from the pulled image (${setup.layered}, overlay of its layers) and from the same files imported as a rootfs, in turn, x${cfg.imageRunN} each (+${IMAGE_RUN_WARMUP} warm-up)`);
          imageRun = await measureImageRun(root, setup, cfg.imageRunN, IMAGE_RUN_WARMUP);
          const g = 'run --image, time to a running container (interleaved, bridge pods)';
          SHORT_GROUP[g] = '';
          addRow(g, 'imported rootfs image (run before layers)', imageRun.rootfs, undefined, 'BASELINE');
          addRow(g, `pulled image, ${env.image.layers.length} layers (overlay)`, imageRun.layers, `${g}/imported rootfs image (run before layers)`);
          results.imageRun = { layers: summarize(imageRun.layers), rootfs: summarize(imageRun.rootfs), pairedMedianMs: median(imageRun.paired), pullIntoStoreMs: setup.pullMs };
        }
      } finally {
        await removeAllPods(root);
        await env.close();
      }
    }

    // -- 5a. memory and fds with one container per pod ---------------------------------------------
    if (has('memory')) {
      await quietBefore('memory');
      log(`memory: ${cfg.memoryPods} pods with one container each`);
      memory = await podMemory(root, cfg.memoryPods);
      results.memory = memory;
    }

    // -- 5b. scaling ------------------------------------------------------------------------------
    if (has('scale')) {
      const biggest = Math.max(...cfg.scaleSizes);
      // The floor with IPv6 on goes last: its namespaces take minutes to be torn down (measured: 100 of
      // them were still there 60 s after their processes and veths were gone), and a section running
      // during that teardown waits for the RTNL lock it holds — that showed up as scaling noise.
      const floorRun = async (ipv6: boolean): Promise<void> => {
        await quietBefore(`scale floor IPv6 ${ipv6 ? 'on' : 'off'}`);
        log(`scale: floor, ${biggest} pods kept, IPv6 ${ipv6 ? 'on' : 'off'}`);
        // per-pod deletes only once (IPv6 off, as podns): with IPv6 on, one bulk delete of the whole group
        scaleFloor[ipv6 ? 'on' : 'off'] = floorScale(biggest, { ipv6, bulkDelete: ipv6 });
      };
      await floorRun(false);
      for (const size of cfg.scaleSizes) {
        await quietBefore(`scale library ${size}`);
        const prof = cfg.profile && size === biggest ? Math.min(20, Math.max(1, Math.floor(size / 10))) : 0;
        log(`scale: library, ${size} pods in a row, then delete` + (prof ? ` (and ${prof} profiled creates on an empty and on the full bridge)` : ''));
        const r = await scaleOnce(root, size, `s${size}`, prof);
        scaleRuns.push(r);
        if (r.profiles) {
          scaleProf = r.profiles;
          profiles.scale = scaleProf;
        }
      }
      await floorRun(true);
      results.scale = {
        floor: Object.fromEntries(Object.entries(scaleFloor).map(([k, v]) => [`ipv6${k === 'on' ? 'On' : 'Off'}`, scaleSummary(v!)])),
        library: scaleRuns.map((r) => ({
          size: r.size, totalCreateMs: r.totalCreateMs, totalDeleteMs: r.totalDeleteMs,
          create: summarize(r.create), delete: summarize(r.delete),
          createTenths: tenths(r.create), deleteTenths: tenths(r.delete),
          createDeciles: deciles(r.create), deleteDeciles: deciles(r.delete),
          createSlopeUsPerPod: slope(r.create) * 1000,
          bridgePorts: r.bridgePorts, ipv6AddrsHost: r.ipv6AddrsHost, ipv6AddrsPod: r.ipv6AddrsPod, pause: r.pause,
        })),
      };
    }
  } finally {
    await removeAllPods(root);
  }

  // ---- targets ----------------------------------------------------------------------------------
  const floorCreate = byKey.get('floor (C, raw syscalls + rtnetlink)/pod create')?.summary.median;
  const shellCreate = byKey.get('shell path (unshare, ip, nsenter)/pod create')?.summary.median;
  const floorExecMs = byKey.get('floor (C, raw syscalls + rtnetlink)/fork+setns+exec (to exec)')?.summary.median;
  const libCreate = byKey.get('podns library/create (bridge pod)')?.summary.median;
  const libRun = byKey.get("podns library/run (until exec'd)")?.summary.median;
  if (libCreate !== undefined && floorCreate !== undefined) {
    const t = target('library pod create', '<= 2 x the C floor', libCreate / floorCreate, 2, fmtRatio);
    t.explain = [`library ${fmtMs(libCreate)} vs floor ${fmtMs(floorCreate)}`, ...profileLines(libProfiles?.create.cpu, libProfiles?.create.kernel)];
  }
  if (libCreate !== undefined && shellCreate !== undefined) {
    const t = target('library pod create vs iproute2', '>= 8 x faster than the shell path', shellCreate / libCreate, 8, fmtRatio, false);
    t.explain = [`shell path ${fmtMs(shellCreate)} vs library ${fmtMs(libCreate)}`];
  }
  const cliCreate = byKey.get('podns CLI (whole processes)/podns create')?.summary.median;
  const nodeE0 = byKey.get('podns CLI (whole processes)/node -e 0')?.summary.median;
  if (cliCreate !== undefined && nodeE0 !== undefined) {
    const version = byKey.get('podns CLI (whole processes)/podns --version')?.summary.median;
    const t = target('CLI create', '<= node start-up + 15 ms', cliCreate - nodeE0, 15, (x) => `+${fmtMs(x)}`);
    t.explain = [
      `podns create ${fmtMs(cliCreate)}, node -e 0 ${fmtMs(nodeE0)}` +
        (version !== undefined ? `, podns --version ${fmtMs(version)} (start-up + loading the CLI: +${fmtMs(version - nodeE0)})` : '') +
        (libCreate !== undefined ? `, library create ${fmtMs(libCreate)}` : ''),
      ...profileLines(cliProfiles?.create),
    ];
  }
  if (libRun !== undefined && floorExecMs !== undefined) {
    const t = target('container run', "<= 3 x the floor's fork+setns+exec", libRun / floorExecMs, 3, fmtRatio);
    t.explain = [`library run ${fmtMs(libRun)} vs floor ${fmtMs(floorExecMs)}`, ...profileLines(libProfiles?.run.cpu, libProfiles?.run.kernel)];
  }
  if (ab) {
    const d = abDelta(ab);
    const sb = summarize(ab.base);
    const sc = summarize(ab.cur);
    const signed = (x: number) => `${x >= 0 ? '+' : '-'}${fmtMs(Math.abs(x))}`;
    const pass = d.delta <= RUN_BUDGET_MS;
    targets.push({
      name: 'container run vs the build before the change', rule: `median <= baseline ${ab.sha.slice(0, 7)} + ${RUN_BUDGET_MS} ms, same run, interleaved`,
      value: signed(d.delta), limit: `+${fmtMs(RUN_BUDGET_MS)}`, pass,
      margin: pass ? `${fmtMs(RUN_BUDGET_MS - d.delta)} inside` : `missed by ${fmtMs(d.delta - RUN_BUDGET_MS)}`,
      explain: [`baseline median ${fmtMs(sb.median)} p95 ${fmtMs(sb.p95)}; this build median ${fmtMs(sc.median)} p95 ${fmtMs(sc.p95)} ` +
        `(p95 ${signed(sc.p95 - sb.p95)}); median of the per-round differences ${signed(d.pairedMedian)}; n ${sc.n} each`,
        ...profileLines(libProfiles?.run.cpu, libProfiles?.run.kernel)],
    });
  }
  if (lim) {
    const d = limitsDelta(lim);
    const signed = (x: number) => `${x >= 0 ? '+' : '-'}${fmtMs(Math.abs(x))}`;
    const pass = d.delta <= LIMITS_BUDGET_MS;
    targets.push({
      name: 'create + run with a memory limit vs without', rule: `median <= the same without + ${LIMITS_BUDGET_MS} ms, same run, interleaved`,
      value: signed(d.delta), limit: `+${fmtMs(LIMITS_BUDGET_MS)}`, pass,
      margin: pass ? `${fmtMs(LIMITS_BUDGET_MS - d.delta)} inside` : `missed by ${fmtMs(d.delta - LIMITS_BUDGET_MS)}`,
      explain: [`create ${fmtMs(median(lim.createPlain))} → ${fmtMs(median(lim.createLimited))}, run ${fmtMs(median(lim.runPlain))} → ${fmtMs(median(lim.runLimited))}; ` +
        `median of the per-round differences ${signed(d.pairedMedian)}; n ${lim.paired.length} each. Both sides have cgroups (every pod and ` +
        'container does): on cgroup v1 both pay an RCU grace period when the workload joins its cgroup at run (the pause joins its own ' +
        'once running, after create has returned); the run A/B against a build from before issue 12 shows that cost'],
    });
  }
  if (pull) {
    const v = pullVerdict(pull);
    const t = target('image pull + unpack', `<= the fastest of skopeo+umoci and podman (${v.fastest}), medians, whole processes (pullImage in a node process)`, v.ratio, 1, fmtRatio);
    t.explain = [v.line];
    const c = pullVerdict(pull, 'podns CLI');
    target('image pull (CLI)', `podns image pull <= the fastest of skopeo+umoci and podman (${c.fastest}), medians`, c.ratio, 1, fmtRatio);
    const growth = median(pull.podnsHwmKiB.map((h, i) => h - pull!.podnsRssBeforeKiB[i]!)) * 1024;
    const m = target('image pull memory', `peak RSS growth during the pull <= ${fmtKiB(PULL_RSS_BUDGET)}, whatever the image's size (it streams)`, growth, PULL_RSS_BUDGET, fmtKiB);
    m.explain = [`worker RSS once loaded ${fmtKiB(median(pull.podnsRssBeforeKiB) * 1024)}, peak during the pull ${fmtKiB(median(pull.podnsHwmKiB) * 1024)} (medians); ` +
      `layers ${pullLayerSizes.map(fmtKiB).join(' + ')}: what grows is socket and zlib buffers V8 frees lazily, not a layer`];
  }
  if (imageRun) {
    const l = median(imageRun.layers);
    const r = median(imageRun.rootfs);
    const d = median(imageRun.paired);
    const signed = (x: number) => `${x >= 0 ? '+' : '-'}${fmtMs(Math.abs(x))}`;
    const pass = d <= IMAGE_RUN_BUDGET_MS;
    targets.push({
      name: 'image run from a layered image', rule: `median of the per-round differences to the imported rootfs image (run before layers) <= +${IMAGE_RUN_BUDGET_MS} ms (noise), same run, interleaved`,
      value: signed(d), limit: `+${fmtMs(IMAGE_RUN_BUDGET_MS)}`, pass,
      margin: pass ? `${fmtMs(IMAGE_RUN_BUDGET_MS - d)} inside` : `missed by ${fmtMs(d - IMAGE_RUN_BUDGET_MS)}`,
      explain: [`layers ${fmtMs(l)} (p95 ${fmtMs(summarize(imageRun.layers).p95)}), rootfs ${fmtMs(r)} (p95 ${fmtMs(summarize(imageRun.rootfs).p95)}), ` +
        `ratio of the medians ${fmtRatio(l / r)}; n ${imageRun.layers.length} each`],
    });
  }
  if (cri) {
    const ratioOf = (client: CriClientKind) => median(cri!.times[client].containerd.total) / median(cri!.times[client].podns.total);
    const t = target('CRI pod to running + teardown vs containerd', '>= 10 x faster end to end (medians; lean client)', ratioOf('lean'), 10, fmtRatio, false);
    const sm = (client: CriClientKind, side: 'podns' | 'containerd', k: 'up' | 'down' | 'total') => fmtMs(median(cri!.times[client][side][k]));
    const fl = (client: CriClientKind, side: 'podns' | 'containerd') => fmtMs(median(cri!.floor[client][side]));
    t.explain = [];
    for (const client of CRI_CLIENTS) {
      t.explain.push(`${client} client: podns ${sm(client, 'podns', 'total')} (up ${sm(client, 'podns', 'up')}, down ${sm(client, 'podns', 'down')}) vs containerd ${sm(client, 'containerd', 'total')} ` +
        `(up ${sm(client, 'containerd', 'up')}, down ${sm(client, 'containerd', 'down')}) = ${fmtRatio(ratioOf(client))}, n ${cri.n} each; no-op Version: podns ${fl(client, 'podns')}, containerd ${fl(client, 'containerd')}`);
    }
    t.explain.push('podns steps (lean): ' + Object.entries(cri.times.lean.podns.steps).map(([k, v]) => `${k} ${fmtMs(median(v))}`).join(', '),
      'containerd steps (lean): ' + Object.entries(cri.times.lean.containerd.steps).map(([k, v]) => `${k} ${fmtMs(median(v))}`).join(', '));
    if (cri.migration) t.explain.push(`cgroup migration here (${cri.migration.driver}, ${cri.migration.hierarchy}): ${fmtMs(cri.migration.medianMs)} per cgroup.procs write; ${cri.migration.verdict}`);
    if (cri.memory) {
      const p = cri.memory.podns;
      const c = cri.memory.containerd;
      const podnsPerPod = p.perPodPss + Math.max(0, p.daemonSharePss);
      const m = target('CRI memory per pod vs containerd\'s shim', 'podns (daemon share + pause + watcher) PSS < containerd-shim-runc-v2 PSS', podnsPerPod, c.helperPss, fmtKiB);
      m.explain = [`podns: daemon share ${fmtKiB(p.daemonSharePss)} + pause ${fmtKiB(p.pausePss)} + watcher ${fmtKiB(p.helperPss)} = ${fmtKiB(podnsPerPod)} PSS; ` +
        `containerd: daemon share ${fmtKiB(c.daemonSharePss)} + pause ${fmtKiB(c.pausePss)} + shim ${fmtKiB(c.helperPss)} (RSS ${fmtKiB(c.helperRss)}) = ${fmtKiB(c.perPodPss + Math.max(0, c.daemonSharePss))} PSS; ${p.pods} and ${c.pods} pods`];
    }
  }
  const big = scaleRuns.find((r) => r.size >= 1000) ?? (cfg.quick ? scaleRuns[scaleRuns.length - 1] : undefined);
  if (big) {
    const tt = tenths(big.create);
    const t = target(`scaling (${big.size} pods)`, 'last 10% per-pod create <= 1.3 x the first 10%', tt.ratio, 1.3, fmtRatio);
    const fl = scaleFloor.off;
    t.explain = [`library: first tenth ${fmtMs(tt.first)}, last tenth ${fmtMs(tt.last)} per pod`];
    if (fl) {
      const ft = tenths(nsToMs(fl.create_ns));
      t.explain.push(`C floor (IPv6 off), same sizes: first ${fmtMs(ft.first)}, last ${fmtMs(ft.last)} (${fmtRatio(ft.ratio)})`);
      for (const [label, key] of [['clone', 'step_clone_ns'], ['veth', 'step_veth_ns'], ['in-pod setup', 'step_inpod_ns']] as const) {
        const s = fl[key];
        if (s) {
          const x = tenths(nsToMs(s));
          t.explain.push(`  floor step ${label}: ${fmtMs(x.first)} -> ${fmtMs(x.last)} (${fmtRatio(x.ratio)})`);
        }
      }
    }
    for (const p of scaleProf ?? []) t.explain.push(`-- ${p.window}:`, ...profileLines(p.cpu, p.kernel, 5));
  }
  if (memory) {
    const t = target('memory per pod', '<= 512 KiB PSS (pause + watcher)', memory.pss.mean, 512 * 1024, fmtKiB);
    t.explain = [
      `pause ${fmtKiB(memory.pause.meanPss)} PSS (${fmtKiB(memory.pause.meanRss)} RSS, ${fmtKiB(memory.pause.meanPrivate)} private), ` +
        `watcher ${fmtKiB(memory.watcher.meanPss)} PSS (${fmtKiB(memory.watcher.meanRss)} RSS, ${fmtKiB(memory.watcher.meanPrivate)} private)`,
      `fds: pause ${memory.pause.fds.toFixed(1)}, watcher ${memory.watcher.fds.toFixed(1)}`,
      'largest mappings (PSS KiB) of one pause: ' + memory.pause.top.slice(0, 4).map((m) => `${m.mapping} ${m.pssKiB}`).join(', '),
      'of one watcher: ' + memory.watcher.top.slice(0, 4).map((m) => `${m.mapping} ${m.pssKiB}`).join(', '),
    ];
  }

  // ---- print --------------------------------------------------------------------------------------
  let text = rows.length ? '\n' + printTable() : '';
  if (scaleRuns.length || scaleFloor.on || scaleFloor.off) text += '\n' + scaleTable(scaleRuns, scaleFloor);
  if (memory) text += '\n' + memoryTable(memory);
  if (targets.length) {
    text += '\nTargets (medians, this run):\n';
    for (const t of targets) {
      text += `  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.value} (${t.rule}; ${t.margin})\n`;
      if ((!t.pass || t.name.startsWith('container run vs') || t.name.startsWith('image ') || t.name.startsWith('CRI ')) && t.explain) {
        for (const l of t.pass && !t.name.startsWith('CRI ') ? t.explain.slice(0, 1) : t.explain) text += `        ${l}\n`;
      }
    }
  }
  if (abSkipped) text += `\nrun A/B: skipped, nothing measured: ${abSkipped}\n`;
  if (criSkipped) text += `\ncri: skipped, nothing measured: ${criSkipped}\n`;
  if (cri?.memory) text += '\n' + criMemoryTable(cri);
  const busy = quiet.filter((q) => q.idle < 0.9);
  if (busy.length) text += `\nWARNING: the machine was busy before ${busy.map((q) => `${q.section} (${(q.idle * 100).toFixed(0)}% idle)`).join(', ')}: those numbers are not reliable.\n`;
  process.stdout.write(text);

  const doc = {
    generatedBy: 'npm run bench' + (cfg.quick ? ' -- --quick' : ''),
    machine,
    commit: gitCommit(),
    durationSec: Math.round((Date.now() - started) / 1000),
    /** CPU idle fraction before each section (below 0.9: the machine was busy, numbers suspect) */
    quiet,
    config: { ...cfg, only: [...cfg.only], out: undefined },
    units: 'milliseconds unless named otherwise; memory in bytes',
    table: rows.map((r) => ({ group: r.group, name: r.name.trim(), ...r.summary, ...(r.vs ? { ratio: r.vs.ratio, to: r.vs.name } : {}) })),
    targets,
    results,
    profiles,
  };
  mkdirSync(path.dirname(cfg.out), { recursive: true });
  writeFileSync(cfg.out, compactJson(JSON.parse(JSON.stringify(doc, roundReplacer))) + '\n');
  log(`wrote ${cfg.out} (${doc.durationSec} s)`);
  return 0;
}

function floorSummary(f: FloorPod) {
  const out: Record<string, Summary> = { create: summarize(nsToMs(f.create_ns)), delete: summarize(nsToMs(f.delete_ns)) };
  for (const k of ['step_clone_ns', 'step_socket_ns', 'step_veth_ns', 'step_inpod_ns'] as const) {
    const v = f[k];
    if (v) out[k.replace(/^step_|_ns$/g, '')] = summarize(nsToMs(v));
  }
  return out;
}

function deciles(ms: number[]): number[] {
  const k = Math.max(1, Math.floor(ms.length / 10));
  const out: number[] = [];
  for (let i = 0; i + k <= ms.length && out.length < 10; i += k) out.push(median(ms.slice(i, i + k)));
  return out;
}

function scaleSummary(f: FloorPod) {
  const c = nsToMs(f.create_ns);
  const steps: Record<string, unknown> = {};
  for (const k of ['step_clone_ns', 'step_socket_ns', 'step_veth_ns', 'step_inpod_ns'] as const) {
    const v = f[k];
    if (v) steps[k.replace(/^step_|_ns$/g, '')] = { tenths: tenths(nsToMs(v)), deciles: deciles(nsToMs(v)) };
  }
  return {
    size: f.n, ipv6: f.ipv6, totalCreateMs: (f.total_create_ns ?? 0) / 1e6, totalDeleteMs: (f.total_delete_ns ?? 0) / 1e6,
    create: summarize(c), delete: summarize(nsToMs(f.delete_ns)), createTenths: tenths(c), createDeciles: deciles(c),
    createSlopeUsPerPod: slope(c) * 1000, steps,
  };
}

function scaleTable(runs: ScaleRun[], fl: { on?: FloorPod; off?: FloorPod }): string {
  const head = ['scaling', 'pods', 'create total', 'per pod (median)', 'first 10%', 'last 10%', 'last/first', 'delete per pod', 'delete total'];
  const lines: string[][] = [];
  for (const [label, f] of [['C floor, IPv6 on', fl.on], ['C floor, IPv6 off', fl.off]] as const) {
    if (!f) continue;
    const c = nsToMs(f.create_ns);
    const t = tenths(c);
    lines.push([label, String(f.n), fmtMs((f.total_create_ns ?? 0) / 1e6), fmtMs(median(c)), fmtMs(t.first), fmtMs(t.last), fmtRatio(t.ratio),
      f.delete_ns.length ? fmtMs(median(nsToMs(f.delete_ns))) : '-',
      fmtMs((f.total_delete_ns ?? 0) / 1e6) + (f.delete_ns.length ? '' : ' (bulk)')]);
  }
  for (const r of runs) {
    const t = tenths(r.create);
    lines.push(['podns library', String(r.size), fmtMs(r.totalCreateMs), fmtMs(median(r.create)), fmtMs(t.first), fmtMs(t.last), fmtRatio(t.ratio),
      fmtMs(median(r.delete)), fmtMs(r.totalDeleteMs)]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  let s = [fmt(head), ...lines.map(fmt)].join('\n') + '\n';
  const big = runs[runs.length - 1];
  if (big) {
    s += `  at ${big.size} pods: ${big.bridgePorts} bridge ports; IPv6 addresses on the host side ${big.ipv6AddrsHost}, in a pod ${big.ipv6AddrsPod}`;
    if (big.pause) s += `; pause ${fmtKiB(big.pause.meanPss)} PSS / ${fmtKiB(big.pause.meanRss)} RSS, ${big.pause.meanFds.toFixed(1)} fds each`;
    s += '\n';
  }
  return s;
}

function criMemoryTable(r: CriBench): string {
  const m = r.memory!;
  const lines = [`CRI memory per pod (PSS from /proc/PID/smaps_rollup; ${m.podns.pods} pods on podns, ${m.containerd.pods} on containerd, one sleep each, not counted)`];
  for (const side of CRI_SIDES) {
    const x = m[side];
    lines.push(`  ${side.padEnd(10)} pause ${fmtKiB(x.pausePss)} + ${x.helperName} ${fmtKiB(x.helperPss)} (RSS ${fmtKiB(x.helperRss)}) + daemon share ${fmtKiB(x.daemonSharePss)} ` +
      `= ${fmtKiB(x.perPodPss + Math.max(0, x.daemonSharePss))}; daemon PSS ${fmtKiB(x.daemonPssBefore)} -> ${fmtKiB(x.daemonPssWith)}`);
  }
  return lines.join('\n') + '\n';
}

function memoryTable(m: PodMemory): string {
  return [
    `memory, ${m.pods} pods with one container (sleep): per pod`,
    `  pause + watcher PSS ${fmtKiB(m.pss.mean)} (max ${fmtKiB(m.pss.max)}), RSS ${fmtKiB(m.rss.mean)}`,
    `  pause    PSS ${fmtKiB(m.pause.meanPss)}, RSS ${fmtKiB(m.pause.meanRss)}, private ${fmtKiB(m.pause.meanPrivate)}, fds ${m.pause.fds.toFixed(1)}`,
    `  watcher  PSS ${fmtKiB(m.watcher.meanPss)}, RSS ${fmtKiB(m.watcher.meanRss)}, private ${fmtKiB(m.watcher.meanPrivate)}, fds ${m.watcher.fds.toFixed(1)}`,
    `  fds of one watcher: ${m.watcher.fdList.join(', ') || '-'}`,
    '',
  ].join('\n');
}

function gitCommit(): string | undefined {
  const r = spawnSync('git', ['-C', packageRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** JSON for a diff: one line for every array or object whose members are all plain values. */
function compactJson(v: unknown, indent = ''): string {
  const flat = (x: unknown) => x === null || typeof x !== 'object';
  if (flat(v)) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every(flat) || v.every((x) => !flat(x) && !Array.isArray(x) && Object.values(x as object).every(flat))) {
      const one = v.map((x) => JSON.stringify(x));
      if (v.every(flat) && one.join(', ').length <= 160) return `[${one.join(', ')}]`;
      return `[\n${one.map((l) => inner + l).join(',\n')}\n${indent}]`;
    }
    return `[\n${v.map((x) => inner + compactJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as object).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  if (entries.every(([, x]) => flat(x))) {
    const one = JSON.stringify(Object.fromEntries(entries));
    if (one.length <= 160) return one;
  }
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${compactJson(x, inner)}`).join(',\n')}\n${indent}}`;
}

/** Three decimals are plenty for milliseconds: keeps results.json small and diffable. */
function roundReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${oneLine(err)}\n`);
    if (process.env.PODNS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
