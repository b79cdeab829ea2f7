// The CRI's mounts (kubelet's /etc/hosts, /dev/termination-log, the service-account token dir: read-only),
// linux.security_context masked/readonly paths, and cgroup_parent (kubelet's cgroupfs parent): against a
// podns CRI server on a socket of the test's own, through a grpc-js client.
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { serveCri, type CriServer } from '../../src/cri/index.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import type { TestEnv } from '../pod/env.js';
import { criClient, type CriClient, type Msg } from './client.js';
import { containerConfig, criEnv, sandboxConfig } from './env.js';

let e: TestEnv & { logDir: string; work: string };
let server: CriServer;
let c: CriClient;

test.before(async () => {
  if (skipReason() !== undefined || !busyboxAvailable()) return;
  e = await criEnv('crimisc', 152);
  const socket = join(e.work, 'cri.sock');
  server = await serveCri({ root: e.root, store: e.store, bridge: e.bridge, subnet: e.subnet, listen: `unix://${socket}`, log: () => undefined });
  c = criClient(socket);
});
test.after.always(async () => {
  c?.close();
  await server?.close();
  if (e) await e.cleanup();
});

async function sandbox(name: string, extra: Msg = {}): Promise<{ id: string; cfg: Msg }> {
  const cfg = sandboxConfig(name, extra);
  const { pod_sandbox_id } = await c.rt('RunPodSandbox', { config: cfg });
  return { id: pod_sandbox_id, cfg };
}

async function run(sb: { id: string; cfg: Msg }, cfg: Msg): Promise<string> {
  const { container_id } = await c.rt('CreateContainer', { pod_sandbox_id: sb.id, config: cfg, sandbox_config: sb.cfg });
  await c.rt('StartContainer', { container_id });
  return container_id;
}

async function sh(id: string, script: string): Promise<{ out: string; code: number }> {
  const r = await c.rt('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 10 });
  return { out: Buffer.from(r.stdout).toString() + Buffer.from(r.stderr).toString(), code: r.exit_code };
}

privilegedSerial('mounts as kubelet sends them: /etc/hosts, /dev/termination-log, a read-only token dir; echoed in ContainerStatus', async (t) => {
  const host = join(e.work, 'kubelet');
  mkdirSync(join(host, 'token'), { recursive: true });
  writeFileSync(join(host, 'etc-hosts'), '127.0.0.1 localhost\n10.9.9.9 from-kubelet\n');
  writeFileSync(join(host, 'termination-log'), '');
  writeFileSync(join(host, 'token', 'token'), 'eyJ-token\n');
  const sb = await sandbox('mounts');
  const mounts = [
    { container_path: '/etc/hosts', host_path: join(host, 'etc-hosts'), readonly: false },
    { container_path: '/dev/termination-log', host_path: join(host, 'termination-log') },
    { container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: join(host, 'token'), readonly: true, recursive_read_only: true },
    { container_path: '/made', host_path: join(host, 'not-yet') },
  ];
  const id = await run(sb, containerConfig('m', ['sleep', '1000'], { mounts }));
  let r = await sh(id, 'grep from-kubelet /etc/hosts && cat /var/run/secrets/kubernetes.io/serviceaccount/token && echo bye > /dev/termination-log');
  t.is(r.code, 0, r.out);
  t.regex(r.out, /eyJ-token/);
  t.is(readFileSync(join(host, 'termination-log'), 'utf8'), 'bye\n', 'the termination log reaches the host file');
  r = await sh(id, 'touch /var/run/secrets/kubernetes.io/serviceaccount/x');
  t.not(r.code, 0);
  t.regex(r.out, /Read-only file system/);
  t.true(statSync(join(host, 'not-yet')).isDirectory(), 'a missing host path is made as a directory (containerd does so)');
  const st = (await c.rt('ContainerStatus', { container_id: id })).status;
  t.deepEqual(st.mounts.map((m: Msg) => [m.container_path, m.readonly, m.propagation]), [
    ['/etc/hosts', false, 'PROPAGATION_PRIVATE'], ['/dev/termination-log', false, 'PROPAGATION_PRIVATE'],
    ['/var/run/secrets/kubernetes.io/serviceaccount', true, 'PROPAGATION_PRIVATE'], ['/made', false, 'PROPAGATION_PRIVATE'],
  ]);
  await c.rt('RemovePodSandbox', { pod_sandbox_id: sb.id });
});

privilegedSerial('mounts: a relative or ".." container path is INVALID_ARGUMENT, nothing is made on the host', async (t) => {
  const sb = await sandbox('badmounts');
  for (const container_path of ['data', '/a/../../etc', '/']) {
    const hostPath = join(e.work, `never-${container_path.replace(/\W/g, '_')}`);
    const err = await t.throwsAsync(c.rt('CreateContainer', { pod_sandbox_id: sb.id, config: containerConfig('b', ['true'], { mounts: [{ container_path, host_path: hostPath }] }), sandbox_config: sb.cfg }));
    t.is((err as Msg).code, status.INVALID_ARGUMENT, err?.message);
    t.regex(err?.message ?? '', /invalid mount target/);
    t.false(existsSync(hostPath), 'the host path is not made for a refused mount');
  }
  t.deepEqual((await c.rt('ListContainers', { filter: { pod_sandbox_id: sb.id } })).containers, []);
  await c.rt('RemovePodSandbox', { pod_sandbox_id: sb.id });
});

privilegedSerial('security_context masked_paths and readonly_paths replace the defaults', async (t) => {
  const sb = await sandbox('masks');
  const id = await run(sb, containerConfig('m', ['sleep', '1000'], {
    linux: { security_context: { masked_paths: ['/proc/cpuinfo', '/etc'], readonly_paths: ['/tmp'] } },
  }));
  let r = await sh(id, 'wc -c < /proc/cpuinfo; ls -A /etc | wc -l');
  t.is(r.code, 0, r.out);
  t.deepEqual(r.out.trim().split(/\s+/), ['0', '0'], 'a masked file reads empty, a masked directory is empty');
  r = await sh(id, 'touch /tmp/x');
  t.regex(r.out, /Read-only file system/);
  r = await sh(id, 'echo 1 > /proc/sys/kernel/ns_last_pid 2>&1; grep -c " /proc/sys " /proc/mounts');
  t.regex(r.out, /^0\s*$/m, 'the default read-only /proc/sys is not applied: the list given replaces it');
  await c.rt('RemovePodSandbox', { pod_sandbox_id: sb.id });
});

privilegedSerial('cgroup_parent: the pod\'s and the containers\' cgroups sit under kubelet\'s cgroupfs parent, and go with the pod', async (t) => {
  const parent = `/kubepods/burstable/pod${process.pid}`;
  const sb = await sandbox('cgparent', { linux: { cgroup_parent: parent } });
  const id = await run(sb, containerConfig('c', ['sleep', '1000']));
  const r = await sh(id, 'cat /proc/self/cgroup');
  const lines = r.out.split('\n').filter((l) => /:(memory|pids|cpu,cpuacct|cpuacct,cpu)?:/.test(l) && l.includes('/'));
  t.true(lines.length > 0, r.out);
  const mem = r.out.split('\n').find((l) => /^\d+:memory:/.test(l) || /^0::/.test(l))!;
  t.regex(mem, new RegExp(`kubepods/burstable/pod${process.pid}/[^/]+/[^/]+$`), `the container's cgroup is PARENT/POD/CONTAINER: ${mem}`);
  const info = JSON.parse((await c.rt('PodSandboxStatus', { pod_sandbox_id: sb.id, verbose: true })).info.podns);
  t.is(info.cgroupParent, parent);
  const rel = mem.split(':').slice(2).join(':');
  const dir = existsSync('/sys/fs/cgroup/memory') ? join('/sys/fs/cgroup/memory', rel) : join('/sys/fs/cgroup', rel);
  t.true(existsSync(dir), dir);
  await c.rt('RemovePodSandbox', { pod_sandbox_id: sb.id });
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
});
