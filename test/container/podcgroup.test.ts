// The pod's own cgroup on this host: made at create under its cgroup parent (--cgroup-parent), with the
// pod's totals (create --memory/--pids-limit), the pause in its leaf (_pause), the containers below it;
// stop and delete kill what is left inside (an exec session's background process in a pod sharing one pid
// namespace: the pause, not the watcher, is its init, so the watcher's end does not take it) and remove it all. A bad parent: one line, nothing made.
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostCgroups, parseProcCgroup } from '../../src/cgroups/index.js';
import { readContainerConfig, readContainerStatus, runContainer } from '../../src/container/index.js';
import { deletePod } from '../../src/pod/delete.js';
import { readPod } from '../../src/pod/store.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import { processGone, waitFor, type TestEnv } from '../pod/env.js';
import { useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let rootfs = '';

useContainerEnv('podcg', 163, async (e, w) => {
  env = e;
  rootfs = makeBusyboxRootfs(join(w, 'rootfs'));
});

const read = (p: string) => readFileSync(p, 'utf8').trim();
const v1 = () => hostCgroups().driver === 'v1';

privileged('create --cgroup-parent --memory --pids-limit: the pod\'s cgroup holds its totals, the pause sits in its leaf, containers below; delete removes it all', async (t) => {
  if (!busyboxAvailable() || !v1()) { t.pass(`needs busybox and cgroup v1 (driver here: ${hostCgroups().driver})`); return; }
  const host = hostCgroups();
  if (host.driver !== 'v1') return;
  const r = await env!.cli(['create', 'pc', '--bridge', env!.bridge, '--subnet', env!.subnet, '--cgroup-parent', '/kubepods/burstable/',
    '--memory', '64m', '--pids-limit', '100', '--cpus', '1.5']);
  t.is(r.exitCode, 0, r.stderr);
  const rec = readPod({ root: env!.root, name: 'pc' });
  // nested under the test run's own parent (PODNS_CGROUP_PARENT), never the machine's tree
  t.is(rec.cgroupParent, `${process.env.PODNS_CGROUP_PARENT}/kubepods/burstable`);
  t.is(rec.cgroupPath, `${rec.cgroupParent}/pc-${rec.uid.replace(/-/g, '').slice(0, 8)}`);
  const dirs = rec.cgroupDirs!;
  t.true(dirs.length >= 5 && dirs.every((d) => existsSync(d)), JSON.stringify(dirs));
  t.is(read(join(host.mounts.memory!, rec.cgroupPath!, 'memory.limit_in_bytes')), String(64 << 20));
  t.is(read(join(host.mounts.pids!, rec.cgroupPath!, 'pids.max')), '100');
  t.is(read(join(host.mounts.cpu!, rec.cgroupPath!, 'cpu.cfs_quota_us')), '150000');
  // the pause: in its leaf in every hierarchy (joined before exec)
  const seen = parseProcCgroup(read(`/proc/${rec.pause!.pid}/cgroup`));
  for (const c of ['memory', 'pids', 'freezer', 'cpu']) t.is(seen.get(c), `/${rec.cgroupPath}/_pause`, c);
  // a container: under the pod's cgroup
  await runContainer({ root: env!.root, pod: 'pc', name: 'c', rootfs, command: ['sleep', '1000'] });
  const cfg = readContainerConfig({ root: env!.root, pod: 'pc', name: 'c' })!;
  t.is(cfg.cgroupPath, `${rec.cgroupPath}/c`);
  const ins = JSON.parse((await env!.cli(['inspect', 'pc'])).stdout) as { cgroups: { driver: string; path?: string } };
  t.is(ins.cgroups.driver, 'v1');
  t.is(ins.cgroups.path, rec.cgroupPath);
  const del = await env!.cli(['delete', 'pc', '--grace', '0']);
  t.is(del.exitCode, 0, del.stderr);
  for (const d of [...dirs, ...cfg.cgroupDirs!]) t.false(existsSync(d), `delete removed ${d}`);
  t.true(existsSync(join(host.mounts.memory!, rec.cgroupParent!)), 'the parent stays (it is not the pod\'s)');
  // (removed here: the test asked for it)
  for (const d of rec.cgroupDirs!) {
    rmdirSync(join(d, '..'));
    rmdirSync(join(d, '..', '..'));
  }
});

privileged('a bad --cgroup-parent or pod limit: one line naming the fix, nothing made', async (t) => {
  for (const [args, re] of [
    [['--cgroup-parent', '../escape'], /invalid cgroup parent "\.\.\/escape"/],
    [['--cgroup-parent', 'a/./b'], /invalid cgroup parent/],
    [['--cgroup-parent', ''], /invalid cgroup parent/],
    [['--memory', 'lots'], /invalid --memory "lots"/],
    [['--memory', '64m', '--memory-swap', '32m'], /--memory-swap .* is the memory plus swap total/],
    [['--cpuset-cpus', '0-'], /invalid --cpuset-cpus/],
  ] as const) {
    const r = await env!.cli(['create', 'badcg', '--network', 'none', ...args]);
    t.is(r.exitCode, 1, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.throws(() => readPod({ root: env!.root, name: 'badcg' }), undefined, 'nothing recorded');
  }
});

for (const how of ['stop', 'delete'] as const) {
  privileged(`${how} kills an exec session's background process that outlives the container's watcher (a pod sharing one pid namespace: the pause is its init)`, async (t) => {
    if (!busyboxAvailable()) { t.pass('needs busybox'); return; }
    const pod = `esc-${how}`;
    const r = await env!.cli(['create', pod, '--network', 'none', '--share-pid']);
    t.is(r.exitCode, 0, r.stderr);
    await runContainer({ root: env!.root, pod, name: 'c', rootfs, command: ['sleep', '1000'] });
    const cfg = readContainerConfig({ root: env!.root, pod, name: 'c' })!;
    const st = readContainerStatus({ root: env!.root, pod, name: 'c' })!;
    const pidsDir = cfg.cgroupDirs!.find((d) => existsSync(join(d, 'pids.max')))!;
    const members = () => read(join(pidsDir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
    // a background process started by exec: its parent (the session's shell) ends at once, the pause adopts it
    const ex = await env!.cli(['exec', pod, '--', 'sh', '-c', 'sleep 1001 >/dev/null 2>&1 &']);
    t.is(ex.exitCode, 0, ex.stderr);
    let bg = 0;
    await waitFor(() => (bg = members().find((p) => p !== st.pid) ?? 0) !== 0, 'the background sleep in the container\'s cgroup');
    t.is(readFileSync(`/proc/${bg}/cmdline`, 'utf8'), 'sleep\u00001001\u0000');
    if (how === 'stop') {
      const s = await env!.cli(['stop', pod, '--grace', '0']);
      t.is(s.exitCode, 0, s.stderr);
      // the watcher is gone, the pause lives on: only the cgroup could have taken the sleep
      t.true(readPod({ root: env!.root, name: pod }).pause !== undefined);
    } else {
      await deletePod({ root: env!.root, name: pod, grace: 0 });
    }
    await waitFor(() => processGone(bg), `the background sleep ${bg} to be killed`);
    t.false(existsSync(pidsDir), 'and the container\'s cgroup removed');
    if (how === 'stop') await deletePod({ root: env!.root, name: pod, grace: 0 });
  });
}
