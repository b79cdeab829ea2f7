// The CRI server against a grpc-js client, modelled on critest's conformance specs: runtime info;
// sandboxes run/stop/remove with status, filters and idempotence; container lifecycle and exit codes
// without restarts; the CRI log format and ReopenContainerLog; ExecSync with output, exit code and
// timeout; stop with a grace period; DNS config; hostPort; a server restart with the state kept.
import test from 'ava';
import { readFileSync, renameSync, existsSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, credentials, status } from '@grpc/grpc-js';
import { serveCri, type CriServer } from '../../src/cri/index.js';
import { listPods, readContainerStatus } from '../../src/index.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import type { TestEnv } from '../pod/env.js';
import { criClient, type CriClient, type Msg } from './client.js';
import { containerConfig, criEnv, sandboxConfig } from './env.js';

let e: TestEnv & { logDir: string; work: string };
let server: CriServer;
let c: CriClient;
let socket: string;
const lines: string[] = [];

async function start(): Promise<void> {
  server = await serveCri({ root: e.root, store: e.store, bridge: e.bridge, subnet: e.subnet, listen: `unix://${socket}`, logLevel: 'debug', log: (l) => lines.push(l) });
  c = criClient(socket);
}

test.before(async () => {
  if (skipReason() !== undefined || !busyboxAvailable()) return;
  e = await criEnv('cri', 241);
  socket = join(e.work, 'cri.sock');
  await start();
});
test.after.always(async () => {
  c?.close();
  await server?.close();
  if (e) await e.cleanup();
});

async function waitState(id: string, state: string): Promise<Msg> {
  for (let i = 0; i < 200; i++) {
    const s = (await c.rt('ContainerStatus', { container_id: id })).status;
    if (s.state === state) return s;
    await sleep(25);
  }
  throw new Error(`container ${id} never reached ${state}`);
}

async function runContainer(sandbox: string, cfg: Msg, sbCfg: Msg): Promise<string> {
  const { container_id } = await c.rt('CreateContainer', { pod_sandbox_id: sandbox, config: cfg, sandbox_config: sbCfg });
  await c.rt('StartContainer', { container_id });
  return container_id;
}

privilegedSerial('runtime info: Version, Status, RuntimeConfig; an RPC podns lacks is UNIMPLEMENTED and the server stays up', async (t) => {
  const v = await c.rt('Version', { version: 'v1' });
  t.like(v, { version: '0.1.0', runtime_name: 'podns', runtime_api_version: 'v1' });
  const st = await c.rt('Status', {});
  t.deepEqual(st.status.conditions.map((x: Msg) => [x.type, x.status]), [['RuntimeReady', true], ['NetworkReady', true]]);
  t.is((await c.rt('RuntimeConfig', {})).linux.cgroup_driver, 'CGROUPFS');
  // an RPC of the upstream RuntimeService that podns does not serve (not in podns's api.proto)
  const raw = new Client(`unix://${socket}`, credentials.createInsecure());
  const err = await new Promise<Msg>((res) => raw.makeUnaryRequest('/runtime.v1.RuntimeService/CheckpointContainer', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => res(e)));
  raw.close();
  t.is(err?.code, status.UNIMPLEMENTED);
  t.like(await c.rt('Version', {}), { runtime_api_version: 'v1' }, 'still serving');
  t.true(lines.some((l) => / debug Version ok /.test(l)), 'one debug line per RPC');
});

privilegedSerial('sandbox: run, status (ip, metadata, labels and annotations unaltered), list filters, stop and remove twice, unknown ids', async (t) => {
  const annotations = { 'kubernetes.io/config.source': 'api', weird: 'a b\n"c"' };
  const cfg = sandboxConfig('web', { annotations, labels: { app: 'web', 'tier.example.com/x': 'y' } });
  cfg.metadata.attempt = 2;
  const { pod_sandbox_id: id } = await c.rt('RunPodSandbox', { config: cfg });
  t.regex(id, /^[0-9a-f]{64}$/);
  const s = (await c.rt('PodSandboxStatus', { pod_sandbox_id: id })).status;
  t.is(s.state, 'SANDBOX_READY');
  t.deepEqual(s.metadata, cfg.metadata);
  t.deepEqual(s.labels, cfg.labels);
  t.deepEqual(s.annotations, annotations);
  t.regex(s.network.ip, /^10\.241\.0\.\d+$/);
  t.regex(s.created_at, /^\d{19}$/, 'nanoseconds, every digit');
  // a podns pod like any other
  t.true(listPods({ root: e.root }).some((p) => p.name.startsWith('web-') && p.network?.ip === s.network.ip));
  const other = (await c.rt('RunPodSandbox', { config: sandboxConfig('db') })).pod_sandbox_id;
  const ids = async (filter: Msg) => (await c.rt('ListPodSandbox', { filter })).items.map((x: Msg) => x.id).sort();
  t.deepEqual(await ids({}), [id, other].sort());
  t.deepEqual(await ids({ id: id.slice(0, 12) }), [id]);
  t.deepEqual(await ids({ label_selector: { app: 'db' } }), [other]);
  await c.rt('StopPodSandbox', { pod_sandbox_id: id });
  await c.rt('StopPodSandbox', { pod_sandbox_id: id });
  t.is((await c.rt('PodSandboxStatus', { pod_sandbox_id: id })).status.state, 'SANDBOX_NOTREADY');
  t.deepEqual(await ids({ state: { state: 'SANDBOX_NOTREADY' } }), [id]);
  t.deepEqual(await ids({ state: { state: 'SANDBOX_READY' } }), [other]);
  await c.rt('RemovePodSandbox', { pod_sandbox_id: id });
  await c.rt('RemovePodSandbox', { pod_sandbox_id: id });
  const nf = await t.throwsAsync(c.rt('PodSandboxStatus', { pod_sandbox_id: id })) as Msg;
  t.is(nf.code, status.NOT_FOUND);
  await c.rt('StopPodSandbox', { pod_sandbox_id: 'f'.repeat(64) });
  await c.rt('RemovePodSandbox', { pod_sandbox_id: 'f'.repeat(64) });
  await c.rt('RemovePodSandbox', { pod_sandbox_id: other });
  t.deepEqual(await ids({}), []);
});

privilegedSerial('containers: created, running, exited with their codes and reasons, never restarted; filters; stop and remove idempotent', async (t) => {
  const sb = sandboxConfig('life');
  const { pod_sandbox_id: pod } = await c.rt('RunPodSandbox', { config: sb });
  const { container_id: waiting } = await c.rt('CreateContainer', { pod_sandbox_id: pod, config: containerConfig('sleeper', ['sleep', '1000']), sandbox_config: sb });
  t.is((await c.rt('ContainerStatus', { container_id: waiting })).status.state, 'CONTAINER_CREATED');
  await c.rt('StartContainer', { container_id: waiting });
  const running = (await c.rt('ContainerStatus', { container_id: waiting })).status;
  t.is(running.state, 'CONTAINER_RUNNING');
  t.not(running.started_at, '0');
  const failing = await runContainer(pod, containerConfig('fail', ['sh', '-c', 'exit 3']), sb);
  const ok = await runContainer(pod, containerConfig('ok', ['true']), sb);
  const f = await waitState(failing, 'CONTAINER_EXITED');
  t.like(f, { exit_code: 3, reason: 'Error' });
  t.true(BigInt(f.finished_at) >= BigInt(f.started_at));
  t.like(await waitState(ok, 'CONTAINER_EXITED'), { exit_code: 0, reason: 'Completed' });
  await sleep(1500); // a restart policy would have run it again by now (back-off 1 s)
  const pc = listPods({ root: e.root }).find((p) => p.name.startsWith('life-'))!;
  t.is(readContainerStatus({ root: e.root, pod: pc.name, name: 'fail-0' })?.restartCount, 0);
  t.is((await c.rt('ContainerStatus', { container_id: failing })).status.state, 'CONTAINER_EXITED');
  const list = async (filter: Msg) => (await c.rt('ListContainers', { filter })).containers.map((x: Msg) => x.id).sort();
  t.deepEqual(await list({ pod_sandbox_id: pod }), [waiting, failing, ok].sort());
  t.deepEqual(await list({ state: { state: 'CONTAINER_RUNNING' } }), [waiting]);
  t.deepEqual(await list({ label_selector: { c: 'ok' } }), [ok]);
  await c.rt('StopContainer', { container_id: waiting, timeout: 0 });
  await c.rt('StopContainer', { container_id: waiting, timeout: 0 });
  t.is((await c.rt('ContainerStatus', { container_id: waiting })).status.state, 'CONTAINER_EXITED');
  for (const id of [waiting, failing, ok]) {
    await c.rt('RemoveContainer', { container_id: id });
    await c.rt('RemoveContainer', { container_id: id });
  }
  t.deepEqual(await list({ pod_sandbox_id: pod }), []);
  t.deepEqual(pc.containers.length >= 0, true);
  t.deepEqual(listPods({ root: e.root }).find((p) => p.name === pc.name)!.containers, [], 'gone from the podns pod too');
  await c.rt('StopContainer', { container_id: 'e'.repeat(64) });
  await c.rt('RemoveContainer', { container_id: 'e'.repeat(64) });
  await c.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

privilegedSerial('log: CRI format at log_directory/log_path; ReopenContainerLog starts a new file', async (t) => {
  const sb = sandboxConfig('logs', { log_directory: join(e.logDir, 'logs-pod') });
  const { pod_sandbox_id: pod } = await c.rt('RunPodSandbox', { config: sb });
  const id = await runContainer(pod, containerConfig('talk', ['sh', '-c', 'echo out; echo err >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after'], { log_path: 'talk/0.log' }), sb);
  const file = join(e.logDir, 'logs-pod', 'talk', '0.log');
  t.is((await c.rt('ContainerStatus', { container_id: id })).status.log_path, file);
  for (let i = 0; i < 100 && !(existsSync(file) && readFileSync(file, 'utf8').split('\n').length > 2); i++) await sleep(20);
  const first = readFileSync(file, 'utf8').trim().split('\n');
  t.is(first.length, 2);
  for (const l of first) t.regex(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F (out|err)$/);
  renameSync(file, `${file}.1`);
  await c.rt('ReopenContainerLog', { container_id: id });
  await c.rt('ExecSync', { container_id: id, cmd: ['touch', '/tmp/go'], timeout: 10 });
  await waitState(id, 'CONTAINER_EXITED');
  t.regex(readFileSync(file, 'utf8'), /^\S+ stdout F after\n$/);
  t.is(readFileSync(`${file}.1`, 'utf8').trim().split('\n').length, 2, 'the old file kept its lines');
  const err = await t.throwsAsync(c.rt('ReopenContainerLog', { container_id: id })) as Msg;
  t.is(err.code, status.FAILED_PRECONDITION, 'not running: nothing to reopen');
  await c.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

privilegedSerial('ExecSync: output, exit code, timeout; StopContainer with a grace period; DNS config; hostPort', async (t) => {
  const sb = sandboxConfig('exec', {
    dns_config: { servers: ['10.241.0.53'], searches: ['svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 18241, host_ip: '' }],
  });
  const { pod_sandbox_id: pod } = await c.rt('RunPodSandbox', { config: sb });
  const id = await runContainer(pod, containerConfig('srv', ['sh', '-c', 'mkdir -p /www; echo hello-cri > /www/index.html; trap "" TERM; httpd -f -p 80 -h /www']), sb);
  const r = await c.rt('ExecSync', { container_id: id, cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7'], timeout: 10 });
  t.is(Buffer.from(r.stdout).toString(), 'to-out\n');
  t.is(Buffer.from(r.stderr).toString(), 'to-err\n');
  t.is(r.exit_code, 7);
  const start = Date.now();
  const to = await t.throwsAsync(c.rt('ExecSync', { container_id: id, cmd: ['sleep', '30'], timeout: 1 })) as Msg;
  t.is(to.code, status.DEADLINE_EXCEEDED);
  t.true(Date.now() - start < 10_000, `gave up after ${Date.now() - start} ms`);
  const resolv = Buffer.from((await c.rt('ExecSync', { container_id: id, cmd: ['cat', '/etc/resolv.conf'] })).stdout).toString();
  t.is(resolv, 'nameserver 10.241.0.53\nsearch svc.cluster.local cluster.local\noptions ndots:5\n');
  // hostPort: the published port answers on this host (here: the test sandbox's netns)
  let body = '';
  for (let i = 0; i < 50 && body === ''; i++) {
    body = await new Promise<string>((res) => {
      get('http://127.0.0.1:18241/', (rs) => { let b = ''; rs.on('data', (d) => { b += String(d); }); rs.on('end', () => res(b)); }).on('error', () => res(''));
    });
    if (body === '') await sleep(50);
  }
  t.is(body.trim(), 'hello-cri');
  // the workload ignores SIGTERM: StopContainer's timeout passes, then SIGKILL
  const t0 = Date.now();
  await c.rt('StopContainer', { container_id: id, timeout: 1 });
  const took = Date.now() - t0;
  t.true(took >= 900 && took < 8000, `stopped after ${took} ms`);
  t.like((await c.rt('ContainerStatus', { container_id: id })).status, { state: 'CONTAINER_EXITED', exit_code: 137, reason: 'Error' });
  await c.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

privilegedSerial('images: status of a missing image is null; list and status of the imported one; a missing image fails CreateContainer', async (t) => {
  t.is((await c.img('ImageStatus', { image: { image: 'nosuch:1' } })).image, null);
  const st = (await c.img('ImageStatus', { image: { image: 'docker.io/library/busybox:latest' } })).image;
  t.truthy(st);
  t.true(st.repo_tags.includes('busybox:latest'));
  t.true((await c.img('ListImages', {})).images.some((i: Msg) => i.id === st.id));
  await c.img('RemoveImage', { image: { image: 'nosuch:1' } });
  const sb = sandboxConfig('noimg');
  const { pod_sandbox_id: pod } = await c.rt('RunPodSandbox', { config: sb });
  const err = await t.throwsAsync(c.rt('CreateContainer', { pod_sandbox_id: pod, config: { ...containerConfig('x', ['true']), image: { image: 'nosuch:1' } }, sandbox_config: sb })) as Msg;
  t.is(err.code, status.NOT_FOUND);
  await c.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

privilegedSerial('a restarted server serves the same sandboxes and containers, with their states', async (t) => {
  const sb = sandboxConfig('keep');
  const { pod_sandbox_id: pod } = await c.rt('RunPodSandbox', { config: sb });
  const id = await runContainer(pod, containerConfig('k', ['sleep', '1000']), sb);
  const created = (await c.rt('CreateContainer', { pod_sandbox_id: pod, config: containerConfig('later', ['true']), sandbox_config: sb })).container_id;
  const mine = async () => (await c.rt('ListContainers', { filter: { pod_sandbox_id: pod } })).containers;
  const before = await mine();
  c.close();
  await server.close();
  t.false(existsSync(socket), 'the socket is removed');
  await start();
  t.deepEqual(await mine(), before);
  t.is((await c.rt('PodSandboxStatus', { pod_sandbox_id: pod })).status.state, 'SANDBOX_READY');
  t.is((await c.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_RUNNING');
  t.is((await c.rt('ContainerStatus', { container_id: created })).status.state, 'CONTAINER_CREATED');
  await c.rt('StopPodSandbox', { pod_sandbox_id: pod });
  t.is((await c.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_EXITED');
  await c.rt('RemovePodSandbox', { pod_sandbox_id: pod });
  t.deepEqual(await mine(), []);
});
