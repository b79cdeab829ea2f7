// The streaming server against a real Kubernetes client: kubectl (client-go's remotecommand and
// portforward, Go's spdystream and its zlib header compression, the v5 WebSocket executor), against podns's
// CRI and containerd's (test/cri/endpoint.ts). kubectl talks
// to an API server; the test plays a minimal one on 127.0.0.1 (discovery, the pod object) that does what
// the API server and kubelet do for exec/port-forward: call the CRI's Exec/PortForward and proxy the
// upgraded connection to the URL it answers. Skipped where kubectl is not installed.
// (This is the test that found Go's flate reader failing on header blocks that end without a sync-flush
// marker: spdy-headers.ts.)
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Msg } from './client.js';
import { execArgv, HELPER_ARGV0 } from '../../src/native/helper.js';
import { helperPath } from '../../src/native/index.js';
import { criSuite, type CriEndpoint, type CriImpl } from './endpoint.js';

const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

const criTest = criSuite({ tag: 'skubectl', octet: 244 });

interface Fixture { api: Server; sockets: Set<Socket>; kubeconfig: string; home: string; ep: CriEndpoint; sandbox: string; sbCfg: Msg; containers: Record<string, string> }
const fixtures = new Map<string, Fixture>();

function json(res: { writeHead: (s: number, h: Record<string, string>) => void; end: (b: string) => void }, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const POD = (name: string, containers: Record<string, string>): Msg => ({
  kind: 'Pod', apiVersion: 'v1',
  metadata: { name, namespace: 'default', uid: 'u-1' },
  spec: { containers: Object.keys(containers).map((n) => ({ name: n, image: 'busybox', ...(SPEC_EXTRA.get(n) ?? {}) })) },
  status: { phase: 'Running', containerStatuses: Object.keys(containers).map((n) => ({ name: n, ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} } })) },
});

/** A container's fields of the pod spec besides name and image (stdin, stdinOnce, tty). */
const SPEC_EXTRA = new Map<string, Msg>();

const RESOURCES = {
  kind: 'APIResourceList', groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  ],
};

/** What the API server + kubelet do: the CRI RPC for the session, then a proxy to the URL it gave. */
async function proxyUpgrade(f: Fixture, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => undefined);
  const u = new URL(req.url ?? '/', 'http://x');
  const m = /^\/api\/v1\/namespaces\/default\/pods\/[a-z0-9-]+\/(exec|attach|portforward)$/.exec(u.pathname);
  if (m === null) return void socket.destroy();
  const q = u.searchParams;
  const flag = (k: string): boolean => q.get(k) === 'true' || q.get(k) === '1';
  const id = f.containers[q.get('container') ?? 'sleeper'] ?? '';
  const c = f.ep;
  const sandbox = f.sandbox;
  let url: string;
  if (m[1] === 'exec') url = (await c.rt('Exec', { container_id: id, cmd: q.getAll('command'), stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr'), tty: flag('tty') })).url;
  else if (m[1] === 'attach') url = (await c.rt('Attach', { container_id: id, stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr'), tty: flag('tty') })).url;
  else url = (await c.rt('PortForward', { pod_sandbox_id: sandbox, port: [] })).url;
  const target = new URL(url);
  const up = connect(Number(target.port), target.hostname);
  up.on('error', () => socket.destroy());
  const lines: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  up.write(`${req.method} ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\n${lines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) up.write(head);
  socket.pipe(up);
  up.pipe(socket);
}

function kubectl(f: Fixture, args: string[], env: Record<string, string> = {}, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = execFile(KUBECTL!, ['--kubeconfig', f.kubeconfig, ...args], { env: { ...process.env, HOME: f.home, ...env }, timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1, stdout, stderr });
    });
    if (stdin !== undefined) p.stdin?.end(stdin);
    else p.stdin?.end();
  });
}

/** Per endpoint: a sandbox with a sleeper and an echo server, and the API server kubectl talks to. */
async function fixture(ep: CriEndpoint): Promise<Fixture> {
  const have = fixtures.get(ep.kind);
  if (have !== undefined) return have;
  const sbCfg = ep.sandboxConfig('kpod', { log_directory: ep.work });
  const sandbox = (await ep.rt('RunPodSandbox', { config: sbCfg })).pod_sandbox_id;
  const containers: Record<string, string> = {};
  for (const [name, cmd] of [['sleeper', ['sleep', '3600']], ['echo', ['nc', '-ll', '-p', '7007', '-e', '/bin/cat']]] as const) {
    const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: sandbox, config: ep.containerConfig(name, [...cmd], { log_path: `${name}.log` }), sandbox_config: sbCfg });
    await ep.rt('StartContainer', { container_id });
    containers[name] = container_id;
  }
  const api = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1') return json(res, 200, RESOURCES);
    const m = /^\/api\/v1\/namespaces\/default\/pods\/([a-z0-9-]+)$/.exec(path ?? '');
    if (m !== null && req.method === 'GET') return json(res, 200, POD(m[1]!, containers));
    json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found` });
  });
  const home = join(ep.work, `kubectl-${ep.kind}`);
  mkdirSync(home, { recursive: true });
  const f: Fixture = { api, sockets: new Set(), kubeconfig: join(home, 'kubeconfig'), home, ep, sandbox, sbCfg, containers };
  api.on('connection', (sock: Socket) => { f.sockets.add(sock); sock.once('close', () => f.sockets.delete(sock)); });
  api.on('upgrade', (req, socket, head) => { void proxyUpgrade(f, req, socket, head).catch(() => socket.destroy()); });
  await new Promise<void>((res) => api.listen(0, '127.0.0.1', res));
  writeFileSync(f.kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'podns',
    clusters: [{ name: 'podns', cluster: { server: `http://127.0.0.1:${(api.address() as AddressInfo).port}` } }],
    users: [{ name: 'podns', user: {} }],
    contexts: [{ name: 'podns', context: { cluster: 'podns', user: 'podns', namespace: 'default' } }],
  }));
  fixtures.set(ep.kind, f);
  return f;
}

test.after.always(async () => {
  for (const f of fixtures.values()) {
    // upgraded connections are the test's own proxies: the server does not track them
    for (const sock of f.sockets) sock.destroy();
    await new Promise<void>((res) => f.api.close(() => res()));
  }
});

const maybe = KUBECTL === undefined ? (title: string) => test.skip(`${title} [kubectl not installed]`, () => undefined) : (title: string, fn: CriImpl) => criTest(title, fn);

for (const [transport, env] of [['WebSocket (v5.channel.k8s.io)', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'true' }], ['SPDY (v4.channel.k8s.io)', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }]] as const) {
  maybe(`kubectl exec over ${transport}: output, stdin, and the exit code of the command`, async (t, ep) => {
    const f = await fixture(ep);
    const r = await kubectl(f, ['exec', 'kpod', '-c', 'sleeper', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'], env);
    t.is(r.stdout, 'out\n', r.stderr);
    t.regex(r.stderr, /err\n/);
    t.is(r.code, 7, r.stderr);
    // 1 MiB through stdin and back: more than any SPDY window, both ways
    const big = `${'0123456789abcdef'.repeat(65_536)}\n`;
    const cat = await kubectl(f, ['exec', '-i', 'kpod', '-c', 'sleeper', '--', 'sh', '-c', 'cat; echo end'], env, `piped through\n${big}`);
    t.is(cat.stdout.length, `piped through\n${big}end\n`.length, cat.stderr);
    t.true(cat.stdout === `piped through\n${big}end\n`);
    t.is(cat.code, 0);
  });

  maybe(`kubectl attach -i over ${transport}: stdin reaches the container's cat, its end (stdinOnce) ends it`, async (t, ep) => {
    const f = await fixture(ep);
    const name = `cat-${env.KUBECTL_REMOTE_COMMAND_WEBSOCKETS === 'true' ? 'ws' : 'spdy'}`;
    const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: f.sandbox, config: ep.containerConfig(name, ['cat'], { log_path: `${name}.log`, stdin: true, stdin_once: true }), sandbox_config: f.sbCfg });
    await ep.rt('StartContainer', { container_id });
    f.containers[name] = container_id;
    SPEC_EXTRA.set(name, { stdin: true, stdinOnce: true });
    const r = await kubectl(f, ['attach', '-i', 'kpod', '-c', name], env, 'typed into attach\n');
    t.regex(r.stdout, /typed into attach\n/, r.stderr);
    t.is(r.code, 0, r.stderr);
    let state = '';
    for (let i = 0; i < 100 && state !== 'CONTAINER_EXITED'; i++) {
      state = (await ep.rt('ContainerStatus', { container_id })).status.state;
      if (state !== 'CONTAINER_EXITED') await sleep(50);
    }
    t.is(state, 'CONTAINER_EXITED', 'cat ended with its stdin');
  });

  maybe(`kubectl attach -it over ${transport} on a terminal: a shell on the container's pty, its size from kubectl's`, async (t, ep) => {
    const f = await fixture(ep);
    const name = `sh-${env.KUBECTL_REMOTE_COMMAND_WEBSOCKETS === 'true' ? 'ws' : 'spdy'}`;
    const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: f.sandbox, config: ep.containerConfig(name, ['sh'], { log_path: `${name}.log`, stdin: true, tty: true }), sandbox_config: f.sbCfg });
    await ep.rt('StartContainer', { container_id });
    f.containers[name] = container_id;
    SPEC_EXTRA.set(name, { stdin: true, tty: true });
    // kubectl on a pty of its own (podns-helper exec --tty), whose size the test sets (--resize-fd 3)
    const argv = execArgv({ target: { ns: [{ type: 'net', path: '/proc/self/ns/net' }] }, tty: true, resizeFd: 3, argv: [KUBECTL!, '--kubeconfig', f.kubeconfig, 'attach', '-it', 'kpod', '-c', name] });
    const p = spawn(helperPath, argv, { argv0: HELPER_ARGV0, env: { ...process.env, HOME: f.home, ...env }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = new Promise<number | null>((res) => p.once('exit', (code) => res(code)));
    const waitOut = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 300 && !re.test(out); i++) await sleep(50);
      t.regex(out, re);
    };
    try {
      (p.stdio[3] as NodeJS.WritableStream).write('100 33\n');
      await sleep(1000);
      p.stdin!.write('busybox stty size; echo mark-$((6*7))\r');
      await waitOut(/mark-42/);
      t.regex(out, /33 100/, 'the pty has kubectl\'s terminal size');
      p.stdin!.write('exit\r');
      t.is(await Promise.race([exited, sleep(15_000).then(() => 'timeout')]), 0, out);
    } finally {
      p.kill('SIGKILL');
    }
  });
}

maybe('kubectl port-forward over SPDY: a local port reaches 127.0.0.1:7007 in the pod', async (t, ep) => {
  const f = await fixture(ep);
  const pf = spawn(KUBECTL!, ['--kubeconfig', f.kubeconfig, 'port-forward', 'pod/kpod', '--address', '127.0.0.1', ':7007'], { env: { ...process.env, HOME: f.home, KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    pf.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    pf.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    let port = 0;
    for (let i = 0; i < 200 && port === 0; i++) {
      const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 7007/.exec(out);
      if (m) port = Number(m[1]);
      else await sleep(50);
    }
    t.not(port, 0, out);
    for (const text of ['one\n', 'two\n']) {
      const got = await new Promise<string>((res, rej) => {
        const k = connect(port, '127.0.0.1');
        let data = '';
        k.on('data', (b: Buffer) => {
          data += b.toString();
          if (data === text) k.end();
        });
        k.on('close', () => res(data));
        k.on('error', rej);
        k.write(text);
      });
      t.is(got, text);
    }
  } finally {
    pf.kill('SIGTERM');
    await new Promise((res) => pf.once('exit', res));
  }
});
