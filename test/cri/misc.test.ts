// The CRI's mounts (kubelet's /etc/hosts, /dev/termination-log, the service-account token dir: read-only),
// linux.security_context masked/readonly paths, and cgroup_parent (kubelet's cgroupfs parent): against a
// podns CRI server on a socket of the test's own, through a grpc-js client.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { hostCgroups } from '../../src/cgroups/index.js';
import { readContainerConfig } from '../../src/container/index.js';
import { settleTrash } from '../../src/state/trash.js';
import type { ExecutionContext } from 'ava';
import type { Msg } from './client.js';
import { codeOf, criSuite, type CriEndpoint } from './endpoint.js';

const criTest = criSuite({ tag: 'crimisc', octet: 152 });

async function sandbox(ep: CriEndpoint, name: string, extra: Msg = {}): Promise<{ id: string; cfg: Msg }> {
  const cfg = ep.sandboxConfig(name, extra);
  const { pod_sandbox_id } = await ep.rt('RunPodSandbox', { config: cfg });
  return { id: pod_sandbox_id, cfg };
}

async function run(ep: CriEndpoint, sb: { id: string; cfg: Msg }, cfg: Msg): Promise<string> {
  const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: sb.id, config: cfg, sandbox_config: sb.cfg });
  await ep.rt('StartContainer', { container_id });
  return container_id;
}

async function sh(ep: CriEndpoint, id: string, script: string): Promise<{ out: string; code: number }> {
  const r = await ep.rt('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 10 });
  return { out: Buffer.from(r.stdout).toString() + Buffer.from(r.stderr).toString(), code: r.exit_code };
}

async function remove(ep: CriEndpoint, id: string): Promise<void> {
  await ep.rt('StopPodSandbox', { pod_sandbox_id: id });
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: id });
}

criTest('mounts as kubelet sends them: /etc/hosts, /dev/termination-log, a read-only token dir; echoed in ContainerStatus', async (t, ep) => {
  const host = join(ep.work, 'kubelet');
  mkdirSync(join(host, 'token'), { recursive: true });
  writeFileSync(join(host, 'etc-hosts'), '127.0.0.1 localhost\n10.9.9.9 from-kubelet\n');
  writeFileSync(join(host, 'termination-log'), '');
  writeFileSync(join(host, 'token', 'token'), 'eyJ-token\n');
  const sb = await sandbox(ep, 'mounts');
  const mounts = [
    { container_path: '/etc/hosts', host_path: join(host, 'etc-hosts'), readonly: false },
    { container_path: '/dev/termination-log', host_path: join(host, 'termination-log') },
    { container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: join(host, 'token'), readonly: true, recursive_read_only: true },
    { container_path: '/made', host_path: join(host, 'not-yet') },
  ];
  const id = await run(ep, sb, ep.containerConfig('m', ['sleep', '1000'], { mounts }));
  let r = await sh(ep, id, 'grep from-kubelet /etc/hosts && cat /var/run/secrets/kubernetes.io/serviceaccount/token && echo bye > /dev/termination-log');
  t.is(r.code, 0, r.out);
  t.regex(r.out, /eyJ-token/);
  t.is(readFileSync(join(host, 'termination-log'), 'utf8'), 'bye\n', 'the termination log reaches the host file');
  r = await sh(ep, id, 'touch /var/run/secrets/kubernetes.io/serviceaccount/x');
  t.not(r.code, 0);
  t.regex(r.out, /Read-only file system/);
  t.true(statSync(join(host, 'not-yet')).isDirectory(), 'a missing host path is made as a directory (containerd does so)');
  const st = (await ep.rt('ContainerStatus', { container_id: id })).status;
  t.deepEqual(st.mounts.map((m: Msg) => [m.container_path, m.readonly, m.propagation]), [
    ['/etc/hosts', false, 'PROPAGATION_PRIVATE'], ['/dev/termination-log', false, 'PROPAGATION_PRIVATE'],
    ['/var/run/secrets/kubernetes.io/serviceaccount', true, 'PROPAGATION_PRIVATE'], ['/made', false, 'PROPAGATION_PRIVATE'],
  ]);
  await remove(ep, sb.id);
});

criTest('mounts: a relative or ".." container path is INVALID_ARGUMENT, nothing is made on the host', async (t, ep) => {
  const sb = await sandbox(ep, 'badmounts');
  for (const container_path of ['data', '/a/../../etc', '/']) {
    const hostPath = join(ep.work, `never-${container_path.replace(/\W/g, '_')}`);
    const err = await t.throwsAsync(ep.rt('CreateContainer', { pod_sandbox_id: sb.id, config: ep.containerConfig('b', ['true'], { mounts: [{ container_path, host_path: hostPath }] }), sandbox_config: sb.cfg }));
    t.is((err as Msg).code, status.INVALID_ARGUMENT, err?.message);
    t.regex(err?.message ?? '', /invalid mount target/);
    t.false(existsSync(hostPath), 'the host path is not made for a refused mount');
  }
  t.deepEqual((await ep.rt('ListContainers', { filter: { pod_sandbox_id: sb.id } })).containers, []);
  await remove(ep, sb.id);
}, { only: ['podns'] });

criTest('security_context masked_paths and readonly_paths replace the defaults', async (t, ep) => {
  const sb = await sandbox(ep, 'masks');
  const id = await run(ep, sb, ep.containerConfig('m', ['sleep', '1000'], {
    linux: { security_context: { masked_paths: ['/proc/cpuinfo', '/etc'], readonly_paths: ['/tmp'] } },
  }));
  let r = await sh(ep, id, 'wc -c < /proc/cpuinfo; ls -A /etc | wc -l');
  t.is(r.code, 0, r.out);
  t.deepEqual(r.out.trim().split(/\s+/), ['0', '0'], 'a masked file reads empty, a masked directory is empty');
  r = await sh(ep, id, 'touch /tmp/x');
  t.regex(r.out, /Read-only file system/);
  r = await sh(ep, id, 'echo 1 > /proc/sys/kernel/ns_last_pid 2>&1; grep -c " /proc/sys " /proc/mounts');
  t.regex(r.out, /^0\s*$/m, 'the default read-only /proc/sys is not applied: the list given replaces it');
  await remove(ep, sb.id);
});

criTest('cgroup_parent: the pod\'s and the containers\' cgroups sit under kubelet\'s cgroupfs parent, and go with the pod', async (t, ep) => {
  const parent = `/kubepods/burstable/pod${process.pid}`;
  const sb = await sandbox(ep, 'cgparent', { linux: { cgroup_parent: parent } });
  const id = await run(ep, sb, ep.containerConfig('c', ['sleep', '1000']));
  const r = await sh(ep, id, 'cat /proc/self/cgroup');
  const lines = r.out.split('\n').filter((l) => /:(memory|pids|cpu,cpuacct|cpuacct,cpu)?:/.test(l) && l.includes('/'));
  t.true(lines.length > 0, r.out);
  const mem = r.out.split('\n').find((l) => /^\d+:memory:/.test(l) || /^0::/.test(l))!;
  t.regex(mem, new RegExp(`kubepods/burstable/pod${process.pid}/[^/]+/[^/]+$`), `the container's cgroup is PARENT/POD/CONTAINER: ${mem}`);
  const info = JSON.parse((await ep.rt('PodSandboxStatus', { pod_sandbox_id: sb.id, verbose: true })).info.podns);
  t.is(info.cgroupParent, parent);
  const rel = mem.split(':').slice(2).join(':');
  const dir = existsSync('/sys/fs/cgroup/memory') ? join('/sys/fs/cgroup/memory', rel) : join('/sys/fs/cgroup', rel);
  t.true(existsSync(dir), dir);
  await remove(ep, sb.id);
  // the pod's cgroups go on a pool thread after RemovePodSandbox answers (podns's server runs in this process)
  await settleTrash();
  t.false(existsSync(dir), 'the container\'s cgroup is removed with the pod');
  t.false(existsSync(join(dir, '..')), 'and the pod\'s');
  // the parent is kubelet's (podns leaves it): removed here as kubelet would, deepest first, in every hierarchy
  const base = rel.slice(0, rel.indexOf('/kubepods/'));
  for (const h of readdirSync('/sys/fs/cgroup')) {
    for (const p of [parent, '/kubepods/burstable', '/kubepods']) {
      try {
        rmdirSync(join('/sys/fs/cgroup', h, base, p));
      } catch {
        // not in this hierarchy, or not made
      }
    }
  }
}, { only: ['podns'] });

criTest('ContainerStats and ListContainerStats: CPU and memory from the cgroup (rss, page faults), the writable layer, int64 timestamps as strings', async (t, ep) => {
  const sb = await sandbox(ep, 'stats');
  // the shell keeps a 16 MiB string: 16 MiB of anonymous memory, 4096 pages touched (one fault each at least);
  // the final ":" keeps the shell (busybox sh execs its last command in place)
  const id = await run(ep, sb, ep.containerConfig('s', ['sh', '-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/big bs=1024 count=1024 2>/dev/null; '
    + 'x=$(head -c 16777216 /dev/zero | tr "\\0" a); touch /ready; sleep 1000; : "keep x"'], { labels: { role: 'stats' } }));
  for (let i = 0; i < 200 && (await sh(ep, id, 'test -e /ready')).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
  const a = (await ep.rt('ContainerStats', { container_id: id })).stats;
  t.is(a.attributes.id, id);
  t.deepEqual(a.attributes.labels, { role: 'stats' });
  t.regex(a.cpu.timestamp, /^\d{19}$/, 'nanoseconds, as a decimal string');
  t.true(BigInt(a.cpu.usage_core_nano_seconds.value) > 10_000_000n, `the busy loop's CPU time: ${a.cpu.usage_core_nano_seconds.value}`);
  t.true(BigInt(a.memory.working_set_bytes.value) > 0n);
  t.true(BigInt(a.memory.usage_bytes.value) >= BigInt(a.memory.working_set_bytes.value));
  t.true(BigInt(a.memory.rss_bytes?.value ?? 0) >= 16n * 1024n * 1024n, `rss_bytes holds the 16 MiB string: ${a.memory.rss_bytes?.value}`);
  t.true(BigInt(a.memory.rss_bytes.value) <= BigInt(a.memory.usage_bytes.value), 'anonymous memory is part of the usage');
  t.true(BigInt(a.memory.page_faults?.value ?? 0) >= 4096n, `page_faults counts the 4096 pages touched: ${a.memory.page_faults?.value}`);
  t.regex(a.memory.major_page_faults?.value ?? '', /^\d+$/, 'major_page_faults: a count (0 when nothing came from disk)');
  t.regex(a.writable_layer.used_bytes.value, /^\d+$/);
  // podns walks the upper dir at each call; containerd refreshes its snapshot usage every 10 s (any value is current enough)
  if (ep.kind === 'podns') {
    t.true(BigInt(a.writable_layer.used_bytes.value) >= 1024n * 1024n, 'the 1 MiB written is in the writable layer');
    t.true(BigInt(a.writable_layer.inodes_used.value) >= 2n);
  }
  await new Promise((r) => setTimeout(r, 100));
  const b = (await ep.rt('ContainerStats', { container_id: id })).stats;
  t.true(BigInt(b.cpu.timestamp) > BigInt(a.cpu.timestamp));
  t.not(b.cpu.usage_nano_cores, null, 'a rate from the second reading on');
  const list = (await ep.rt('ListContainerStats', { filter: { pod_sandbox_id: sb.id } })).stats;
  t.deepEqual(list.map((s: Msg) => s.attributes.id), [id]);
  t.deepEqual((await ep.rt('ListContainerStats', { filter: { label_selector: { role: 'nope' } } })).stats, []);
  const err = await t.throwsAsync(ep.rt('ContainerStats', { container_id: 'f'.repeat(64) }));
  t.is((err as Msg).code, status.NOT_FOUND);
  // the sandbox: its pod cgroup holds the pause and the container (containerd 1.6 has no PodSandboxStats)
  if (ep.kind === 'podns') await sandboxStats(t, ep, sb.id, id, b);
  await remove(ep, sb.id);
});

async function sandboxStats(t: ExecutionContext, ep: CriEndpoint, sbId: string, id: string, b: Msg): Promise<void> {
  const ps = (await ep.rt('PodSandboxStats', { pod_sandbox_id: sbId })).stats;
  t.is(ps.attributes.id, sbId);
  t.true(BigInt(ps.linux.cpu.usage_core_nano_seconds.value) >= BigInt(b.cpu.usage_core_nano_seconds.value), 'the pod\'s CPU includes its container\'s');
  t.true(BigInt(ps.linux.memory.working_set_bytes.value) > 0n);
  t.true(BigInt(ps.linux.process.process_count.value) >= 2n, 'the pause and the container');
  t.is(ps.linux.network.default_interface.name, 'eth0');
  t.regex(ps.linux.network.default_interface.rx_bytes.value, /^\d+$/);
  t.deepEqual(ps.linux.containers.map((x: Msg) => x.attributes.id), [id]);
  t.deepEqual((await ep.rt('ListPodSandboxStats', { filter: { id: sbId } })).stats.map((x: Msg) => x.attributes.id), [sbId]);
}


criTest('UpdateContainerResources writes the live cgroup (memory, CFS quota, shares, cpuset) and ContainerStatus echoes it', async (t, ep) => {
  const sb = await sandbox(ep, 'update');
  const id = await run(ep, sb, ep.containerConfig('u', ['sleep', '1000']));
  const linux = { memory_limit_in_bytes: String(64 * 1024 * 1024), cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', cpuset_cpus: '0' };
  await ep.rt('UpdateContainerResources', { container_id: id, linux });
  const info = JSON.parse((await ep.rt('ContainerStatus', { container_id: id, verbose: true })).info.podns);
  const rel = readContainerConfig({ root: ep.podns!.env.root, pod: info.pod, name: info.container })!.cgroupPath!;
  const host = hostCgroups();
  const read = (ctrl: 'memory' | 'cpu' | 'cpuset', v1: string, v2: string): string =>
    readFileSync(host.driver === 'v1' ? join(host.mounts[ctrl]!, rel, v1) : join(host.driver === 'v2' ? host.mountPoint : '/', rel, v2), 'utf8').trim();
  if (host.driver === 'v1') {
    t.is(read('memory', 'memory.limit_in_bytes', ''), String(64 * 1024 * 1024));
    t.is(read('cpu', 'cpu.cfs_quota_us', ''), '50000');
    t.is(read('cpu', 'cpu.shares', ''), '512');
    t.is(read('cpuset', 'cpuset.cpus', ''), '0');
  } else {
    t.log(`cgroup ${host.driver}: the limit files are checked where the controllers are offered`);
    if (host.driver === 'v2' && host.controllers.includes('memory')) t.is(read('memory', '', 'memory.max'), String(64 * 1024 * 1024));
  }
  const st = (await ep.rt('ContainerStatus', { container_id: id })).status;
  t.is(st.resources.linux.memory_limit_in_bytes, String(64 * 1024 * 1024));
  t.is(st.resources.linux.cpu_quota, '50000');
  const bad = await t.throwsAsync(ep.rt('UpdateContainerResources', { container_id: id, linux: { cpu_shares: '1' } }));
  t.is((bad as Msg).code, status.INVALID_ARGUMENT, bad?.message);
  t.regex(bad?.message ?? '', /cpu-shares must be 2-262144/);
  await remove(ep, sb.id);
}, { only: ['podns'] });

/** The container's cgroup, relative to each hierarchy: podns's config.json says it; containerd puts it at
 * CGROUP_PARENT/ID (cgroupfs driver). */
async function containerCgroup(ep: CriEndpoint, id: string): Promise<string> {
  if (ep.kind === 'containerd') return join(ep.containerd!.cgroupParent, id);
  const info = JSON.parse((await ep.rt('ContainerStatus', { container_id: id, verbose: true })).info.podns);
  return readContainerConfig({ root: ep.podns!.env.root, pod: info.pod, name: info.container })!.cgroupPath!;
}

const MiB = 1024 * 1024;

criTest('Create/UpdateContainerResources: memory_swap_limit_in_bytes (memsw / swap.max, in either direction), cpuset_mems (a node the machine lacks: refused by the kernel), hugepage_limits without a hugetlb controller ignored', async (t, ep) => {
  const host = hostCgroups();
  if (host.driver !== 'v1') {
    t.log(`cgroup ${host.driver}: this test reads v1 files (memory.memsw, cpuset.mems)`);
    t.pass();
    return;
  }
  const swapFile = join(host.mounts.memory!, 'memory.memsw.limit_in_bytes');
  const sb = await sandbox(ep, 'swap');
  // kubelet sends a limit for every huge page size of the node, 0 when the pod asks for none
  const hugepage_limits = [{ page_size: '2MB', limit: '0' }, { page_size: '1GB', limit: '0' }];
  const id = await run(ep, sb, ep.containerConfig('w', ['sleep', '1000'], {
    linux: { resources: { memory_limit_in_bytes: String(64 * MiB), memory_swap_limit_in_bytes: String(96 * MiB), cpuset_mems: '0', hugepage_limits, cpu_period: '50000', cpu_quota: '25000' } },
  }));
  const rel = await containerCgroup(ep, id);
  const read = (ctrl: 'memory' | 'cpuset' | 'cpu', file: string): string => readFileSync(join(host.mounts[ctrl]!, rel, file), 'utf8').trim();
  t.is(read('cpu', 'cpu.cfs_period_us'), '50000', 'CreateContainer\'s cpu_period');
  t.is(read('cpu', 'cpu.cfs_quota_us'), '25000');
  t.is(read('memory', 'memory.limit_in_bytes'), String(64 * MiB));
  if (existsSync(swapFile)) t.is(read('memory', 'memory.memsw.limit_in_bytes'), String(96 * MiB), 'CreateContainer\'s swap limit: memory + swap');
  t.is(read('cpuset', 'cpuset.mems'), '0');
  t.false(existsSync('/sys/fs/cgroup/hugetlb'), 'this machine has no hugetlb controller');

  // up: the new memory limit is above the old memsw limit (the kernel wants memory <= memsw at every write)
  await ep.rt('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: String(128 * MiB), memory_swap_limit_in_bytes: String(192 * MiB), hugepage_limits } });
  t.is(read('memory', 'memory.limit_in_bytes'), String(128 * MiB));
  if (existsSync(swapFile)) t.is(read('memory', 'memory.memsw.limit_in_bytes'), String(192 * MiB));
  // down: the new memsw limit is below the old memory limit
  await ep.rt('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: String(32 * MiB), memory_swap_limit_in_bytes: String(48 * MiB) } });
  t.is(read('memory', 'memory.limit_in_bytes'), String(32 * MiB));
  if (existsSync(swapFile)) t.is(read('memory', 'memory.memsw.limit_in_bytes'), String(48 * MiB));

  // a memory node this machine does not have: written, so the kernel refuses it
  const nodes = readFileSync(join(host.mounts.cpuset!, 'cpuset.mems'), 'utf8').trim();
  t.is(nodes, '0', 'one memory node here');
  const bad = await t.throwsAsync(ep.rt('UpdateContainerResources', { container_id: id, linux: { cpuset_mems: '7' } }));
  t.log(ep.kind, codeOf(bad), bad?.message);
  t.is(read('cpuset', 'cpuset.mems'), '0');
  if (ep.kind === 'podns') {
    t.regex(bad?.message ?? '', /cpuset\.mems.*EINVAL|EINVAL.*cpuset\.mems/);
    const syntax = await t.throwsAsync(ep.rt('UpdateContainerResources', { container_id: id, linux: { cpuset_mems: '0;1' } }));
    t.is(codeOf(syntax), status.INVALID_ARGUMENT, syntax?.message);
    const st = (await ep.rt('ContainerStatus', { container_id: id })).status;
    t.is(st.resources.linux.memory_swap_limit_in_bytes, String(48 * MiB));
    const info = JSON.parse((await ep.rt('ContainerStatus', { container_id: id, verbose: true })).info.podns);
    const limits = readContainerConfig({ root: ep.podns!.env.root, pod: info.pod, name: info.container })!.limits!;
    t.like(limits, { memory: 32 * MiB, memorySwap: 48 * MiB, cpusetMems: '0', cpuPeriod: 50000 }, 'config.json (inspect, stats) says what is in effect');
  }
  await remove(ep, sb.id);
});

criTest('UpdateContainerResources: unified (cgroup v2 files) on a cgroup v1 host is refused, nothing written', async (t, ep) => {
  const host = hostCgroups();
  if (host.driver !== 'v1') {
    t.pass('cgroup v2: unified is written (src/cgroups/plan.ts; test/cgroups)');
    return;
  }
  const sb = await sandbox(ep, 'unified');
  const id = await run(ep, sb, ep.containerConfig('u', ['sleep', '1000']));
  const err = await t.throwsAsync(ep.rt('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: String(64 * MiB), unified: { 'memory.high': String(32 * MiB) } } }));
  t.log(ep.kind, codeOf(err), err?.message);
  if (ep.kind === 'podns') {
    t.is(codeOf(err), status.INVALID_ARGUMENT);
    t.regex(err?.message ?? '', /unified.*cgroup v2/);
  }
  t.not(readFileSync(join(host.mounts.memory!, await containerCgroup(ep, id), 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * MiB), 'nothing of the refused update written');
  await remove(ep, sb.id);
});

criTest('kubelet\'s contracts: labels and annotations echoed unaltered (keys podns refuses), attempt kept, an OOM kill not restarted; the pod shows in get/ps/ns/net', async (t, ep) => {
  const labels = { 'io.kubernetes.pod.name': 'web', 'not a label key!': 'ünï cödé', 'x/y/z': '' };
  const annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{"a": [1, 2]}\n', '': 'empty key' };
  const sb = await sandbox(ep, 'contracts', { labels, annotations });
  const cLabels = { 'io.kubernetes.container.name': 'hog', 'weird key': 'v\tw' };
  const cAnn = { 'io.kubernetes.container.restartCount': '3', multi: 'a\nb' };
  const cfg = ep.containerConfig('hog', ['sh', '-c', 'echo started; x=a; while :; do x=$x$x; done'], {
    labels: cLabels, annotations: cAnn, linux: { resources: { memory_limit_in_bytes: String(16 * 1024 * 1024) } },
  });
  cfg.metadata.attempt = 3;
  const id = await run(ep, sb, cfg);
  const s = (await ep.rt('PodSandboxStatus', { pod_sandbox_id: sb.id })).status;
  t.deepEqual(s.labels, labels);
  t.deepEqual(s.annotations, annotations);
  t.deepEqual((await ep.rt('ListPodSandbox', { filter: { id: sb.id } })).items[0].labels, labels);
  let st: Msg;
  for (let i = 0; i < 300; i++) {
    st = (await ep.rt('ContainerStatus', { container_id: id })).status;
    if (st.state === 'CONTAINER_EXITED') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.like(st, { state: 'CONTAINER_EXITED', reason: 'OOMKilled', exit_code: 137 });
  t.deepEqual(st.metadata, { name: 'hog', attempt: 3 });
  t.deepEqual(st.labels, cLabels);
  t.deepEqual(st.annotations, cAnn);
  const listed = (await ep.rt('ListContainers', { filter: { id } })).containers[0];
  t.deepEqual([listed.metadata, listed.labels, listed.annotations], [{ name: 'hog', attempt: 3 }, cLabels, cAnn]);
  await new Promise((r) => setTimeout(r, 1500)); // a restart would have come by now (back-off 1 s)
  t.is((await ep.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_EXITED');
  if (ep.podns === undefined) {
    await remove(ep, sb.id);
    return;
  }
  // podns: its own records say the same, and the pod is a podns pod like any other
  const e = ep.podns.env;
  const info = JSON.parse((await ep.rt('ContainerStatus', { container_id: id, verbose: true })).info.podns);
  t.is(info.container, 'hog-3', 'the podns name carries the attempt');
  t.is(readContainerConfig({ root: e.root, pod: info.pod, name: info.container })!.restartPolicy, 'Never', 'the watcher never restarts in CRI mode');
  t.is((await ep.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_EXITED');
  const log = readFileSync(join(e.root, 'pods', info.pod, 'containers', info.container, 'status.json'), 'utf8');
  t.is(JSON.parse(log).restartCount, 0);

  // the same pod through the CLI (another process, the same state root)
  const second = await run(ep, sb, ep.containerConfig('sleeper', ['sleep', '1000']));
  t.truthy(second);
  const get = await e.cli(['get']);
  t.regex(get.stdout, new RegExp(`^${info.pod}\\s`, 'm'), get.stdout);
  const ps = await e.cli(['ps', info.pod]);
  t.regex(ps.stdout, /sleeper-0\s+\d+\s+Running/, ps.stdout);
  t.regex(ps.stdout, /hog-3 .*Exited \(137\)|hog-3 .*OOMKilled/, ps.stdout);
  const ns = await e.cli(['ns', info.pod]);
  t.is(ns.exitCode, 0, ns.stderr);
  t.regex(ns.stdout, /sleep/);
  const net = await e.cli(['net', info.pod]);
  t.is(net.exitCode, 0, net.stderr);
  t.regex(net.stdout, new RegExp(s.network.ip.replace(/\./g, '\\.')));
  await remove(ep, sb.id);
});

criTest('podns only: a find by id checks the record it was pointed at: a pod record that now names another sandbox, or no sandbox, is not the sandbox or its container any more', async (t, ep) => {
  const root = ep.podns!.env.root;
  const sb = await sandbox(ep, 'hinted');
  const id = await run(ep, sb, ep.containerConfig('h', ['sleep', '1000']));
  // the server has just seen both ids (so it knows which pod each is in)
  const info = JSON.parse((await ep.rt('ContainerStatus', { container_id: id, verbose: true })).info.podns);
  t.is((await ep.rt('PodSandboxStatus', { pod_sandbox_id: sb.id })).status.id, sb.id);
  // another process replaces the pod's record: the same pod name, now another sandbox's
  const file = join(root, 'pods', info.pod, 'pod.json');
  const original = readFileSync(file, 'utf8');
  const rec = JSON.parse(original);
  const cri = JSON.parse(rec.annotations['podns.io/cri-sandbox']);
  const otherId = 'f'.repeat(64);
  writeFileSync(file, JSON.stringify({ ...rec, annotations: { ...rec.annotations, 'podns.io/cri-sandbox': JSON.stringify({ ...cri, id: otherId }) } }));
  t.is(codeOf(await t.throwsAsync(ep.rt('PodSandboxStatus', { pod_sandbox_id: sb.id }))), status.NOT_FOUND, 'the old id is not found in a record that names another');
  t.is((await ep.rt('PodSandboxStatus', { pod_sandbox_id: otherId })).status.id, otherId, 'the new one is found');
  // ... and then no sandbox at all: its containers are not the CRI's any more
  const rest = { ...rec.annotations };
  delete rest['podns.io/cri-sandbox'];
  writeFileSync(file, JSON.stringify({ ...rec, annotations: rest }));
  t.is(codeOf(await t.throwsAsync(ep.rt('ContainerStatus', { container_id: id }))), status.NOT_FOUND);
  t.is(codeOf(await t.throwsAsync(ep.rt('PodSandboxStatus', { pod_sandbox_id: otherId }))), status.NOT_FOUND);
  writeFileSync(file, original);
  t.is((await ep.rt('ContainerStatus', { container_id: id })).status.id, id, 'back: found again (by a scan)');
  await remove(ep, sb.id);
}, { only: ['podns'] });
