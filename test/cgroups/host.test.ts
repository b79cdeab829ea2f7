// src/cgroups on this machine's kernel, in the test sandbox (privileged). Under the run's own parent
// (PODNS_CGROUP_PARENT=podns-test-TOKEN, set by test/sandbox-run.ts, which fails the run if anything is
// left under it in any hierarchy).
// - v1 (this VM's driver): a pod and a container cgroup in every hierarchy podns uses, limits written and
//   read back, a process put in, seen in /proc/PID/cgroup, killed through the freezer, all removed.
// - v2: a private cgroup2 view mounted in the sandbox: create, membership, kill by cgroup.kill, removal.
//   What needs a controller this kernel does not give to v2 is skipped, saying so in its title.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyPlan, cgroupPaths, detectCgroups, hierarchyDirs, joinCgroup, killCgroup, parseProcCgroup, planCreate, planLimits, removeCgroup,
  type CgroupHost,
} from '../../src/cgroups/index.js';
import { privileged, skipReason } from '../helpers/root.js';
import { cgroupParentFor } from '../../src/cgroups/index.js';
import { containerCgroupsFor, makeContainerCgroups } from '../../src/container/limits.js';
import { makePodCgroup, podCgroupFor, removePodCgroup } from '../../src/pod/cgroup.js';
import { startPause } from '../../src/pod/pause.js';

const host = detectCgroups();
const read = (p: string) => readFileSync(p, 'utf8').trim();

function sleeper(args: string[] = ['sleep', '1000'], stdin: 'ignore' | 'pipe' = 'ignore') {
  const child = spawn(args[0]!, args.slice(1), { stdio: [stdin, 'ignore', 'ignore'] });
  // the signal that ended it, else its exit status (to see what went wrong)
  const exited = new Promise<string>((r) => child.on('exit', (c, sig) => r(sig ?? `exit ${c}`)));
  return { pid: child.pid!, exited, child };
}

async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (f()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const pidsIn = (dir: string) => read(join(dir, 'cgroup.procs')).split('\n').filter(Boolean);

if (host.driver === 'v1') {
  privileged('v1 (this host): pod and container cgroups, limits read back, membership in /proc/PID/cgroup, kill through the freezer, removal', async (t) => {
    const p = cgroupPaths({ name: 'cg-real', uid: randomUUID() }, 'box');
    t.regex(p.parent, /^podns-test-[0-9a-f]+$/); // the run's own parent, never the machine's podns
    const workers: ReturnType<typeof sleeper>[] = [];
    t.teardown(async () => {
      for (const w of workers) w.child.kill('SIGKILL');
      await removeCgroup(host, p.pod).catch(() => undefined);
    });
    applyPlan(planCreate(host, p.container!));
    const mem = host.mounts.memory!;
    const limits = { memory: 64 << 20, cpus: 0.5, cpuShares: 512, pids: 1000, cpusetCpus: '0' };
    const memsw = existsSync(join(mem, 'memory.memsw.limit_in_bytes'));
    if (!memsw) t.log('no swap accounting on this kernel (memory.memsw.*): --memory-swap not checked');
    applyPlan(planLimits(host, p.container!, memsw ? { ...limits, memorySwap: 128 << 20 } : limits));
    t.is(read(join(mem, p.container!, 'memory.limit_in_bytes')), String(64 << 20));
    if (memsw) t.is(read(join(mem, p.container!, 'memory.memsw.limit_in_bytes')), String(128 << 20));
    t.is(read(join(host.mounts.cpu!, p.container!, 'cpu.cfs_quota_us')), '50000');
    t.is(read(join(host.mounts.cpu!, p.container!, 'cpu.cfs_period_us')), '100000');
    t.is(read(join(host.mounts.cpu!, p.container!, 'cpu.shares')), '512');
    t.is(read(join(host.mounts.pids!, p.container!, 'pids.max')), '1000');
    t.is(read(join(host.mounts.cpuset!, p.container!, 'cpuset.cpus')), '0');
    // the pod's cpuset was copied down from the parent (a v1 cpuset starts empty)
    t.is(read(join(host.mounts.cpuset!, p.pod, 'cpuset.mems')), read(join(host.mounts.cpuset!, 'cpuset.mems')));

    // without that copy no process may join: the kernel's ENOSPC
    applyPlan(planCreate(host, `${p.pod}/bare`).filter((o) => o.op === 'mkdir' && o.path.startsWith(host.mounts.cpuset!)));
    const probe = sleeper();
    workers.push(probe);
    t.throws(() => writeFileSync(join(host.mounts.cpuset!, p.pod, 'bare', 'cgroup.procs'), String(probe.pid)), { code: 'ENOSPC' });

    // a shell that keeps forking once it is inside (paced: at pids.max a failed fork would end the shell)
    const bomb = sleeper(['sh', '-c', 'read go; while :; do sleep 100 & sleep 0.01; done'], 'pipe');
    workers.push(bomb);
    joinCgroup(host, p.container!, probe.pid);
    joinCgroup(host, p.container!, bomb.pid);
    const seen = parseProcCgroup(read(`/proc/${probe.pid}/cgroup`));
    for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids']) t.is(seen.get(c), `/${p.container}`, c);
    bomb.child.stdin!.write('go\n');
    await until('a few forks', () => pidsIn(join(host.mounts.pids!, p.container!)).length >= 8);

    await killCgroup(host, p.pod);
    t.is(await probe.exited, 'SIGKILL');
    t.is(await bomb.exited, 'SIGKILL');
    await until('the cgroup to empty', () => pidsIn(join(host.mounts.freezer!, p.container!)).length === 0);
    t.is(read(join(host.mounts.freezer!, p.pod, 'freezer.state')), 'THAWED');

    t.true(await removeCgroup(host, p.pod));
    for (const d of hierarchyDirs(host, p.pod)) t.false(existsSync(d), d);
    t.true(existsSync(join(mem, p.parent))); // the parent stays (the runner removes the run's)
  });
} else {
  test.skip(`v1 cgroups on this host [skipped: the driver here is ${host.driver}: no v1 controller hierarchies]`, () => undefined);
}

/** A private cgroup2 view in the sandbox's mount namespace (the same hierarchy the machine's cgroup2 shows). */
function mountView(t: { teardown(f: () => void): void }): CgroupHost & { driver: 'v2' } {
  const dir = mkdtempSync(join(tmpdir(), 'podns-cg2-'));
  execFileSync('mount', ['-t', 'cgroup2', 'none', dir]);
  t.teardown(() => {
    execFileSync('umount', [dir]);
    rmdirSync(dir);
  });
  return { driver: 'v2', mountPoint: dir, controllers: read(join(dir, 'cgroup.controllers')).split(/\s+/).filter(Boolean) };
}

// what the kernel gives cgroup2 here, decided before the tests are declared (a skip must say why)
function v2Controllers(): string[] | undefined {
  if (skipReason() !== undefined) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'podns-cg2-probe-'));
  try {
    execFileSync('mount', ['-t', 'cgroup2', 'none', dir]);
    try {
      return read(join(dir, 'cgroup.controllers')).split(/\s+/).filter(Boolean);
    } finally {
      execFileSync('umount', [dir]);
    }
  } catch {
    return undefined;
  } finally {
    rmdirSync(dir);
  }
}
const v2 = v2Controllers();

privileged('v2 (a private cgroup2 view): create, membership, kill by cgroup.kill, removal', async (t) => {
  const h = mountView(t);
  t.log(`cgroup2 controllers here: ${h.controllers.join(' ') || '(none)'}`);
  const p = cgroupPaths({ name: 'cg-view', uid: randomUUID() }, 'box');
  const workers: ReturnType<typeof sleeper>[] = [];
  t.teardown(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await removeCgroup(h, p.pod).catch(() => undefined);
  });
  applyPlan(planCreate(h, p.container!));
  const dir = join(h.mountPoint, p.container!);
  t.true(existsSync(join(dir, 'cgroup.procs')));
  const a = sleeper();
  const b = sleeper();
  workers.push(a, b);
  joinCgroup(h, p.container!, a.pid);
  joinCgroup(h, `${p.pod}/box`, b.pid);
  t.is(parseProcCgroup(read(`/proc/${a.pid}/cgroup`)).get(''), `/${p.container}`);
  t.regex(read(join(h.mountPoint, p.pod, 'cgroup.events')), /^populated 1$/m);
  t.deepEqual(pidsIn(dir).sort(), [String(a.pid), String(b.pid)].sort());
  await killCgroup(h, p.pod);
  t.is(await a.exited, 'SIGKILL');
  t.is(await b.exited, 'SIGKILL');
  await until('populated 0', () => /^populated 0$/m.test(read(join(h.mountPoint, p.pod, 'cgroup.events'))));
  t.true(await removeCgroup(h, p.pod));
  t.false(existsSync(join(h.mountPoint, p.pod)));
});

privileged('v2 without cgroup.kill (kernels before 5.14): cgroup.freeze, SIGKILL each process, thaw', async (t) => {
  const h = mountView(t);
  const p = cgroupPaths({ name: 'cg-freeze', uid: randomUUID() }, 'box');
  const workers: ReturnType<typeof sleeper>[] = [];
  t.teardown(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await removeCgroup(h, p.pod).catch(() => undefined);
  });
  applyPlan(planCreate(h, p.container!));
  const bomb = sleeper(['sh', '-c', 'read go; while :; do sleep 100 & sleep 0.01; done'], 'pipe');
  workers.push(bomb);
  joinCgroup(h, p.container!, bomb.pid);
  bomb.child.stdin!.write('go\n');
  await until('a few forks', () => pidsIn(join(h.mountPoint, p.container!)).length >= 4);
  await killCgroup(h, p.pod, { noCgroupKill: true });
  t.is(await bomb.exited, 'SIGKILL');
  await until('populated 0', () => /^populated 0$/m.test(read(join(h.mountPoint, p.pod, 'cgroup.events'))));
  t.is(read(join(h.mountPoint, p.pod, 'cgroup.freeze')), '0'); // thawed again
  t.true(await removeCgroup(h, p.pod));
});

privileged('v2 (a private cgroup2 view): a pod\'s cgroup as create makes it — the pause joins its _pause leaf, a container\'s below, cgroup.events, kill and removal by the pod layer', async (t) => {
  const h = mountView(t);
  const pod = { name: 'cg-pod', uid: randomUUID() };
  const cg = podCgroupFor(h, pod, cgroupParentFor(), [])!;
  const workers: number[] = [];
  t.teardown(async () => {
    for (const p of workers) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    await removeCgroup(h, cg.path).catch(() => undefined);
  });
  t.deepEqual(cg.dirs, [join(h.mountPoint, cg.path)]);
  const procs = makePodCgroup(cg);
  t.deepEqual(procs, [join(h.mountPoint, cg.path, '_pause', 'cgroup.procs')]);
  // as createPod starts the pause (pause -c PROCS: it joins once running)
  const { pid } = startPause({ root: '/nonexistent', pod: pod.name, uid: pod.uid, sharePid: false, cloneFlags: 0, cgroupProcs: procs });
  workers.push(pid);
  await until('the pause in its leaf', () => parseProcCgroup(read(`/proc/${pid}/cgroup`)).get('') === `/${cg.path}/_pause`);
  const c = containerCgroupsFor({ ...pod, cgroupParent: cgroupParentFor() }, 'app', [], h);
  t.is(c.path, `${cg.path}/app`);
  makeContainerCgroups(c);
  const w = sleeper();
  workers.push(w.pid);
  joinCgroup(h, c.path, w.pid);
  t.regex(read(join(h.mountPoint, cg.path, 'cgroup.events')), /^populated 1$/m);
  if (h.controllers.includes('memory')) {
    t.regex(read(join(h.mountPoint, c.path, 'memory.events')), /^oom_kill 0$/m);
  } else {
    t.log(`memory.events not checked: this kernel gives cgroup2 no memory controller here (controllers: ${h.controllers.join(' ') || 'none'})`);
  }
  t.true(await removePodCgroup(h, { path: cg.path, dirs: cg.dirs }));
  t.is(await w.exited, 'SIGKILL');
  await until('the pause to die', () => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(read(`/proc/${pid}/status`)));
  t.false(existsSync(join(h.mountPoint, cg.path)));
  // a record podns cannot have made is left alone
  t.false(await removePodCgroup(h, { path: 'system.slice', dirs: [] }));
});

const V2_LIMITS = ['memory', 'cpu', 'pids'];
const lacking = v2 === undefined ? [] : V2_LIMITS.filter((c) => !v2.includes(c));
if (v2 !== undefined && lacking.length > 0) {
  test.skip(`v2 limits (memory.max, cpu.max, pids.max) on the cgroup2 view [skipped: this kernel gives cgroup2 none of ${lacking.join(', ')} here: ${lacking.length === V2_LIMITS.length ? 'they are bound to v1 hierarchies' : 'missing there'}]`, () => undefined);
} else {
  privileged('v2 limits (memory.max, cpu.max, pids.max) on the cgroup2 view', async (t) => {
    const h = mountView(t);
    const p = cgroupPaths({ name: 'cg-lim', uid: randomUUID() }, 'box');
    t.teardown(async () => {
      await removeCgroup(h, p.pod).catch(() => undefined);
    });
    applyPlan(planCreate(h, p.container!));
    applyPlan(planLimits(h, p.container!, { memory: 64 << 20, cpus: 0.5, pids: 32 }));
    const dir = join(h.mountPoint, p.container!);
    t.is(read(join(dir, 'memory.max')), String(64 << 20));
    t.is(read(join(dir, 'cpu.max')), '50000 100000');
    t.is(read(join(dir, 'pids.max')), '32');
    // subtree_control at the levels podns made; the controllers of the parent above it are the host's
    t.true(read(join(h.mountPoint, p.pod, 'cgroup.subtree_control')).split(' ').includes('memory'));
    t.true(await removeCgroup(h, p.pod));
  });
}
