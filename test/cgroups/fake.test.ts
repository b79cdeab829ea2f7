// Each driver's file writes against a fake cgroupfs tree: a temp dir laid out like each hierarchy, where
// mkdir makes the files the kernel would make in a new cgroup (v2: only those of the controllers the
// parent's cgroup.subtree_control enables) and rmdir takes them away with it. Files are written without
// O_CREAT (src/cgroups/apply.ts), so a write to a file the kernel would not have is ENOENT here too.
// Runs on any machine, unprivileged.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import {
  applyPlan, cgroupPaths, detectCgroups, killCgroup, limitWrites, placeWrites, planCreate, planLimits, removeCgroup, sharesToWeight, type CgroupFs, type CgroupHost,
} from '../../src/cgroups/index.js';

// the files a new (non-root) v1 cgroup has, per hierarchy, as far as podns touches them
const V1_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.shares': '1024', 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': '-1' },
  cpuacct: { 'cpuacct.usage': '0' },
  cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '' }, // empty until set: no process may join before
  memory: { 'memory.limit_in_bytes': '9223372036854771712', 'memory.memsw.limit_in_bytes': '9223372036854771712' },
  devices: { 'devices.allow': '', 'devices.deny': '' },
  freezer: { 'freezer.state': 'THAWED' },
  blkio: { 'blkio.weight': '500' },
  pids: { 'pids.max': 'max' },
};
// a new v2 cgroup: the core files, and each enabled controller's
const V2_CORE = { 'cgroup.procs': '', 'cgroup.subtree_control': '', 'cgroup.controllers': '', 'cgroup.kill': '', 'cgroup.freeze': '0', 'cgroup.events': 'populated 0\nfrozen 0\n' };
const V2_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.max': 'max 100000', 'cpu.weight': '100' },
  cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '' },
  memory: { 'memory.max': 'max', 'memory.swap.max': 'max', 'memory.high': 'max' },
  io: { 'io.max': '' },
  pids: { 'pids.max': 'max' },
};

function writeAll(dir: string, files: Record<string, string>): void {
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
}

interface Fake { root: string; host: CgroupHost; fs: CgroupFs; busy: Map<string, number> }

/** Removes a cgroup directory as the kernel does: its files go with it; a child cgroup, or busy, refuses. */
function fakeRmdir(busy: Map<string, number>) {
  return (p: string) => {
    const n = busy.get(p) ?? 0;
    if (n > 0) {
      busy.set(p, n - 1);
      throw Object.assign(new Error(`rmdir ${p}: EBUSY`), { code: 'EBUSY' });
    }
    const entries = readdirSync(p, { withFileTypes: true });
    if (entries.some((e) => e.isDirectory())) throw Object.assign(new Error(`rmdir ${p}: EBUSY`), { code: 'EBUSY' });
    if (readFileSync(join(p, 'cgroup.procs'), 'utf8').trim() !== '') throw Object.assign(new Error(`rmdir ${p}: EBUSY`), { code: 'EBUSY' });
    for (const e of entries) unlinkSync(join(p, e.name));
    rmdirSync(p);
  };
}

function fakeV1(controllers = Object.keys(V1_FILES)): Fake {
  const root = mkdtempSync(join(tmpdir(), 'podns-fake-v1-'));
  const lines: string[] = [];
  controllers.forEach((c, i) => {
    mkdirSync(join(root, c));
    writeFileSync(join(root, c, 'cgroup.procs'), '');
    if (c === 'cpuset') writeAll(join(root, c), { 'cpuset.cpus': '0-3', 'cpuset.mems': '0' });
    lines.push(`${40 + i} 31 0:${40 + i} / ${join(root, c)} rw,relatime - cgroup cgroup rw,${c}`);
  });
  const host = detectCgroups({ mountinfo: lines.join('\n') + '\n', readController: () => undefined });
  const busy = new Map<string, number>();
  const fs: CgroupFs = {
    mkdir: (p) => {
      mkdirSync(p);
      const hierarchy = relative(root, p).split('/')[0]!;
      writeAll(p, { 'cgroup.procs': '', ...V1_FILES[hierarchy] });
    },
    rmdir: fakeRmdir(busy),
  };
  return { root, host, fs, busy };
}

function fakeV2(controllers = ['cpuset', 'cpu', 'io', 'memory', 'pids']): Fake {
  const root = mkdtempSync(join(tmpdir(), 'podns-fake-v2-'));
  writeAll(root, { 'cgroup.procs': '', 'cgroup.subtree_control': '', 'cgroup.controllers': controllers.join(' ') + '\n' });
  const host = detectCgroups({ mountinfo: `41 31 0:38 / ${root} rw - cgroup2 cgroup2 rw\n`, readController: (mp) => readFileSync(join(mp, 'cgroup.controllers'), 'utf8') });
  const busy = new Map<string, number>();
  const fs: CgroupFs = {
    mkdir: (p) => {
      mkdirSync(p);
      // what the parent hands down: the last "+a +b" written to its subtree_control
      const enabled = readFileSync(join(dirname(p), 'cgroup.subtree_control'), 'utf8').split(/\s+/).filter((x) => x.startsWith('+')).map((x) => x.slice(1));
      writeAll(p, { ...V2_CORE, 'cgroup.controllers': enabled.join(' ') });
      for (const c of enabled) writeAll(p, V2_FILES[c] ?? {});
    },
    rmdir: fakeRmdir(busy),
  };
  return { root, host, fs, busy };
}

const read = (p: string) => readFileSync(p, 'utf8').trim();
const UID = '0123abcd-0000-4000-8000-000000000000';

test('v1: create makes the cgroup in each hierarchy podns uses (not devices), cpuset copied down from the parent at each level', (t) => {
  const f = fakeV1();
  t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
  const p = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns');
  applyPlan(planCreate(f.host, p.container!), f.fs);
  for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids']) t.true(existsSync(join(f.root, c, 'podns/web-0123abcd/app')), c);
  t.false(existsSync(join(f.root, 'devices', 'podns')));
  for (const l of ['podns', 'podns/web-0123abcd', 'podns/web-0123abcd/app']) {
    t.is(read(join(f.root, 'cpuset', l, 'cpuset.cpus')), '0-3');
    t.is(read(join(f.root, 'cpuset', l, 'cpuset.mems')), '0');
  }
  // a second container: the pod's and the parent's are kept, and a pod narrowed to cpu 1 hands down 1
  writeFileSync(join(f.root, 'cpuset', 'podns/web-0123abcd', 'cpuset.cpus'), '1');
  applyPlan(planCreate(f.host, `${p.pod}/side`), f.fs);
  t.is(read(join(f.root, 'cpuset', p.pod, 'cpuset.cpus')), '1');
  t.is(read(join(f.root, 'cpuset', p.pod, 'side', 'cpuset.cpus')), '1');
});

test('v1: a cgroup under levels that exist is one mkdir a hierarchy (deepest first); an existing level left with an empty cpuset is still filled', (t) => {
  const f = fakeV1();
  t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
  const p = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns');
  applyPlan(planCreate(f.host, `${p.pod}/_pause`), f.fs);
  const mkdirs: string[] = [];
  const counting: CgroupFs = { ...f.fs, mkdir: (d) => { mkdirs.push(relative(f.root, d)); f.fs.mkdir(d); } };
  applyPlan(planCreate(f.host, p.container!), counting);
  t.deepEqual(mkdirs, ['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids'].map((c) => `${c}/${p.container}`));
  t.is(read(join(f.root, 'cpuset', p.container!, 'cpuset.cpus')), '0-3');
  // a create killed between the pod level's mkdir and its cpuset copy: the next plan fills it, then below it
  writeFileSync(join(f.root, 'cpuset', p.pod, 'cpuset.mems'), '');
  applyPlan(planCreate(f.host, `${p.pod}/side`), f.fs);
  t.is(read(join(f.root, 'cpuset', p.pod, 'cpuset.mems')), '0');
  t.is(read(join(f.root, 'cpuset', p.pod, 'side', 'cpuset.mems')), '0');
});

test('v1: limits go to memory.limit_in_bytes (then memsw), cfs period then quota, cpu.shares, pids.max, cpuset.cpus', (t) => {
  const f = fakeV1();
  t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
  const rel = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns').container!;
  applyPlan(planCreate(f.host, rel), f.fs);
  const ops = planLimits(f.host, rel, { memory: 64 << 20, memorySwap: 128 << 20, cpus: 0.5, cpuShares: 512, pids: 100, cpusetCpus: '0-1' });
  t.deepEqual(ops.map((o) => (o.op === 'write' ? `${relative(f.root, o.path)}=${o.value}` : o.op)), [
    `memory/${rel}/memory.limit_in_bytes=67108864`,
    `memory/${rel}/memory.memsw.limit_in_bytes=134217728`,
    `cpu/${rel}/cpu.cfs_period_us=100000`,
    `cpu/${rel}/cpu.cfs_quota_us=50000`,
    `cpu/${rel}/cpu.shares=512`,
    `pids/${rel}/pids.max=100`,
    `cpuset/${rel}/cpuset.cpus=0-1`,
  ]);
  applyPlan(ops, f.fs);
  t.is(read(join(f.root, 'memory', rel, 'memory.limit_in_bytes')), '67108864');
  t.is(read(join(f.root, 'cpu', rel, 'cpu.cfs_quota_us')), '50000');
  t.is(read(join(f.root, 'pids', rel, 'pids.max')), '100');
  // unlimited: -1 for memsw on v1, "max" for pids
  applyPlan(planLimits(f.host, rel, { memory: 1 << 20, memorySwap: -1, pids: -1 }), f.fs);
  t.is(read(join(f.root, 'memory', rel, 'memory.memsw.limit_in_bytes')), '-1');
  t.is(read(join(f.root, 'pids', rel, 'pids.max')), 'max');
});

test('v2: each level enables the controllers for the next before it is made; limits in v2 files', (t) => {
  const f = fakeV2();
  t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
  const rel = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns').container!;
  applyPlan(planCreate(f.host, rel), f.fs);
  for (const l of ['', 'podns', 'podns/web-0123abcd']) t.is(read(join(f.root, l, 'cgroup.subtree_control')), '+cpu +cpuset +memory +io +pids', l);
  t.is(read(join(f.root, rel, 'cgroup.subtree_control')), ''); // the leaf holds the processes
  applyPlan(planLimits(f.host, rel, { memory: 64 << 20, memorySwap: 96 << 20, cpus: 1.5, cpuShares: 1024, pids: 50, cpusetCpus: '0' }), f.fs);
  t.is(read(join(f.root, rel, 'memory.max')), '67108864');
  t.is(read(join(f.root, rel, 'memory.swap.max')), String(32 << 20)); // swap alone: memory-swap minus memory
  t.is(read(join(f.root, rel, 'cpu.max')), '150000 100000');
  t.is(read(join(f.root, rel, 'cpu.weight')), '39');
  t.is(read(join(f.root, rel, 'pids.max')), '50');
  t.is(read(join(f.root, rel, 'cpuset.cpus')), '0');
  applyPlan(planLimits(f.host, rel, { memory: 1 << 20, memorySwap: -1 }), f.fs);
  t.is(read(join(f.root, rel, 'memory.swap.max')), 'max');
  // without the subtree_control writes the leaf has no memory.max: the write fails, nothing is created
  const bare = planCreate(f.host, 'podns/other-0123abcd/x').filter((o) => o.op === 'mkdir');
  writeFileSync(join(f.root, 'cgroup.subtree_control'), '');
  rmSync(join(f.root, 'podns'), { recursive: true });
  applyPlan(bare, f.fs);
  t.throws(() => applyPlan(planLimits(f.host, 'podns/other-0123abcd/x', { memory: 1 << 20 }), f.fs), { code: 'ENOENT' });
  t.false(existsSync(join(f.root, 'podns/other-0123abcd/x/memory.max')));
});

test('cpu.shares → cpu.weight: the kubelet/runc map (2 → 1, 262144 → 10000)', (t) => {
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(262144), 10000);
  t.is(sharesToWeight(1024), 39);
  t.is(sharesToWeight(512), 20);
});

test('a limit whose controller the host lacks is a clear error before anything is written', (t) => {
  const v2 = fakeV2(['cpu', 'memory']);
  const v1 = fakeV1(['cpu', 'memory', 'freezer']);
  t.teardown(() => {
    rmSync(v2.root, { recursive: true, force: true });
    rmSync(v1.root, { recursive: true, force: true });
  });
  const e = t.throws(() => planLimits(v2.host, 'podns/p-0123abcd/c', { memory: 1 << 20, pids: 10 }), { code: 'ENOCONTROLLER' });
  t.is(e?.message, "--pids-limit needs the pids cgroup controller, which this host's cgroup v2 does not offer; leave --pids-limit out");
  t.throws(() => planLimits(v1.host, 'podns/p-0123abcd/c', { cpusetCpus: '0' }), { code: 'ENOCONTROLLER', message: /--cpuset-cpus needs the cpuset/ });
  // and bad values
  t.throws(() => planLimits(v1.host, 'x', { memory: 0 }), { code: 'EINVALIDLIMIT' });
  t.throws(() => planLimits(v1.host, 'x', { memory: 1 << 20, memorySwap: 1 << 19 }), { code: 'EINVALIDLIMIT', message: /at least --memory/ });
  t.throws(() => planLimits(v1.host, 'x', { memorySwap: 1 << 20 }), { code: 'EINVALIDLIMIT', message: /needs --memory/ });
  t.throws(() => planLimits(v1.host, 'x', { cpus: -1 }), { code: 'EINVALIDLIMIT' });
  t.throws(() => planLimits(v1.host, 'x', { cpuShares: 1 }), { code: 'EINVALIDLIMIT' });
  t.throws(() => planLimits(v2.host, 'x', { cpus: 0.5, cpuPeriod: 10 }), { code: 'EINVALIDLIMIT', message: 'the CPU period must be 1000-1000000 microseconds, got 10' });
  // exact: 0.29 CPU is 29000 µs per 100 ms (floating point would say 28999.999...)
  t.deepEqual(planLimits(v2.host, 'x', { cpus: 0.29 }).map((o) => (o.op === 'write' ? o.value : '')), ['29000 100000']);
  // the kernel's minimum quota is 1 ms
  t.deepEqual(planLimits(v2.host, 'x', { cpus: 0.001 }).map((o) => (o.op === 'write' ? o.value : '')), ['1000 100000']);
});

test('cpuset.mems; unified: v2 files written as given (a controller\'s files only), refused on v1; v1 swapFirst writes memsw before memory', (t) => {
  const v2 = fakeV2(['cpuset', 'cpu', 'memory']);
  const v1 = fakeV1();
  t.teardown(() => {
    rmSync(v2.root, { recursive: true, force: true });
    rmSync(v1.root, { recursive: true, force: true });
  });
  const rel = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns').container!;
  applyPlan(planCreate(v2.host, rel), v2.fs);
  applyPlan(planLimits(v2.host, rel, { cpusetMems: '0', unified: { 'memory.high': '33554432', 'cpu.weight': '7' } }), v2.fs);
  t.is(read(join(v2.root, rel, 'cpuset.mems')), '0');
  t.is(read(join(v2.root, rel, 'memory.high')), '33554432');
  t.is(read(join(v2.root, rel, 'cpu.weight')), '7');
  for (const key of ['cgroup.procs', 'cgroup.subtree_control', '../x.max', 'memory', 'memory.high/../../cgroup.procs']) {
    t.throws(() => planLimits(v2.host, rel, { unified: { [key]: '1' } }), { code: 'EINVALIDLIMIT' }, key);
  }
  t.throws(() => planLimits(v2.host, rel, { unified: { 'pids.max': '10' } }), { code: 'ENOCONTROLLER', message: /unified pids\.max needs the pids cgroup controller/ });
  t.throws(() => planLimits(v2.host, rel, { unified: { 'memory.high': '1\n2' } }), { code: 'EINVALIDLIMIT' });
  t.throws(() => planLimits(v1.host, rel, { unified: { 'memory.high': '1' } }), { code: 'EINVALIDLIMIT', message: /cgroup v2 files, and this host has cgroup v1/ });
  t.throws(() => planLimits(v1.host, rel, { cpusetMems: '0;1' }), { code: 'EINVALIDLIMIT', message: /not a list of memory nodes/ });
  const order = (swapFirst: boolean) => placeWrites(v1.host, rel, limitWrites(v1.host, { memory: 2 << 20, memorySwap: 3 << 20 }, { swapFirst })).map((o) => (o.op === 'write' ? basename(o.path) : ''));
  t.deepEqual(order(false), ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']);
  t.deepEqual(order(true), ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes']);
});

function sleeper() {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, sig) => r(sig)));
  return { pid: child.pid!, exited, child };
}

test('v1 kill: freezer FROZEN, SIGKILL each pid of the subtree, THAWED', async (t) => {
  const f = fakeV1();
  t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
  const p = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns');
  applyPlan(planCreate(f.host, p.container!), f.fs);
  const a = sleeper();
  const b = sleeper();
  t.teardown(() => [a, b].forEach((s) => s.child.kill('SIGKILL')));
  // the fake's freezer.state reads back what was written (the kernel reads FREEZING, then FROZEN)
  writeFileSync(join(f.root, 'freezer', p.pod, 'cgroup.procs'), `${a.pid}\n`);
  writeFileSync(join(f.root, 'freezer', p.container!, 'cgroup.procs'), `${b.pid}\n`);
  await killCgroup(f.host, p.pod);
  t.is(await a.exited, 'SIGKILL');
  t.is(await b.exited, 'SIGKILL');
  t.is(read(join(f.root, 'freezer', p.pod, 'freezer.state')), 'THAWED');
});

test('v2 kill: one write of 1 to cgroup.kill', async (t) => {
  const f = fakeV2();
  t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
  const p = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns');
  applyPlan(planCreate(f.host, p.container!), f.fs);
  await killCgroup(f.host, p.pod);
  t.is(read(join(f.root, p.pod, 'cgroup.kill')), '1');
  // gone already: nothing to do
  await killCgroup(f.host, 'podns/gone-0123abcd');
  t.false(existsSync(join(f.root, 'podns/gone-0123abcd')));
});

for (const kind of ['v1', 'v2'] as const) {
  test(`${kind} remove: children first in every hierarchy; EBUSY retried, then reported with the path`, async (t) => {
    const f = kind === 'v1' ? fakeV1() : fakeV2();
    t.teardown(() => rmSync(f.root, { recursive: true, force: true }));
    const p = cgroupPaths({ name: 'web', uid: UID }, 'app', 'podns');
    applyPlan(planCreate(f.host, p.container!), f.fs);
    applyPlan(planCreate(f.host, `${p.pod}/side`), f.fs);
    const leaf = kind === 'v1' ? join(f.root, 'memory', p.container!) : join(f.root, p.container!);
    f.busy.set(leaf, 3); // busy for a moment (a dying process still attached)
    t.true(await removeCgroup(f.host, p.pod, f.fs));
    const left = kind === 'v1' ? readdirSync(f.root).filter((c) => existsSync(join(f.root, c, p.pod))) : (existsSync(join(f.root, p.pod)) ? ['pod'] : []);
    t.deepEqual(left, []);
    t.true(existsSync(kind === 'v1' ? join(f.root, 'memory', 'podns') : join(f.root, 'podns'))); // the parent stays
    t.false(await removeCgroup(f.host, p.pod, f.fs)); // gone: nothing to do
    // busy for good: a bounded wait, then one error naming the cgroup
    applyPlan(planCreate(f.host, p.container!), f.fs);
    f.busy.set(leaf, 1000);
    const err = await t.throwsAsync(removeCgroup(f.host, p.pod, f.fs), { code: 'EBUSY' });
    t.true(err!.message.startsWith(`cannot remove cgroup ${leaf}: EBUSY`), err!.message);
    t.is(basename(leaf), 'app');
  });
}
