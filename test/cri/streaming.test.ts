// The CRI streaming server end to end: Exec, Attach and PortForward RPCs answer URLs, and clients speaking
// as client-go does (SPDY/3.1 with v4.channel.k8s.io / portforward.k8s.io, and WebSocket channels) run
// sessions against a busybox container in a podns sandbox: output and exit codes, stdin, a tty with
// resize, port-forward to servers on the pod's 127.0.0.1, single-use URLs, argument checks.
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { serveCri, type CriServer } from '../../src/cri/index.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import type { TestEnv } from '../pod/env.js';
import { criClient, type CriClient, type Msg } from './client.js';
import { containerConfig, criEnv, sandboxConfig } from './env.js';
import { spdyExec, spdyPortForward, upgrade, UpgradeRefused, wsExec, wsPortForward } from './stream-client.js';

let e: TestEnv & { logDir: string; work: string };
let server: CriServer;
let c: CriClient;
let sandbox: string;
let sleeper: string;

async function runContainer(cfg: Msg, sbCfg: Msg): Promise<string> {
  const { container_id } = await c.rt('CreateContainer', { pod_sandbox_id: sandbox, config: cfg, sandbox_config: sbCfg });
  await c.rt('StartContainer', { container_id });
  return container_id;
}

test.before(async () => {
  if (skipReason() !== undefined || !busyboxAvailable()) return;
  e = await criEnv('stream', 243);
  server = await serveCri({ root: e.root, store: e.store, bridge: e.bridge, subnet: e.subnet, listen: `unix://${join(e.work, 'cri.sock')}`, logLevel: 'debug', log: () => undefined });
  c = criClient(server.socket);
  const sbCfg = sandboxConfig('streams', { log_directory: e.logDir });
  sandbox = (await c.rt('RunPodSandbox', { config: sbCfg })).pod_sandbox_id;
  sleeper = await runContainer(containerConfig('sleeper', ['sleep', '3600'], { log_path: 'sleeper.log' }), sbCfg);
  // servers on the pod's loopback: an echo server (cat per connection) and httpd (answers, then closes)
  await runContainer(containerConfig('echo', ['nc', '-ll', '-p', '7007', '-e', '/bin/cat'], { log_path: 'echo.log' }), sbCfg);
  await runContainer(containerConfig('web', ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/tmp'], { log_path: 'web.log' }), sbCfg);
});

test.after.always(async () => {
  c?.close();
  await server?.close();
  if (e) await e.cleanup();
});

const exec = async (cmd: string[], o: Msg = {}): Promise<string> =>
  (await c.rt('Exec', { container_id: sleeper, cmd, stdout: true, stderr: !o.tty, ...o })).url;

privilegedSerial('Exec over SPDY: stdout and stderr apart, a Success status, a NonZeroExitCode status with the code', async (t) => {
  const url = await exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{24}$/);
  t.true(url.startsWith(server.streamUrl));
  const r = await spdyExec(url);
  t.is(r.protocol, 'v4.channel.k8s.io');
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.deepEqual(JSON.parse(r.error), {
    metadata: {}, status: 'Failure', reason: 'NonZeroExitCode',
    message: 'command terminated with non-zero exit code: error executing command ["sh","-c","echo out; echo err >&2; exit 3"], exit code 3',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  const ok = await spdyExec(await exec(['sh', '-c', 'id -u; hostname']));
  t.is(ok.stdout, '0\nstreams\n', 'in the container (its hostname, its user)');
  t.deepEqual(JSON.parse(ok.error), { metadata: {}, status: 'Success' });
  const missing = await spdyExec(await exec(['no-such-command']));
  t.regex(missing.stderr, /no-such-command.*ENOENT/);
  t.is(JSON.parse(missing.error).details.causes[0].message, '127');
});

privilegedSerial('Exec over SPDY: stdin reaches the command and its EOF ends it; older protocol versions are served too', async (t) => {
  const text = 'hello\n' + 'x'.repeat(300_000) + '\nbye\n';
  const r = await spdyExec(await exec(['cat'], { stdin: true }), { stdin: text });
  t.is(r.stdout.length, text.length);
  t.is(r.stdout, text);
  t.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' });
  const wc = await spdyExec(await exec(['wc', '-c'], { stdin: true }), { stdin: 'abc' });
  t.is(wc.stdout.trim(), '3');
  // v3: a plain message on the error stream, nothing on success
  const v3 = await spdyExec(await exec(['sh', '-c', 'exit 4']), { protocols: ['v3.channel.k8s.io'] });
  t.is(v3.protocol, 'v3.channel.k8s.io');
  t.regex(v3.error, /^command terminated with non-zero exit code: .*exit code 4$/);
  const v2 = await spdyExec(await exec(['true']), { protocols: ['v2.channel.k8s.io', 'channel.k8s.io'] });
  t.is(v2.protocol, 'v2.channel.k8s.io');
  t.is(v2.error, '');
});

privilegedSerial('Exec with a tty: a pty in the container, its size from the resize stream, ^D at stdin\'s end', async (t) => {
  const url = await exec(['sh'], { tty: true, stdin: true, stderr: false });
  const r = await spdyExec(url, {
    tty: true,
    resize: [{ Width: 123, Height: 45 }],
    stdinLater: async () => { await sleep(300); return 'busybox tty; busybox stty size; echo done-$((6*7))\n'; },
  });
  t.regex(r.stdout, /\/dev\/pts\/\d+/);
  t.regex(r.stdout, /45 123/);
  t.regex(r.stdout, /done-42/);
  t.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' }, 'sh ended by the ^D typed at stdin\'s EOF');
});

privilegedSerial('Exec over WebSocket: v4 channels (stdout 1, stderr 2, status 3), v5 with stdin and its close message', async (t) => {
  const r = await wsExec(await exec(['sh', '-c', 'echo out; echo err >&2; exit 5']), { protocol: 'v4.channel.k8s.io' });
  t.is(r.protocol, 'v4.channel.k8s.io');
  t.is(r.channels[1], 'out\n');
  t.is(r.channels[2], 'err\n');
  t.like(JSON.parse(r.channels[3]!), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } });
  const cat = await wsExec(await exec(['cat'], { stdin: true }), { protocol: 'v5.channel.k8s.io', stdin: 'over ws\n', closeStdin: true });
  t.is(cat.protocol, 'v5.channel.k8s.io');
  t.is(cat.channels[1], 'over ws\n');
  t.deepEqual(JSON.parse(cat.channels[3]!), { metadata: {}, status: 'Success' });
  const bad = await t.throwsAsync(upgrade(await exec(['true']), { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'base64.channel.k8s.io' })) as UpgradeRefused;
  t.is(bad.status, 400);
  t.regex(bad.body, /server supports \[v5.channel.k8s.io v4.channel.k8s.io\]/);
});

privilegedSerial('PortForward over SPDY: connections to the pod\'s 127.0.0.1 (two at once), a refused port on the error stream, a port not asked for', async (t) => {
  const { url } = await c.rt('PortForward', { pod_sandbox_id: sandbox, port: [7007, 8080, 7999] });
  t.regex(url, /\/portforward\/[A-Za-z0-9_-]{24}$/);
  const s = await spdyPortForward(url);
  try {
    const [a, b] = await Promise.all([s.forward(7007, 'first connection\n'), s.forward(7007, 'second\n')]);
    t.deepEqual(a, { data: 'first connection\n', error: '' });
    t.deepEqual(b, { data: 'second\n', error: '' });
    const web = await s.forward(8080, 'GET / HTTP/1.0\r\n\r\n');
    t.regex(web.data, /^HTTP\/1\.[01] \d{3} /);
    const refused = await s.forward(7999, 'x');
    t.is(refused.data, '');
    t.regex(refused.error, /^error forwarding port 7999 to pod streams-[0-9a-f]{8}: connect 127\.0\.0\.1:7999: ECONNREFUSED/);
    const notAsked = await s.forward(22, 'x');
    t.regex(notAsked.error, /port 22 was not among the ports of the PortForward request \(7007, 8080, 7999\)/);
  } finally {
    s.close();
  }
  // nothing of the pod's network is on the host: the host's 127.0.0.1:7007 is not the pod's
  const host = await new Promise<string>((res) => {
    import('node:net').then(({ connect }) => {
      const k = connect(7007, '127.0.0.1');
      k.on('connect', () => { k.destroy(); res('connected'); });
      k.on('error', (err: NodeJS.ErrnoException) => res(err.code ?? 'error'));
    }, () => res('error'));
  });
  t.is(host, 'ECONNREFUSED');
});

privilegedSerial('PortForward over WebSocket: the port prefix on the first frames, data on channel 0, errors on 1', async (t) => {
  const { url } = await c.rt('PortForward', { pod_sandbox_id: sandbox, port: [] });
  const ch = await wsPortForward(url, [8080], ['GET / HTTP/1.0\r\n\r\n'], (x) => /HTTP\/1\.[01] \d{3}/.test(x[0]?.toString('latin1') ?? ''));
  t.is(ch[0]!.readUInt16LE(0), 8080);
  t.is(ch[1]!.readUInt16LE(0), 8080);
  t.regex(ch[0]!.subarray(2).toString('latin1'), /^HTTP\/1\.[01] \d{3} /);
});

privilegedSerial('Attach: the container\'s output from now on, stdout and stderr apart, until it exits', async (t) => {
  const sbCfg = sandboxConfig('streams');
  const id = await runContainer(containerConfig('talker', ['sh', '-c', 'sleep 1.5; echo to-out; echo to-err >&2; sleep 0.5'], { log_path: 'talker.log' }), sbCfg);
  const { url } = await c.rt('Attach', { container_id: id, stdout: true, stderr: true });
  const r = await spdyExec(url);
  t.is(r.stdout, 'to-out\n');
  t.is(r.stderr, 'to-err\n');
  t.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' });
});

privilegedSerial('URLs are single-use; Exec/Attach/PortForward check their arguments', async (t) => {
  const url = await exec(['true']);
  await spdyExec(url);
  const again = await t.throwsAsync(spdyExec(url)) as UpgradeRefused;
  t.is(again.status, 404);
  const rpcErr = async (rpc: string, req: Msg): Promise<number> => ((await t.throwsAsync(c.rt(rpc, req))) as Msg).code;
  t.is(await rpcErr('Exec', { container_id: sleeper, cmd: ['sh'], tty: true, stdout: true, stderr: true }), status.INVALID_ARGUMENT);
  t.is(await rpcErr('Exec', { container_id: sleeper, cmd: ['sh'] }), status.INVALID_ARGUMENT, 'no stream at all');
  t.is(await rpcErr('Exec', { container_id: sleeper, cmd: [], stdout: true }), status.INVALID_ARGUMENT);
  t.is(await rpcErr('Exec', { container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }), status.NOT_FOUND);
  t.is(await rpcErr('Attach', { container_id: 'f'.repeat(64), stdout: true }), status.NOT_FOUND);
  t.is(await rpcErr('PortForward', { pod_sandbox_id: 'f'.repeat(64), port: [80] }), status.NOT_FOUND);
  t.is(await rpcErr('PortForward', { pod_sandbox_id: sandbox, port: [70000] }), status.INVALID_ARGUMENT);
});
