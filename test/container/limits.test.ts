// Limits (run --memory/--cpus/--pids-limit) enforced by cgroups on this host: the files hold the values,
// the workload and exec sessions are inside, a memory hog is OOMKilled at its limit, a fork loop stops
// at its pids limit, and nothing is left after delete, after the watcher ends, after kill -9 + gc.
// A container without limit flags gets a cgroup too, in every hierarchy, with the default pids limit.
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostCgroups, type CgroupHost } from '../../src/cgroups/index.js';
import {
  DEFAULT_PIDS_LIMIT, execInContainer, parseCpus, parseCpuShares, parseCpusetCpus, parseMemorySwap, parsePidsLimit, psRows,
  readContainerConfig, readContainerStatus, resolveLimits, runContainer,
} from '../../src/container/index.js';
import { limitWrites } from '../../src/cgroups/index.js';
import { parseMemorySize } from '../../src/util/units.js';
import { shimOptions } from '../../src/container/run.js';
import { deletePod } from '../../src/pod/delete.js';
import { inspectPod } from '../../src/pod/inspect.js';
import { readPod } from '../../src/pod/store.js';
import { shimArgv } from '../../src/native/helper.js';
import { PodnsError } from '../../src/errors.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import { processGone, waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let rootfs = '';

useContainerEnv('limits', 175, async (e, w) => {
  env = e;
  rootfs = makeBusyboxRootfs(join(w, 'rootfs'));
});

const v1 = (): boolean => hostCgroups().driver === 'v1';

const withLimits = (title: string, impl: (t: ExecutionContext) => Promise<void>): void =>
  privileged(title, async (t) => {
    if (!busyboxAvailable()) { t.pass('no busybox'); return; }
    if (!v1()) { t.pass(`these checks read cgroup v1 files; this host's driver is ${hostCgroups().driver}`); return; }
    await impl(t);
  });

/** The file in whichever of the container's cgroups has it. */
function cgFile(dirs: readonly string[], file: string): string {
  const d = dirs.find((x) => existsSync(join(x, file)));
  if (d === undefined) throw new Error(`no ${file} in ${dirs.join(', ')}`);
  return readFileSync(join(d, file), 'utf8').trim();
}

// ---- units (no kernel) ----

test('--memory sizes: Docker units, 1024-based; bad ones are one clear error', (t) => {
  t.is(parseMemorySize('32m'), 33554432);
  t.is(parseMemorySize('1g'), 1024 ** 3);
  t.is(parseMemorySize('512K'), 512 * 1024);
  t.is(parseMemorySize('4096'), 4096);
  t.is(parseMemorySize('100b'), 100);
  for (const bad of ['', '0', '-1m', '32mb', '1t', 'lots', '1e9']) {
    t.throws(() => parseMemorySize(bad), { instanceOf: PodnsError, message: /invalid --memory .*512m or 1g/ }, bad);
  }
  t.is(parseCpus('0.5'), 0.5);
  t.throws(() => parseCpus('0'), { message: /invalid --cpus/ });
  t.throws(() => parseCpus('half'), { message: /invalid --cpus/ });
  t.is(parsePidsLimit('20'), 20);
  t.is(parsePidsLimit('-1'), -1);
  t.is(parsePidsLimit('0'), -1, 'podman: 0 is unlimited too');
  t.throws(() => parsePidsLimit('-2'), { message: /invalid --pids-limit/ });
  t.is(parseCpuShares('512'), 512);
  for (const bad of ['1', '262145', 'x', '1.5']) t.throws(() => parseCpuShares(bad), { message: /invalid --cpu-shares/ }, bad);
  t.is(parseMemorySwap('-1'), -1);
  t.is(parseMemorySwap('0'), undefined, 'docker: 0 is as if not given');
  t.is(parseMemorySwap('64m'), 64 << 20);
  t.throws(() => parseMemorySwap('x'), { message: /invalid --memory-swap/ });
  t.is(parseCpusetCpus('0-1,3'), '0-1,3');
  for (const bad of ['', 'a', '0-', '0;1', '1,,2']) t.throws(() => parseCpusetCpus(bad), { message: /invalid --cpuset-cpus/ }, bad);
});

test('limits from flags and from resources (the kubelet\'s mapping); the default pids limit where the host has pids', (t) => {
  const pids: CgroupHost = { driver: 'v1', controllers: ['pids', 'memory', 'cpu'], mounts: { pids: '/x/pids', memory: '/x/memory', cpu: '/x/cpu' }, unified: null };
  const noPids: CgroupHost = { driver: 'v2', mountPoint: '/x', controllers: ['memory', 'cpu'] };
  const none: CgroupHost = { driver: 'none', controllers: [], reason: 'no cgroup filesystem is mounted' };
  t.deepEqual(resolveLimits({}, pids), { pids: DEFAULT_PIDS_LIMIT });
  t.is(DEFAULT_PIDS_LIMIT, 2048);
  t.deepEqual(resolveLimits({}, noPids), {}, 'a cgroup still, without a pids limit where there is no pids controller');
  t.is(resolveLimits({}, none), undefined, 'no cgroups at all: no cgroup');
  t.deepEqual(resolveLimits({ pidsLimit: -1 }, noPids), {}, 'unlimited needs no controller');
  t.deepEqual(resolveLimits({ resources: { limits: {}, requests: {} } }, pids), { pids: DEFAULT_PIDS_LIMIT });
  t.deepEqual(resolveLimits({ memory: 1024, cpus: 0.5, pidsLimit: 20 }, pids), { memory: 1024, cpus: 0.5, pids: 20 });
  t.deepEqual(resolveLimits({ memorySwap: -1, memory: 1024, cpuShares: 512, cpusetCpus: '0', pidsLimit: -1 }, pids),
    { memory: 1024, memorySwap: -1, cpuShares: 512, cpusetCpus: '0', pids: -1 });
  t.deepEqual(resolveLimits({ resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '250m', memory: '64Mi' } } }, pids),
    { memory: 64 * 1024 * 1024, cpus: 0.5, cpuShares: 256, pids: DEFAULT_PIDS_LIMIT });
  t.deepEqual(resolveLimits({ resources: { requests: { memory: '1Gi' } } }, noPids), {}, 'a memory request alone binds nothing');
  t.deepEqual(resolveLimits({ memory: 2048, resources: { limits: { memory: '1Ki' }, requests: { memory: '1Ki' } } }, noPids), { memory: 2048 }, 'the flag wins');
});

test('a limit whose controller the host lacks: one clear error (checked before anything is made)', (t) => {
  const host: CgroupHost = { driver: 'v1', controllers: ['cpu', 'cpuacct'], mounts: { cpu: '/nonexistent/cpu', cpuacct: '/nonexistent/cpu' }, unified: null };
  t.throws(() => limitWrites(host, { memory: 1 << 20 }), { message: /--memory needs the memory cgroup controller, which this host's cgroup v1 does not offer/ });
  t.throws(() => limitWrites(host, { pids: 10 }), { message: /--pids-limit needs the pids cgroup controller/ });
  t.throws(() => limitWrites(host, { cpusetCpus: '0' }), { message: /--cpuset-cpus needs the cpuset cgroup controller/ });
  t.throws(() => limitWrites({ ...host, controllers: ['memory'] }, { memory: 1 << 20, memorySwap: 1 << 19 }), { message: /--memory-swap .* is the memory plus swap total/ });
  t.notThrows(() => limitWrites(host, { cpus: 1, cpuShares: 100 }));
  const none: CgroupHost = { driver: 'none', controllers: [], reason: 'no cgroup filesystem is mounted' };
  t.throws(() => limitWrites(none, { cpus: 1 }), { message: /cannot set limits: no cgroup filesystem/ });
});

// ---- on this host ----

withLimits('--memory/--cpus/--pids-limit: the files hold them, the workload and exec are inside, delete removes them', async (t) => {
  await createTestPod(env!, 'lim');
  await runContainer({ root: env!.root, pod: 'lim', name: 'c', rootfs, command: ['sleep', '1000'], memory: parseMemorySize('32m'), cpus: 0.5, pidsLimit: 20 });
  const cfg = readContainerConfig({ root: env!.root, pod: 'lim', name: 'c' })!;
  const dirs = cfg.cgroupDirs!;
  const host = hostCgroups();
  if (host.driver !== 'v1') throw new Error('v1 only');
  // every hierarchy podns uses (the joins after the first ride on its RCU grace period)
  t.is(dirs.length, new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids'].map((c) => host.mounts[c as 'cpu'])).size);
  t.is(cgFile(dirs, 'memory.limit_in_bytes'), '33554432');
  t.is(cgFile(dirs, 'cpu.cfs_quota_us'), '50000');
  t.is(cgFile(dirs, 'cpu.cfs_period_us'), '100000');
  t.is(cgFile(dirs, 'pids.max'), '20');
  const st = readContainerStatus({ root: env!.root, pod: 'lim', name: 'c' })!;
  for (const d of dirs) t.true(cgFile([d], 'cgroup.procs').split('\n').includes(String(st.pid)), `the workload is in ${d}`);
  // an exec session joins them too
  const inAll = dirs.map((d) => `grep -q ":${d.split('/')[4]}:/${cfg.cgroupPath}$" /proc/self/cgroup`).join(' && ');
  t.is(await execInContainer({ root: env!.root, pod: 'lim', container: 'c', argv: ['sh', '-c', inAll] }), 0, inAll);
  const d = inspectPod({ root: env!.root, name: 'lim' }).containers.details[0]!;
  t.deepEqual([d.limits.memory, d.limits.cpus, d.limits.pids], [33554432, 0.5, 20]);
  await deletePod({ root: env!.root, name: 'lim', grace: 0 });
  for (const x of dirs) {
    t.false(existsSync(x), `delete removed ${x}`);
    t.false(existsSync(join(x, '..')), 'and the pod\'s level');
  }
});

withLimits('a container without limit flags gets its cgroup in every hierarchy, with the default pids limit; --pids-limit -1: unlimited', async (t) => {
  await createTestPod(env!, 'nolim');
  await runContainer({ root: env!.root, pod: 'nolim', name: 'c', rootfs, command: ['sleep', '1000'] });
  await runContainer({ root: env!.root, pod: 'nolim', name: 'u', rootfs, command: ['sleep', '1000'], pidsLimit: -1 });
  const cfg = readContainerConfig({ root: env!.root, pod: 'nolim', name: 'c' })!;
  const host = hostCgroups();
  if (host.driver !== 'v1') throw new Error('v1 only');
  t.deepEqual(cfg.limits, { pids: DEFAULT_PIDS_LIMIT });
  const mounts = [...new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids'].map((c) => host.mounts[c as 'cpu']!))];
  t.deepEqual([...cfg.cgroupDirs!].sort(), mounts.map((m) => join(m, cfg.cgroupPath!)).sort());
  t.is(cgFile(cfg.cgroupDirs!, 'pids.max'), String(DEFAULT_PIDS_LIMIT));
  const st = readContainerStatus({ root: env!.root, pod: 'nolim', name: 'c' })!;
  for (const d of cfg.cgroupDirs!) t.true(cgFile([d], 'cgroup.procs').split('\n').includes(String(st.pid)), `the workload is in ${d}`);
  t.true(shimArgv(shimOptions(env!.root, readPod({ root: env!.root, name: 'nolim' }), cfg)).includes('--cgroup-dir'));
  const u = readContainerConfig({ root: env!.root, pod: 'nolim', name: 'u' })!;
  t.is(cgFile(u.cgroupDirs!, 'pids.max'), 'max');
  const d = inspectPod({ root: env!.root, name: 'nolim' }).containers.details[0]!;
  t.regex(d.limits.summary, new RegExp(`^pids ${DEFAULT_PIDS_LIMIT}; enforced in `));
  t.is(d.limits.cgroups.length, mounts.length);
  await deletePod({ root: env!.root, name: 'nolim', grace: 0 });
  for (const x of [...cfg.cgroupDirs!, ...u.cgroupDirs!]) t.false(existsSync(x), `delete removed ${x}`);
});

withLimits('a memory hog over --memory 32m is OOMKilled (exit 137, ps and inspect say so); the watcher removes the cgroup', async (t) => {
  await createTestPod(env!, 'oom');
  // each round multiplies the string by 8: past 32 MiB within a few rounds
  await runContainer({ root: env!.root, pod: 'oom', name: 'hog', rootfs, memory: parseMemorySize('32m'),
    command: ['sh', '-c', 'x=0123456789; while :; do x=$x$x$x$x$x$x$x$x; done'] });
  const dirs = readContainerConfig({ root: env!.root, pod: 'oom', name: 'hog' })!.cgroupDirs!;
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'oom', name: 'hog' })?.state === 'exited', 'the hog to be killed', 30_000);
  const st = readContainerStatus({ root: env!.root, pod: 'oom', name: 'hog' })!;
  t.is(st.exitCode, 137);
  t.is(st.reason, 'OOMKilled');
  t.is(psRows({ root: env!.root, pod: 'oom' }).find((r) => r.container === 'hog')?.status, 'OOMKilled');
  t.is(inspectPod({ root: env!.root, name: 'oom' }).containers.details[0]!.reason, 'OOMKilled');
  await waitFor(() => dirs.every((d) => !existsSync(d)), 'the watcher to remove its cgroups');
  t.pass();
  // a SIGKILL that is not the OOM killer's is not OOMKilled
  await runContainer({ root: env!.root, pod: 'oom', name: 'k', rootfs, memory: parseMemorySize('32m'), command: ['sleep', '1000'] });
  const k = readContainerStatus({ root: env!.root, pod: 'oom', name: 'k' })!;
  process.kill(k.pid, 'SIGKILL');
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'oom', name: 'k' })?.state === 'exited', 'k to end');
  const k2 = readContainerStatus({ root: env!.root, pod: 'oom', name: 'k' })!;
  t.is(k2.exitCode, 137);
  t.is(k2.reason, undefined);
  await deletePod({ root: env!.root, name: 'oom', grace: 0 });
});

withLimits('a fork loop stops at --pids-limit 20 (exec sessions count too)', async (t) => {
  await createTestPod(env!, 'pids');
  await runContainer({ root: env!.root, pod: 'pids', name: 'c', rootfs, pidsLimit: 20, command: ['sleep', '1000'] });
  const dirs = readContainerConfig({ root: env!.root, pod: 'pids', name: 'c' })!.cgroupDirs!;
  // 40 background sleeps, paced; forks past pids.max fail (the shell may end with status 2 on one:
  // its exit status is not the point); the sleeps that started stay, as orphans in the container
  const loop = 'exec 2>/dev/null; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40; do sleep 1000 & busybox usleep 2000; done; true';
  await execInContainer({ root: env!.root, pod: 'pids', container: 'c', argv: ['sh', '-c', loop] });
  const current = Number(cgFile(dirs, 'pids.current'));
  t.true(current <= 20, `pids.current ${current}`);
  t.true(current >= 15, `the loop did fork until near the limit (pids.current ${current})`);
  t.regex(cgFile(dirs, 'pids.events'), /^max [1-9]/m, 'forks were refused at pids.max');
  await deletePod({ root: env!.root, name: 'pids', grace: 0 });
  t.true(dirs.every((d) => !existsSync(d)), 'delete killed the orphans and removed the cgroups');
});

withLimits('kill -9 of run after the cgroups are made, and of delete: gc leaves no cgroup', async (t) => {
  await createTestPod(env!, 'k9');
  const r = await env!.cli(['run', 'k9', '--name', 'c', '--rootfs', rootfs, '--memory', '16m', '--pids-limit', '10', '--', 'sleep', '1000'],
    { PODNS_FAULT: 'container-after-cgroups' });
  t.is(r.signal, 'SIGKILL', 'run was killed part way');
  const dirs = readContainerConfig({ root: env!.root, pod: 'k9', name: 'c' })!.cgroupDirs!;
  t.true(dirs.length >= 2);
  t.true(dirs.every((d) => existsSync(d)), 'recorded, then made');
  // a second container that did start, its watcher killed
  const { status } = await runContainer({ root: env!.root, pod: 'k9', name: 'w', rootfs, cpus: 1, command: ['sleep', '1000'] });
  const wdirs = readContainerConfig({ root: env!.root, pod: 'k9', name: 'w' })!.cgroupDirs!;
  process.kill(status.watcherPid, 'SIGKILL');
  await waitFor(() => processGone(status.pid), 'the workload to die with its pid namespace');
  const del = await env!.cli(['delete', 'k9', '--force'], { PODNS_FAULT: 'delete-after-mark' });
  t.is(del.signal, 'SIGKILL', 'delete was killed part way');
  t.true([...dirs, ...wdirs].every((d) => existsSync(d)));
  const gc = await env!.cli(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.deepEqual([...dirs, ...wdirs].filter((d) => existsSync(d)), [], gc.stdout);
  t.false(existsSync(join(dirs[0]!, '..')), 'nor the pod\'s level');
});

withLimits('bad limits on the CLI: one line, nothing made', async (t) => {
  for (const [flag, value, re] of [['--memory', '12q', /invalid --memory "12q"/], ['--cpus', '0', /invalid --cpus/], ['--pids-limit', 'x', /invalid --pids-limit/]] as const) {
    const r = await env!.cli(['run', 'badlim', '--name', 'c', '--rootfs', rootfs, flag, value, '--', 'true']);
    t.not(r.exitCode, 0);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  t.throws(() => readPod({ root: env!.root, name: 'badlim' }));
});
