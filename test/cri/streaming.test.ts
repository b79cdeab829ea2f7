// The CRI streaming server end to end, against podns's CRI and containerd's (test/cri/endpoint.ts): the
// Exec, Attach and PortForward RPCs answer URLs, and clients speaking as client-go does (SPDY/3.1 with
// v4.channel.k8s.io / portforward.k8s.io, and WebSocket channels) run sessions against busybox containers
// in a sandbox: output and exit codes, stdin, a tty with resize, port-forward to servers on the pod's
// 127.0.0.1, single-use URLs, argument checks. What only podns promises (its messages, v5 over WebSocket,
// the ports of the request enforced) is checked on podns only.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { connect } from 'node:net';
import type { ExecutionContext } from 'ava';
import { codeOf, criSuite, type CriEndpoint } from './endpoint.js';
import { MAX_TOKENS } from '../../src/cri/streaming/tokens.js';
import type { Msg } from './client.js';
import { spdyExec, spdyPortForward, upgrade, UpgradeRefused, wsExec, wsPortForward } from './stream-client.js';

const criTest = criSuite({ tag: 'stream', octet: 243 });

interface Fixture { sandbox: string; sbCfg: Msg; sleeper: string }
const fixtures = new Map<string, Fixture>();

async function runContainer(ep: CriEndpoint, sandbox: string, sbCfg: Msg, name: string, cmd: string[]): Promise<string> {
  const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: sandbox, config: ep.containerConfig(name, cmd, { log_path: `${name}.log` }), sandbox_config: sbCfg });
  await ep.rt('StartContainer', { container_id });
  return container_id;
}

/** One sandbox per endpoint: a sleeper to exec in, and servers on the pod's loopback (echo, httpd). */
async function fixture(ep: CriEndpoint): Promise<Fixture> {
  const have = fixtures.get(ep.kind);
  if (have !== undefined) return have;
  const sbCfg = ep.sandboxConfig('streams', { log_directory: ep.work });
  const sandbox = (await ep.rt('RunPodSandbox', { config: sbCfg })).pod_sandbox_id;
  const sleeper = await runContainer(ep, sandbox, sbCfg, 'sleeper', ['sleep', '3600']);
  await runContainer(ep, sandbox, sbCfg, 'echo', ['nc', '-ll', '-p', '7007', '-e', '/bin/cat']);
  await runContainer(ep, sandbox, sbCfg, 'web', ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/tmp']);
  const f = { sandbox, sbCfg, sleeper };
  fixtures.set(ep.kind, f);
  return f;
}

async function exec(ep: CriEndpoint, cmd: string[], o: Msg = {}): Promise<string> {
  const f = await fixture(ep);
  return (await ep.rt('Exec', { container_id: f.sleeper, cmd, stdout: true, stderr: !o.tty, ...o })).url;
}

const SUCCESS = { metadata: {}, status: 'Success' };

criTest('Exec over SPDY: stdout and stderr apart, a Success status, a NonZeroExitCode status with the code', async (t, ep) => {
  const url = await exec(ep, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]+$/);
  if (ep.podns) {
    t.regex(url, /\/exec\/[A-Za-z0-9_-]{24}$/);
    t.true(url.startsWith(ep.podns.server().streamUrl));
  }
  const r = await spdyExec(url);
  t.is(r.protocol, 'v4.channel.k8s.io');
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.deepEqual(JSON.parse(r.error), {
    metadata: {}, status: 'Failure', reason: 'NonZeroExitCode',
    message: 'command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  const ok = await spdyExec(await exec(ep, ['sh', '-c', 'id -u; hostname']));
  t.is(ok.stdout, '0\nstreams\n', 'in the container (its hostname, its user)');
  t.deepEqual(JSON.parse(ok.error), SUCCESS);
  if (ep.podns) {
    // (containerd ends such a session with an empty error stream)
    const missing = await spdyExec(await exec(ep, ['no-such-command']));
    t.is(JSON.parse(missing.error).status, 'Failure');
    t.regex(missing.stderr, /no-such-command.*ENOENT/);
    t.is(JSON.parse(missing.error).details.causes[0].message, '127');
  }
});

criTest('Exec over SPDY: stdin reaches the command and its EOF ends it; older protocol versions are served too', async (t, ep) => {
  // containerd 1.6 under load sometimes ends stdout at 256 KiB of a larger echo (its copy races the command's
  // exit): its side gets less than that; podns's gets 300 kB (the kubectl test sends 1 MiB through podns).
  const text = 'hello\n' + 'x'.repeat(ep.kind === 'containerd' ? 200_000 : 300_000) + '\nbye\n';
  const r = await spdyExec(await exec(ep, ['cat'], { stdin: true }), { stdin: text });
  t.is(r.stdout.length, text.length);
  t.true(r.stdout === text);
  t.deepEqual(JSON.parse(r.error), SUCCESS);
  const wc = await spdyExec(await exec(ep, ['wc', '-c'], { stdin: true }), { stdin: 'abc' });
  t.is(wc.stdout.trim(), '3');
  // v3: a plain message on the error stream, nothing on success
  const v3 = await spdyExec(await exec(ep, ['sh', '-c', 'exit 4']), { protocols: ['v3.channel.k8s.io'] });
  t.is(v3.protocol, 'v3.channel.k8s.io');
  t.regex(v3.error, /^command terminated with non-zero exit code: .*exit code 4$/);
  const v2 = await spdyExec(await exec(ep, ['true']), { protocols: ['v2.channel.k8s.io', 'channel.k8s.io'] });
  t.is(v2.protocol, 'v2.channel.k8s.io');
  t.is(v2.error, '');
});

criTest('Exec with a tty: a pty in the container, its size from the resize stream', async (t, ep) => {
  const url = await exec(ep, ['sh', '-c', 'sleep 0.5; busybox tty; busybox stty size'], { tty: true, stderr: false });
  const r = await spdyExec(url, { tty: true, resize: [{ Width: 123, Height: 45 }] });
  t.regex(r.stdout, /\/dev\/pts\/\d+/);
  t.regex(r.stdout, /45 123/);
  t.deepEqual(JSON.parse(r.error), SUCCESS);
});

criTest('Exec with a tty: the end of stdin is typed into the pty as ^D', async (t, ep) => {
  // (containerd leaves the command reading the pty)
  const r = await spdyExec(await exec(ep, ['cat'], { tty: true, stdin: true, stderr: false }), { tty: true, stdin: 'hello\n' });
  t.regex(r.stdout, /hello\r?\n/);
  t.deepEqual(JSON.parse(r.error), SUCCESS, 'cat ended by the ^D');
}, { only: ['podns'] });

criTest('Exec over WebSocket: v4 channels (stdout 1, stderr 2, status 3)', async (t, ep) => {
  const r = await wsExec(await exec(ep, ['sh', '-c', 'echo out; echo err >&2; exit 5']), { protocol: 'v4.channel.k8s.io' });
  t.is(r.protocol, 'v4.channel.k8s.io');
  t.is(r.channels[1], 'out\n');
  t.is(r.channels[2], 'err\n');
  t.like(JSON.parse(r.channels[3]!), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } });
});

criTest('Exec over WebSocket: v5 with stdin and its close message; an unknown subprotocol is a 400', async (t, ep) => {
  const cat = await wsExec(await exec(ep, ['cat'], { stdin: true }), { protocol: 'v5.channel.k8s.io', stdin: 'over ws\n', closeStdin: true });
  t.is(cat.protocol, 'v5.channel.k8s.io');
  t.is(cat.channels[1], 'over ws\n');
  t.deepEqual(JSON.parse(cat.channels[3]!), SUCCESS);
  const bad = await t.throwsAsync(upgrade(await exec(ep, ['true']), { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'base64.channel.k8s.io' })) as UpgradeRefused;
  t.is(bad.status, 400);
  t.regex(bad.body, /server supports \[v5.channel.k8s.io v4.channel.k8s.io\]/);
}, { only: ['podns'] });

criTest('PortForward over SPDY: connections to the pod\'s 127.0.0.1 (two at once), a refused port on the error stream', async (t, ep) => {
  const f = await fixture(ep);
  const { url } = await ep.rt('PortForward', { pod_sandbox_id: f.sandbox, port: [7007, 8080, 7999] });
  t.regex(url, /\/portforward\/[A-Za-z0-9_-]+$/);
  const s = await spdyPortForward(url);
  try {
    const [a, b] = await Promise.all([s.forward(7007, 'first connection\n'), s.forward(7007, 'second\n')]);
    t.deepEqual(a, { data: 'first connection\n', error: '' });
    t.deepEqual(b, { data: 'second\n', error: '' });
    const web = await s.forward(8080, 'GET / HTTP/1.0\r\n\r\n');
    t.regex(web.data, /^HTTP\/1\.[01] \d{3} /);
    const refused = await s.forward(7999, 'x');
    t.is(refused.data, '');
    t.not(refused.error, '');
    if (ep.podns) {
      t.regex(refused.error, /^error forwarding port 7999 to pod streams-[0-9a-f]{8}: connect 127\.0\.0\.1:7999: ECONNREFUSED/);
      const notAsked = await s.forward(22, 'x');
      t.regex(notAsked.error, /port 22 was not among the ports of the PortForward request \(7007, 8080, 7999\)/);
    }
  } finally {
    s.close();
  }
  // nothing of the pod's network is on the host: the host's 127.0.0.1:7007 is not the pod's
  const host = await new Promise<string>((res) => {
    const k = connect(7007, '127.0.0.1');
    k.on('connect', () => { k.destroy(); res('connected'); });
    k.on('error', (err: NodeJS.ErrnoException) => res(err.code ?? 'error'));
  });
  t.is(host, 'ECONNREFUSED');
});

// (containerd 1.6 answers no port prefix here: its WebSocket port-forward is not what kubectl uses; kubelet
// and the API server speak SPDY for port-forward)
criTest('PortForward over WebSocket: the port prefix on the first frames, data on channel 0', async (t, ep) => {
  const f = await fixture(ep);
  const { url } = await ep.rt('PortForward', { pod_sandbox_id: f.sandbox, port: [] });
  const ch = await wsPortForward(url, [8080], ['GET / HTTP/1.0\r\n\r\n'], (x) => /HTTP\/1\.[01] \d{3}/.test(x[0]?.toString('latin1') ?? ''));
  t.is(ch[0]!.readUInt16LE(0), 8080);
  t.is(ch[1]!.readUInt16LE(0), 8080);
  t.regex(ch[0]!.subarray(2).toString('latin1'), /^HTTP\/1\.[01] \d{3} /);
}, { only: ['podns'] });

// A client that goes away at once: the forwarder is killed, and what it would still say (the end of the data
// channel, its error line) meets a closed WebSocket. Those writes must be dropped, not thrown: an 'error' with
// no listener would end the whole CRI server.
criTest('PortForward over WebSocket: a client that closes at once leaves the server up', async (t, ep) => {
  const f = await fixture(ep);
  for (let i = 0; i < 5; i++) {
    const { url } = await ep.rt('PortForward', { pod_sandbox_id: f.sandbox, port: [] });
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=8080&port=7007`, ['v4.channel.k8s.io']);
    await new Promise<void>((res, rej) => { ws.once('open', () => res()); ws.once('error', rej); });
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET / HTTP/1.0\r\n\r\n')]));
    ws.terminate();
  }
  await sleep(500);
  t.is((await ep.rt('Version', {})).runtime_api_version, 'v1');
}, { only: ['podns'] });

criTest('Attach: the container\'s output from now on, stdout and stderr apart, until it exits', async (t, ep) => {
  const f = await fixture(ep);
  const id = await runContainer(ep, f.sandbox, f.sbCfg, 'talker', ['sh', '-c', 'sleep 1.5; echo to-out; echo to-err >&2; sleep 0.5']);
  const { url } = await ep.rt('Attach', { container_id: id, stdout: true, stderr: true });
  const r = await spdyExec(url);
  t.is(r.stdout, 'to-out\n');
  t.is(r.stderr, 'to-err\n');
  t.deepEqual(JSON.parse(r.error), SUCCESS);
});

async function rpcErr(t: ExecutionContext, ep: CriEndpoint, rpc: string, req: Msg): Promise<number | undefined> {
  return codeOf(await t.throwsAsync(ep.rt(rpc, req)));
}

criTest('URLs are single-use; Exec/Attach/PortForward refuse bad arguments and unknown ids', async (t, ep) => {
  const f = await fixture(ep);
  const url = await exec(ep, ['true']);
  await spdyExec(url);
  const again = await t.throwsAsync(spdyExec(url)) as UpgradeRefused;
  t.is(again.status, 404);
  const codes = [
    await rpcErr(t, ep, 'Exec', { container_id: f.sleeper, cmd: ['sh'], tty: true, stdout: true, stderr: true }),
    await rpcErr(t, ep, 'Exec', { container_id: f.sleeper, cmd: ['sh'] }),
    await rpcErr(t, ep, 'Exec', { container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }),
    await rpcErr(t, ep, 'Attach', { container_id: 'f'.repeat(64), stdout: true }),
    await rpcErr(t, ep, 'PortForward', { pod_sandbox_id: 'f'.repeat(64), port: [80] }),
  ];
  t.log(ep.kind, codes);
  if (ep.podns) {
    t.is(await rpcErr(t, ep, 'Exec', { container_id: f.sleeper, cmd: [], stdout: true }), 3 /* INVALID_ARGUMENT */);
    t.is(await rpcErr(t, ep, 'PortForward', { pod_sandbox_id: f.sandbox, port: [70000] }), 3);
    t.deepEqual(codes, [3, 3, 5, 5, 5]);
  }
});

// Keep this test LAST in the file: it leaves the endpoint's streaming request cache full for a minute.
criTest('a full request cache (URLs handed out, never used): Exec, Attach and PortForward answer RESOURCE_EXHAUSTED, as kubelet\'s streaming server', async (t, ep) => {
  const f = await fixture(ep);
  let n = 0;
  let err: unknown;
  for (; n <= MAX_TOKENS; n++) {
    try {
      await ep.rt('PortForward', { pod_sandbox_id: f.sandbox, port: [7007] });
    } catch (e) {
      err = e;
      break;
    }
  }
  t.log(ep.kind, `full after ${n} URLs`);
  t.is(codeOf(err), 8 /* RESOURCE_EXHAUSTED */, String(err));
  t.is(await rpcErr(t, ep, 'Exec', { container_id: f.sleeper, cmd: ['true'], stdout: true }), 8);
  t.is(await rpcErr(t, ep, 'Attach', { container_id: f.sleeper, stdout: true }), 8);
  t.is(await rpcErr(t, ep, 'PortForward', { pod_sandbox_id: f.sandbox, port: [7007] }), 8);
  if (ep.podns) {
    t.true(n > 0 && n <= MAX_TOKENS);
    t.regex(String(err), /streaming requests are waiting for their client; try again within a minute/);
  }
});
