// The CRI's Attach with stdin and tty (kubectl attach -it, kubectl run -it), against podns's CRI and
// containerd's (test/cri/endpoint.ts): a container created with stdin (stdin_once or not) or a tty, attached
// over SPDY and WebSocket as client-go does; what the session carries, what the container does at the end of
// the session's stdin, the pty's size from the resize stream, the CRI log; and containerd's answers to the
// edge cases (stdin to a container without stdin, a session's tty that is not the container's).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { criSuite, type CriEndpoint } from './endpoint.js';
import type { Msg } from './client.js';
import { spdyExec, spdyLive, wsLive } from './stream-client.js';

const criTest = criSuite({ tag: 'attach', octet: 233 });

const SUCCESS = { metadata: {}, status: 'Success' };

const sandboxes = new Map<string, { id: string; cfg: Msg }>();

async function sandbox(ep: CriEndpoint): Promise<{ id: string; cfg: Msg }> {
  const have = sandboxes.get(ep.kind);
  if (have !== undefined) return have;
  const cfg = ep.sandboxConfig('attach', { log_directory: ep.work });
  const id = (await ep.rt('RunPodSandbox', { config: cfg })).pod_sandbox_id as string;
  sandboxes.set(ep.kind, { id, cfg });
  return { id, cfg };
}

let seq = 0;

/** A started container; its CRI log file. */
async function start(ep: CriEndpoint, cmd: string[], extra: Msg): Promise<{ id: string; log: string }> {
  const sb = await sandbox(ep);
  const name = `c${++seq}`;
  const cfg = ep.containerConfig(name, cmd, { log_path: `${name}.log`, ...extra });
  const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id: sb.id, config: cfg, sandbox_config: sb.cfg });
  await ep.rt('StartContainer', { container_id });
  return { id: container_id, log: join(ep.work, `${name}.log`) };
}

async function status(ep: CriEndpoint, id: string): Promise<Msg> {
  return (await ep.rt('ContainerStatus', { container_id: id })).status;
}

async function exited(ep: CriEndpoint, id: string): Promise<Msg> {
  for (let i = 0; i < 200; i++) {
    const st = await status(ep, id);
    if (st.state === 'CONTAINER_EXITED') return st;
    await sleep(50);
  }
  throw new Error(`container ${id} did not exit within 10 s`);
}

async function attachUrl(ep: CriEndpoint, id: string, o: Msg): Promise<string> {
  return (await ep.rt('Attach', { container_id: id, stdout: true, ...o })).url as string;
}

criTest('Attach with stdin to cat (stdin_once): its output comes back; the end of stdin ends cat, the container exits 0', async (t, ep) => {
  const c = await start(ep, ['cat'], { stdin: true, stdin_once: true });
  const s = await spdyLive(await attachUrl(ep, c.id, { stdin: true, stderr: true }), { stdin: true });
  s.write('hello through attach\n');
  await s.waitOut(/hello through attach\n/);
  s.endStdin();
  const r = await s.result;
  t.is(r.stdout, 'hello through attach\n');
  t.is(r.stderr, '');
  t.deepEqual(JSON.parse(r.error), SUCCESS);
  const st = await exited(ep, c.id);
  t.is(st.exit_code, 0, 'cat read the end of its stdin');
  t.regex(readFileSync(c.log, 'utf8'), /stdout F hello through attach\n/);
});

criTest('Attach with stdin, no stdin_once: the end of a session\'s stdin ends the session only, the next one gets the same stdin', async (t, ep) => {
  const c = await start(ep, ['cat'], { stdin: true });
  for (const word of ['first', 'second']) {
    const s = await spdyLive(await attachUrl(ep, c.id, { stdin: true, stderr: true }), { stdin: true });
    s.write(`${word}\n`);
    await s.waitOut(new RegExp(`${word}\\n`));
    s.endStdin();
    const r = await s.result;
    t.deepEqual(JSON.parse(r.error), SUCCESS);
    t.is((await status(ep, c.id)).state, 'CONTAINER_RUNNING', `cat still runs after the ${word} session`);
  }
  await ep.rt('StopContainer', { container_id: c.id, timeout: 0 });
});

criTest('Attach with a tty to sh over SPDY: a command\'s output, stty size follows the resize stream, the log has it all as stdout', async (t, ep) => {
  const c = await start(ep, ['sh'], { stdin: true, tty: true });
  const s = await spdyLive(await attachUrl(ep, c.id, { stdin: true, tty: true }), { stdin: true, tty: true });
  s.resize(100, 30);
  await sleep(300);
  s.write('busybox tty; busybox stty size; echo mark-$((40+2))\n');
  await s.waitOut(/mark-42/);
  t.regex(s.out(), /30 100/);
  t.regex(s.out(), /\/dev\/pts\/\d+/);
  s.resize(90, 20);
  await sleep(300);
  s.write('busybox stty size; echo mark-$((40+3))\n');
  await s.waitOut(/mark-43/);
  t.regex(s.out(), /20 90/);
  s.write('exit\n');
  const r = await s.result;
  t.deepEqual(JSON.parse(r.error), SUCCESS, 'the session ends with the container');
  t.is((await exited(ep, c.id)).exit_code, 0);
  const log = readFileSync(c.log, 'utf8');
  t.regex(log, /stdout [FP] .*mark-42/);
  t.notRegex(log, / stderr /, 'a tty has one stream');
});

criTest('a tty container\'s /dev/console is its pty (runc\'s bind): stat shows the same device as tty names, what is written there is logged', async (t, ep) => {
  const c = await start(ep, ['sh', '-c', 'stat -c "%t:%T %F" /dev/console "$(tty)"; echo via-console > /dev/console'], { tty: true });
  t.is((await exited(ep, c.id)).exit_code, 0);
  const lines = readFileSync(c.log, 'utf8').split('\n').filter(Boolean).map((l) => l.replace(/^\S+ stdout [FP] /, '').replace(/\r$/, ''));
  t.regex(lines[0]!, /^88:[0-9a-f]+ character special file$/, 'a pty slave (major 136)');
  t.is(lines[1], lines[0], '/dev/console is the pty that tty names');
  t.is(lines[2], 'via-console');
});

criTest('Attach with a tty to sh over WebSocket: resize on channel 4, output on 1, the status on 3', async (t, ep) => {
  const c = await start(ep, ['sh'], { stdin: true, tty: true });
  const s = await wsLive(await attachUrl(ep, c.id, { stdin: true, tty: true }));
  s.resize(101, 31);
  await sleep(300);
  s.write('busybox stty size; echo mark-$((40+4))\n');
  await s.waitOut(/mark-44/);
  t.regex(s.out(), /31 101/);
  s.write('exit 0\n');
  const r = await s.result;
  t.deepEqual(JSON.parse(r.error), SUCCESS);
  t.is((await exited(ep, c.id)).exit_code, 0);
});

criTest('Attach edge cases as containerd answers them: stdin to a container without stdin reaches nothing; a session\'s tty is not the container\'s', async (t, ep) => {
  // no stdin: the session's stdin is accepted and dropped; output from now on until the container exits
  const plain = await start(ep, ['sh', '-c', 'sleep 1.5; echo out; echo err >&2; sleep 0.5'], {});
  const s = await spdyLive(await attachUrl(ep, plain.id, { stdin: true, stderr: true }), { stdin: true });
  s.write('nobody reads this\n');
  const r = await s.result;
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.deepEqual(JSON.parse(r.error), SUCCESS);
  // a container without a tty, a session with one: stdout only, stderr dropped (with stdin or without)
  const plainTty = await start(ep, ['sh', '-c', 'sleep 1.5; echo out; echo err >&2; sleep 0.5'], {});
  const r1 = await spdyExec(await attachUrl(ep, plainTty.id, { tty: true }), { tty: true });
  t.is(r1.stdout, 'out\n');
  t.deepEqual(JSON.parse(r1.error), SUCCESS);
  const noTty = await start(ep, ['sh', '-c', 'sleep 1.5; echo out; echo err >&2; sleep 0.5'], { stdin: true });
  const r2 = await spdyExec(await attachUrl(ep, noTty.id, { tty: true }), { tty: true });
  t.is(r2.stdout, 'out\n');
  t.deepEqual(JSON.parse(r2.error), SUCCESS);
  // a container with a tty, a session without: everything on stdout. (With a stderr stream as well
  // containerd 1.6 never ends the session: a tty container's stderr group is never closed. podns ends it at the
  // container's exit with nothing on stderr.)
  const tty = await start(ep, ['sh', '-c', 'sleep 1.5; echo out; echo err >&2; sleep 0.5'], { tty: true });
  const r3 = await spdyExec(await attachUrl(ep, tty.id, ep.podns ? { stderr: true } : {}), ep.podns ? {} : { stderr: false });
  t.regex(r3.stdout, /^out\r?\nerr\r?\n$/);
  t.is(r3.stderr, '');
  t.deepEqual(JSON.parse(r3.error), SUCCESS);
});
