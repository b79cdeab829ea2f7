// The CRI against a grpc-js client, modelled on critest's conformance specs, run against podns's CRI server
// and containerd's (test/cri/endpoint.ts): runtime info; sandboxes run/stop/remove with status, filters and
// idempotence; container lifecycle and exit codes without restarts; the CRI log format and
// ReopenContainerLog; ExecSync with output, exit code and timeout; stop with a grace period; DNS config;
// hostPort; a server restart with the state kept. What only podns has (its pods, its server's log) is
// checked in the podns runs only.
import { readFileSync, renameSync, existsSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, Client, status } from '@grpc/grpc-js';
import { listPods, readContainerStatus } from '../../src/index.js';
import type { Msg } from './client.js';
import { codeOf, criSuite, normalizeImageRef, stopUnknown, type CriEndpoint } from './endpoint.js';

const criTest = criSuite({ tag: 'cri', octet: 241 });

async function waitState(ep: CriEndpoint, id: string, state: string): Promise<Msg> {
  for (let i = 0; i < 200; i++) {
    const s = (await ep.rt('ContainerStatus', { container_id: id })).status;
    if (s.state === state) return s;
    await sleep(25);
  }
  throw new Error(`container ${id} never reached ${state}`);
}

async function runContainer(ep: CriEndpoint, sandbox: string, cfg: Msg, sbCfg: Msg): Promise<string> {
  const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: sandbox, config: cfg, sandbox_config: sbCfg });
  await ep.rt('StartContainer', { container_id });
  return container_id;
}

/** A unary call of a method the runtime's service may lack (here: one of the upstream RuntimeService that neither podns nor containerd 1.6 serves), with an empty request. */
function rawCall(socket: string, method: string): Promise<unknown> {
  const client = new Client(`unix://${socket}`, credentials.createInsecure());
  return new Promise((res, rej) => {
    client.makeUnaryRequest(method, () => Buffer.alloc(0), (b: Buffer) => b, {}, { deadline: Date.now() + 10_000 }, (err, out) => {
      client.close();
      if (err) rej(err);
      else res(out);
    });
  });
}

criTest('runtime info: Version, Status, RuntimeConfig; an RPC the runtime lacks is UNIMPLEMENTED and the server stays up', async (t, ep) => {
  const v = await ep.rt('Version', { version: 'v1' });
  // kubelet checks runtime_api_version only; the version of the RuntimeService API is "0.1.0" (both say so)
  t.like(v, { version: '0.1.0', runtime_name: ep.kind, runtime_api_version: 'v1' });
  t.truthy(v.runtime_version);
  const st = await ep.rt('Status', {});
  const conds = Object.fromEntries(st.status.conditions.map((x: Msg) => [x.type, x.status]));
  t.deepEqual([conds.RuntimeReady, conds.NetworkReady], [true, true]);
  // RuntimeConfig (cri-api 0.28+): kubelet falls back to its own cgroup driver on UNIMPLEMENTED (containerd 1.6)
  try {
    t.true(['CGROUPFS', 'SYSTEMD'].includes((await ep.rt('RuntimeConfig', {})).linux.cgroup_driver));
  } catch (err) {
    t.is(codeOf(err), status.UNIMPLEMENTED);
  }
  if (ep.kind === 'podns') t.is((await ep.rt('RuntimeConfig', {})).linux.cgroup_driver, 'CGROUPFS');
  const err = await t.throwsAsync(rawCall(ep.socket, '/runtime.v1.RuntimeService/CheckpointContainer'));
  t.is(codeOf(err), status.UNIMPLEMENTED);
  t.like(await ep.rt('Version', {}), { runtime_api_version: 'v1' }, 'still serving');
  if (ep.podns) t.true(ep.podns.lines.some((l) => / debug Version ok /.test(l)), 'one debug line per RPC');
});

criTest('sandbox: run, status (ip, metadata, labels and annotations unaltered), list filters, stop and remove twice, unknown ids', async (t, ep) => {
  const annotations = { 'kubernetes.io/config.source': 'api', weird: 'a b\n"c"' };
  const cfg = ep.sandboxConfig('web', { annotations, labels: { app: 'web', 'tier.example.com/x': 'y' } });
  cfg.metadata.attempt = 2;
  const { pod_sandbox_id: id } = await ep.rt('RunPodSandbox', { config: cfg });
  t.regex(id, /^[0-9a-f]{64}$/);
  const s = (await ep.rt('PodSandboxStatus', { pod_sandbox_id: id })).status;
  t.is(s.state, 'SANDBOX_READY');
  t.deepEqual(s.metadata, cfg.metadata);
  t.deepEqual(s.labels, cfg.labels);
  t.deepEqual(s.annotations, annotations);
  t.regex(s.network.ip, ep.ipPattern);
  t.regex(s.created_at, /^\d{19}$/, 'nanoseconds, every digit');
  // a podns pod like any other
  if (ep.podns) t.true(listPods({ root: ep.podns.env.root }).some((p) => p.name.startsWith('web-') && p.network?.ip === s.network.ip));
  const other = (await ep.rt('RunPodSandbox', { config: ep.sandboxConfig('db') })).pod_sandbox_id;
  const ids = async (filter: Msg) => (await ep.rt('ListPodSandbox', { filter })).items.map((x: Msg) => x.id).sort();
  t.deepEqual(await ids({}), [id, other].sort());
  t.deepEqual(await ids({ id: id.slice(0, 12) }), [id]);
  t.deepEqual(await ids({ label_selector: { app: 'db' } }), [other]);
  await ep.rt('StopPodSandbox', { pod_sandbox_id: id });
  await ep.rt('StopPodSandbox', { pod_sandbox_id: id });
  t.is((await ep.rt('PodSandboxStatus', { pod_sandbox_id: id })).status.state, 'SANDBOX_NOTREADY');
  t.deepEqual(await ids({ state: { state: 'SANDBOX_NOTREADY' } }), [id]);
  t.deepEqual(await ids({ state: { state: 'SANDBOX_READY' } }), [other]);
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: id });
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: id });
  const nf = await t.throwsAsync(ep.rt('PodSandboxStatus', { pod_sandbox_id: id }));
  t.is(codeOf(nf), status.NOT_FOUND);
  // unknown: Remove succeeds; Stop succeeds or answers NOT_FOUND (kubelet takes both as stopped)
  t.true(await stopUnknown(ep.rt('StopPodSandbox', { pod_sandbox_id: 'f'.repeat(64) })));
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: 'f'.repeat(64) });
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: other });
  t.deepEqual(await ids({}), []);
});

criTest('containers: created, running, exited with their codes and reasons, never restarted; filters; stop and remove idempotent', async (t, ep) => {
  const sb = ep.sandboxConfig('life');
  const { pod_sandbox_id: pod } = await ep.rt('RunPodSandbox', { config: sb });
  const { container_id: waiting } = await ep.rt('CreateContainer', { pod_sandbox_id: pod, config: ep.containerConfig('sleeper', ['sleep', '1000']), sandbox_config: sb });
  t.is((await ep.rt('ContainerStatus', { container_id: waiting })).status.state, 'CONTAINER_CREATED');
  await ep.rt('StartContainer', { container_id: waiting });
  const running = (await ep.rt('ContainerStatus', { container_id: waiting })).status;
  t.is(running.state, 'CONTAINER_RUNNING');
  t.not(running.started_at, '0');
  const failing = await runContainer(ep, pod, ep.containerConfig('fail', ['sh', '-c', 'exit 3']), sb);
  const ok = await runContainer(ep, pod, ep.containerConfig('ok', ['true']), sb);
  const f = await waitState(ep, failing, 'CONTAINER_EXITED');
  t.like(f, { exit_code: 3, reason: 'Error' });
  // set, and after the creation; containerd takes started_at after the task's start returned and finished_at
  // from the exit event, so a process that exits at once can finish "before" it started there (kubelet does
  // not compare them); podns takes both from the watcher, in order
  t.true(BigInt(f.finished_at) >= BigInt(f.created_at), `finished_at ${f.finished_at}, created_at ${f.created_at}`);
  if (ep.podns) t.true(BigInt(f.finished_at) >= BigInt(f.started_at));
  t.like(await waitState(ep, ok, 'CONTAINER_EXITED'), { exit_code: 0, reason: 'Completed' });
  await sleep(1500); // a restart policy would have run it again by now (back-off 1 s)
  const pc = ep.podns ? listPods({ root: ep.podns.env.root }).find((p) => p.name.startsWith('life-')) : undefined;
  if (ep.podns) t.is(readContainerStatus({ root: ep.podns.env.root, pod: pc!.name, name: 'fail-0' })?.restartCount, 0);
  t.like((await ep.rt('ContainerStatus', { container_id: failing })).status, { state: 'CONTAINER_EXITED', exit_code: 3, started_at: f.started_at }, 'not run again');
  const list = async (filter: Msg) => (await ep.rt('ListContainers', { filter })).containers.map((x: Msg) => x.id).sort();
  t.deepEqual(await list({ pod_sandbox_id: pod }), [waiting, failing, ok].sort());
  t.deepEqual(await list({ state: { state: 'CONTAINER_RUNNING' } }), [waiting]);
  t.deepEqual(await list({ label_selector: { c: 'ok' } }), [ok]);
  await ep.rt('StopContainer', { container_id: waiting, timeout: 0 });
  await ep.rt('StopContainer', { container_id: waiting, timeout: 0 });
  t.is((await ep.rt('ContainerStatus', { container_id: waiting })).status.state, 'CONTAINER_EXITED');
  for (const id of [waiting, failing, ok]) {
    await ep.rt('RemoveContainer', { container_id: id });
    await ep.rt('RemoveContainer', { container_id: id });
  }
  t.deepEqual(await list({ pod_sandbox_id: pod }), []);
  if (ep.podns) t.deepEqual(listPods({ root: ep.podns.env.root }).find((p) => p.name === pc!.name)!.containers, [], 'gone from the podns pod too');
  t.true(await stopUnknown(ep.rt('StopContainer', { container_id: 'e'.repeat(64) })));
  await ep.rt('RemoveContainer', { container_id: 'e'.repeat(64) });
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

criTest('log: CRI format at log_directory/log_path; ReopenContainerLog starts a new file', async (t, ep) => {
  const sb = ep.sandboxConfig('logs', { log_directory: join(ep.work, 'logs-pod') });
  const { pod_sandbox_id: pod } = await ep.rt('RunPodSandbox', { config: sb });
  const id = await runContainer(ep, pod, ep.containerConfig('talk', ['sh', '-c', 'echo out; echo err >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after'], { log_path: 'talk/0.log' }), sb);
  const file = join(ep.work, 'logs-pod', 'talk', '0.log');
  t.is((await ep.rt('ContainerStatus', { container_id: id })).status.log_path, file);
  for (let i = 0; i < 100 && !(existsSync(file) && readFileSync(file, 'utf8').split('\n').length > 2); i++) await sleep(20);
  const first = readFileSync(file, 'utf8').trim().split('\n');
  t.is(first.length, 2);
  // RFC 3339 with nanoseconds as Go's RFC3339Nano writes it (trailing zeros of the fraction dropped), the
  // stream, P or F (partial or full line), the line
  for (const l of first) t.regex(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) F (out|err)$/);
  t.deepEqual(first.map((l) => l.split(' ').slice(1).join(' ')).sort(), ['stderr F err', 'stdout F out']);
  renameSync(file, `${file}.1`);
  await ep.rt('ReopenContainerLog', { container_id: id });
  await ep.rt('ExecSync', { container_id: id, cmd: ['touch', '/tmp/go'], timeout: 10 });
  await waitState(ep, id, 'CONTAINER_EXITED');
  t.regex(readFileSync(file, 'utf8'), /^\S+ stdout F after\n$/);
  t.is(readFileSync(`${file}.1`, 'utf8').trim().split('\n').length, 2, 'the old file kept its lines');
  // not running: nothing to reopen (the code is the runtime's: podns FAILED_PRECONDITION, containerd UNKNOWN)
  const err = await t.throwsAsync(ep.rt('ReopenContainerLog', { container_id: id }));
  t.not(codeOf(err), status.OK);
  if (ep.podns) t.is(codeOf(err), status.FAILED_PRECONDITION);
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

criTest('ExecSync: output, exit code, timeout; StopContainer with a grace period; DNS config; hostPort', async (t, ep) => {
  const hostPort = ep.hostPort(18241);
  const sb = ep.sandboxConfig('exec', {
    dns_config: { servers: ['10.241.0.53'], searches: ['svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort, host_ip: '' }],
  });
  const { pod_sandbox_id: pod } = await ep.rt('RunPodSandbox', { config: sb });
  const id = await runContainer(ep, pod, ep.containerConfig('srv', ['sh', '-c', 'mkdir -p /www; echo hello-cri > /www/index.html; trap "" TERM; httpd -f -p 80 -h /www']), sb);
  const r = await ep.rt('ExecSync', { container_id: id, cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7'], timeout: 10 });
  t.is(Buffer.from(r.stdout).toString(), 'to-out\n');
  t.is(Buffer.from(r.stderr).toString(), 'to-err\n');
  t.is(r.exit_code, 7);
  const start = Date.now();
  const to = await t.throwsAsync(ep.rt('ExecSync', { container_id: id, cmd: ['sleep', '30'], timeout: 1 }));
  t.is(codeOf(to), status.DEADLINE_EXCEEDED, 'kubelet tells a probe timeout by DEADLINE_EXCEEDED');
  t.true(Date.now() - start < 10_000, `gave up after ${Date.now() - start} ms`);
  // resolv.conf: the servers, searches and options given (the order of the lines is the runtime's)
  const resolv = Buffer.from((await ep.rt('ExecSync', { container_id: id, cmd: ['cat', '/etc/resolv.conf'] })).stdout).toString();
  t.deepEqual(resolv.trim().split('\n').sort(), ['nameserver 10.241.0.53', 'options ndots:5', 'search svc.cluster.local cluster.local']);
  // hostPort: the published port answers on this host (here: the test sandbox's netns)
  let body = '';
  for (let i = 0; i < 50 && body === ''; i++) {
    body = await new Promise<string>((res) => {
      get(`http://127.0.0.1:${hostPort}/`, (rs) => { let b = ''; rs.on('data', (d) => { b += String(d); }); rs.on('end', () => res(b)); }).on('error', () => res(''));
    });
    if (body === '') await sleep(50);
  }
  t.is(body.trim(), 'hello-cri');
  // the workload ignores SIGTERM: StopContainer's timeout passes, then SIGKILL
  const t0 = Date.now();
  await ep.rt('StopContainer', { container_id: id, timeout: 1 });
  const took = Date.now() - t0;
  t.true(took >= 900 && took < 8000, `stopped after ${took} ms`);
  t.like((await ep.rt('ContainerStatus', { container_id: id })).status, { state: 'CONTAINER_EXITED', exit_code: 137, reason: 'Error' });
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

/** The body of http://127.0.0.1:PORT/ ('' until it answers). */
async function httpBody(port: number): Promise<string> {
  let body = '';
  for (let i = 0; i < 50 && body === ''; i++) {
    body = await new Promise<string>((res) => {
      get(`http://127.0.0.1:${port}/`, (rs) => { let b = ''; rs.on('data', (d) => { b += String(d); }); rs.on('end', () => res(b)); }).on('error', () => res(''));
    });
    if (body === '') await sleep(50);
  }
  return body.trim();
}

criTest('StopPodSandbox reclaims the network: the next sandbox of the pod takes the same hostPort while the stopped one is not removed yet', async (t, ep) => {
  // kubelet stops a sandbox and runs the pod's next one at once; it removes the old one much later (its GC)
  const hostPort = ep.hostPort(18242);
  const web = (word: string) => ep.containerConfig('web', ['sh', '-c', `mkdir -p /www; echo ${word} > /www/index.html; httpd -f -p 80 -h /www`]);
  const ports = { port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort, host_ip: '' }] };
  const sb1 = ep.sandboxConfig('again', ports);
  const { pod_sandbox_id: first } = await ep.rt('RunPodSandbox', { config: sb1 });
  await runContainer(ep, first, web('first'), sb1);
  t.is(await httpBody(hostPort), 'first');
  await ep.rt('StopPodSandbox', { pod_sandbox_id: first });
  const sb2 = ep.sandboxConfig('again', ports);
  sb2.metadata.attempt = 1;
  const { pod_sandbox_id: second } = await ep.rt('RunPodSandbox', { config: sb2 });
  await runContainer(ep, second, web('second'), sb2);
  t.is(await httpBody(hostPort), 'second');
  t.is((await ep.rt('PodSandboxStatus', { pod_sandbox_id: first })).status.state, 'SANDBOX_NOTREADY');
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: first });
  t.is(await httpBody(hostPort), 'second', 'removing the old one leaves the new one\'s port alone');
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: second });
});

criTest('images: status of a missing image is null; list and status of the imported one; a missing image fails CreateContainer', async (t, ep) => {
  t.is((await ep.img('ImageStatus', { image: { image: 'nosuch:1' } })).image, null);
  const st = (await ep.img('ImageStatus', { image: { image: 'docker.io/library/busybox:latest' } })).image;
  t.truthy(st);
  t.true(st.repo_tags.map(normalizeImageRef).includes('docker.io/library/busybox:latest'), `repo_tags ${st.repo_tags}`);
  t.is((await ep.img('ImageStatus', { image: { image: 'busybox' } })).image?.id, st.id, 'the short name is the same image');
  t.true((await ep.img('ListImages', {})).images.some((i: Msg) => i.id === st.id));
  await ep.img('RemoveImage', { image: { image: 'nosuch:1' } });
  const sb = ep.sandboxConfig('noimg');
  const { pod_sandbox_id: pod } = await ep.rt('RunPodSandbox', { config: sb });
  const err = await t.throwsAsync(ep.rt('CreateContainer', { pod_sandbox_id: pod, config: { ...ep.containerConfig('x', ['true']), image: { image: 'nosuch:1' } }, sandbox_config: sb }));
  t.is(codeOf(err), status.NOT_FOUND);
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: pod });
});

criTest('a restarted server serves the same sandboxes and containers, with their states', async (t, ep) => {
  const sb = ep.sandboxConfig('keep');
  const { pod_sandbox_id: pod } = await ep.rt('RunPodSandbox', { config: sb });
  const id = await runContainer(ep, pod, ep.containerConfig('k', ['sleep', '1000']), sb);
  const created = (await ep.rt('CreateContainer', { pod_sandbox_id: pod, config: ep.containerConfig('later', ['true']), sandbox_config: sb })).container_id;
  // the order of a list is not part of the contract
  const mine = async () => (await ep.rt('ListContainers', { filter: { pod_sandbox_id: pod } })).containers.sort((a: Msg, b: Msg) => (a.id < b.id ? -1 : 1));
  const before = await mine();
  await ep.restart(() => {
    if (ep.podns) t.false(existsSync(ep.socket), 'the socket is removed');
  });
  t.deepEqual(await mine(), before);
  t.is((await ep.rt('PodSandboxStatus', { pod_sandbox_id: pod })).status.state, 'SANDBOX_READY');
  t.is((await ep.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_RUNNING');
  t.is((await ep.rt('ContainerStatus', { container_id: created })).status.state, 'CONTAINER_CREATED');
  await ep.rt('StopPodSandbox', { pod_sandbox_id: pod });
  t.is((await ep.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_EXITED');
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: pod });
  t.deepEqual(await mine(), []);
});
