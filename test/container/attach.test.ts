// Attaching to a container's main process through its watcher's attach socket (native/helper/shim_attach.c,
// src/container/attach.ts), for real: a busybox workload with stdin (a pipe the watcher writes) or a tty (a
// pty of the container's own devpts), its output relayed to clients and logged, stdin's end, resize, a
// client that stops reading or vanishes (the watcher never waits for it), a symlink planted at the socket's
// name, and what is left after kill -9 of the watcher.
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { attachContainer, execCapture, readContainerStatus, removeContainer, runContainer, stopContainers, type AttachSession } from '../../src/container/index.js';
import { paths } from '../../src/state/paths.js';
import { privilegedSerial } from '../helpers/root.js';
import { waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, hostFixture, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let rootfs = '';
let work = '';

useContainerEnv('attach', 229, async (e, w) => {
  env = e;
  work = w;
  rootfs = hostFixture(w, 'bb').rootfs;
  await createTestPod(e, 'att');
});

function run(name: string, command: string[], o: { stdin?: boolean; stdinOnce?: boolean; tty?: boolean; mounts?: Array<{ source: string; target: string }> } = {}): ReturnType<typeof runContainer> {
  return runContainer({ root: env!.root, pod: 'att', name, rootfs, command, ...o });
}

/** Everything the session says, and a way to wait for some of it. */
function collect(s: AttachSession): { out: () => string; err: () => string; waitOut: (re: RegExp) => Promise<void> } {
  let out = '';
  let err = '';
  s.onOutput((stream, b) => { if (stream === 'stdout') out += b.toString('utf8'); else err += b.toString('utf8'); });
  return { out: () => out, err: () => err, waitOut: (re) => waitFor(() => re.test(out), `${re} in ${JSON.stringify(out.slice(-300))}`) };
}

function log(name: string): string {
  return readFileSync(paths.containerLog(env!.root, 'att', name), 'utf8');
}

function sock(name: string): string {
  return paths.containerAttach(env!.root, 'att', name);
}

privilegedSerial('stdin: what a client writes reaches cat, its output comes back and is logged; stdin\'s end ends cat, exit 0', async (t) => {
  await run('cat', ['cat'], { stdin: true, stdinOnce: true });
  t.true(lstatSync(sock('cat')).isSocket(), 'the attach socket is there');
  const s = await attachContainer({ root: env!.root, pod: 'att', container: 'cat' });
  const c = collect(s);
  s.write(Buffer.from('hello through the pipe\n'));
  await c.waitOut(/hello through the pipe\n/);
  // a second client sees the output too
  const s2 = await attachContainer({ root: env!.root, pod: 'att', container: 'cat' });
  const c2 = collect(s2);
  s.write(Buffer.from('x'.repeat(200_000) + '\n'));
  await c.waitOut(/x{200000}\n/);
  await c2.waitOut(/x{200000}\n/);
  s.closeStdin();
  t.is(await s.ended, 0, 'EXIT 0 once cat has read the end');
  t.is(await s2.ended, 0);
  t.is(c.err(), '');
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'att', name: 'cat' })?.state === 'exited', 'cat to exit');
  t.is(readContainerStatus({ root: env!.root, pod: 'att', name: 'cat' })?.exitCode, 0);
  t.regex(log('cat'), /stdout F hello through the pipe\n/);
  await waitFor(() => !existsSync(sock('cat')), 'the watcher to remove its socket');
});

privilegedSerial('bulk through cat: a client that sends faster than it reads is slowed down, never dropped or stalled; 32 MiB in order', async (t) => {
  await run('bulk', ['cat'], { stdin: true, stdinOnce: true });
  const s = await attachContainer({ root: env!.root, pod: 'att', container: 'bulk' });
  const total = 32 << 20;
  const hashIn = createHash('sha256');
  const hashOut = createHash('sha256');
  let got = 0;
  s.onOutput((_stream, b) => { got += b.length; hashOut.update(b); });
  for (let sent = 0, i = 0; sent < total; i++) {
    const chunk = Buffer.alloc(65536, i % 251);
    chunk.writeUInt32BE(i, 0);
    hashIn.update(chunk);
    sent += chunk.length;
    if (!s.write(chunk)) await new Promise<void>((res) => s.onDrain(res));
  }
  s.closeStdin();
  t.is(await s.ended, 0, `the client got ${got} of ${total} bytes before the end`);
  t.is(got, total);
  t.is(hashOut.digest('hex'), hashIn.digest('hex'), 'in order, nothing lost');
});

privilegedSerial('stdin without stdinOnce stays open across sessions; a container without stdin or tty has no socket', async (t) => {
  await run('cat2', ['cat'], { stdin: true });
  for (const word of ['one', 'two']) {
    const s = await attachContainer({ root: env!.root, pod: 'att', container: 'cat2' });
    const c = collect(s);
    s.write(Buffer.from(`${word}\n`));
    await c.waitOut(new RegExp(`^${word}\\n$`));
    s.close();
    t.is(await s.ended, null, 'a session the client ends has no exit code');
  }
  t.is(readContainerStatus({ root: env!.root, pod: 'att', name: 'cat2' })?.state, 'running');
  await stopContainers({ root: env!.root, pod: 'att', names: ['cat2'], grace: 0 });

  await run('plain', ['sleep', '60']);
  t.false(existsSync(sock('plain')), 'the common container pays nothing: no socket');
  const err = await t.throwsAsync(attachContainer({ root: env!.root, pod: 'att', container: 'plain' }));
  t.is((err as { code?: string }).code, 'ENOATTACH');
  await stopContainers({ root: env!.root, pod: 'att', names: ['plain'], grace: 0 });
});

privilegedSerial('tty: the workload\'s terminal is a pty of the container\'s devpts, resize reaches it, everything is stdout', async (t) => {
  await run('tty', ['sh'], { stdin: true, tty: true });
  const s = await attachContainer({ root: env!.root, pod: 'att', container: 'tty' });
  const c = collect(s);
  s.resize(100, 30);
  s.write(Buffer.from('tty; stty size; echo mark-$((6*7)) >&2\n'));
  await c.waitOut(/mark-42/);
  t.regex(c.out(), /30 100/);
  const pts = /\/dev\/pts\/(\d+)/.exec(c.out());
  t.truthy(pts, c.out());
  const ls = await execCapture({ root: env!.root, pod: 'att', container: 'tty', argv: ['ls', `/dev/pts/${pts![1]}`] });
  t.is(ls.exitCode, 0, 'that /dev/pts/N exists in the container');
  s.resize(80, 24);
  s.write(Buffer.from('stty size\n'));
  await c.waitOut(/24 80/);
  s.write(Buffer.from('exit 3\n'));
  t.is(await s.ended, 3);
  t.is(c.err(), '', 'a tty has one stream');
  const text = log('tty');
  t.regex(text, /stdout [FP] .*mark-42/);
  t.notRegex(text, / stderr /);
});

privilegedSerial('tty: /dev/console is the workload\'s pty (bound there, as runc does): stat shows the same device, what is written there reaches the terminal', async (t) => {
  await run('console', ['sh', '-c', 'tty; stat -c "%t:%T %F" /dev/console "$(tty)"; echo via-console > /dev/console'], { tty: true });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'att', name: 'console' })?.state === 'exited', 'the container to end');
  const lines = log('console').split('\n').map((l) => l.replace(/^\S+ stdout [FP] /, '').replace(/\r$/, ''));
  t.regex(lines[0]!, /^\/dev\/pts\/\d+$/, 'tty names the pty');
  t.regex(lines[1]!, /^88:[0-9a-f]+ character special file$/, 'a pty slave (major 136 = 0x88)');
  t.is(lines[1], lines[2], '/dev/console is that very pty');
  t.is(lines[3], 'via-console');
  t.is(readContainerStatus({ root: env!.root, pod: 'att', name: 'console' })?.exitCode, 0);
});

privilegedSerial('tty: a volume that makes /dev/console a directory is refused with one line naming it (the pty is never bound over a directory)', async (t) => {
  const host = mkdtempSync(join(work, 'console-dir-'));
  const err = await t.throwsAsync(run('console-dir', ['true'], { tty: true, mounts: [{ source: host, target: '/dev/console' }] }));
  t.regex(err!.message, /cannot start container "console-dir": tty: EISDIR \(\/dev\/console in the container is a directory, where the tty is bound; remove what puts it there \(a volume over \/dev\)\)/);
});

privilegedSerial('tty: a client that asks for the replay gets the run\'s output so far first, in order; others get only what comes after', async (t) => {
  await run('replay', ['sh', '-c', 'echo early-output; read x; echo "late $x"; sleep 60'], { stdin: true, tty: true });
  await waitFor(() => /early-output/.test(log('replay')), 'the early output in the log');
  const plain = await attachContainer({ root: env!.root, pod: 'att', container: 'replay' });
  const cp = collect(plain);
  const rep = await attachContainer({ root: env!.root, pod: 'att', container: 'replay', replay: true });
  const cr = collect(rep);
  rep.write(Buffer.from('typed\n'));
  await cr.waitOut(/late typed/);
  await cp.waitOut(/late typed/);
  t.regex(cr.out(), /^early-output\r\n[^]*late typed/, 'the replay first, then live output, once each');
  t.is(cr.out().split('early-output').length, 2);
  t.false(cp.out().includes('early-output'), 'without the replay: only what came after it connected');
  plain.close();
  rep.close();
  await stopContainers({ root: env!.root, pod: 'att', names: ['replay'], grace: 0 });
});

privilegedSerial('tty without a root filesystem: the pty is of the container\'s own devpts over the host\'s /dev', async (t) => {
  await runContainer({ root: env!.root, pod: 'att', name: 'hosttty', command: ['sh', '-c', 'p=$(tty) && test -c "$p" && echo "ok $p"'], tty: true });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'att', name: 'hosttty' })?.state === 'exited', 'it to exit');
  t.is(readContainerStatus({ root: env!.root, pod: 'att', name: 'hosttty' })?.exitCode, 0, log('hosttty'));
  t.regex(log('hosttty'), /stdout F ok \/dev\/pts\/0\r?\n/, 'the first pty of a devpts of its own');
});

privilegedSerial('a client that stops reading, and one that vanishes, never stall the workload\'s output to the log', async (t) => {
  // ~3 MB of output while one client reads nothing (its socket buffer and its 1 MiB queue fill: dropped)
  await run('flood', ['sh', '-c', 'read go; i=0; while [ $i -lt 30000 ]; do echo "line $i ................................................................................"; i=$((i+1)); done; echo done-marker; sleep 60'], { stdin: true });
  const stalled = await attachContainer({ root: env!.root, pod: 'att', container: 'flood' });
  const st = collect(stalled);
  stalled.pause();
  const vanished = await attachContainer({ root: env!.root, pod: 'att', container: 'flood' });
  vanished.onOutput(() => undefined);
  const reader = await attachContainer({ root: env!.root, pod: 'att', container: 'flood' });
  const c = collect(reader);
  reader.write(Buffer.from('go\n'));
  await sleep(50);
  vanished.close();
  await waitFor(() => /stdout F done-marker/.test(log('flood')), 'done-marker in the log', 30000);
  await c.waitOut(/done-marker/);
  t.true(c.out().includes('line 29999 '), 'a client that reads gets everything');
  stalled.resume();
  t.is(await stalled.ended, null, 'the stalled client was dropped');
  t.false(st.out().includes('done-marker'), 'it got what was sent before it fell behind, no more');
  t.is(await vanished.ended, null);
  reader.close();
  await stopContainers({ root: env!.root, pod: 'att', names: ['flood'], grace: 0 });
});

privilegedSerial('hostile: a symlink planted at the attach socket\'s name is not followed', async (t: ExecutionContext) => {
  await run('host', ['cat'], { stdin: true });
  const dir = mkdtempSync(join(work, 'decoy-'));
  const decoy = join(dir, 'decoy.sock');
  let connections = 0;
  const server = createServer((k) => { connections++; k.destroy(); });
  await new Promise<void>((res) => server.listen(decoy, res));
  try {
    unlinkSync(sock('host'));
    symlinkSync(decoy, sock('host'));
    const err = await t.throwsAsync(attachContainer({ root: env!.root, pod: 'att', container: 'host' }));
    t.is((err as { code?: string }).code, 'ENOTSOCK');
    await sleep(100);
    t.is(connections, 0, 'nothing connected through the symlink');
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await stopContainers({ root: env!.root, pod: 'att', names: ['host'], grace: 0 });
});

/** A raw connection to a container's attach socket: resolves with what came before the watcher closed it. */
function rawClient(path: string, send: Buffer | undefined, waitMs: number): Promise<{ closed: boolean; data: Buffer }> {
  return new Promise((res) => {
    const k = connect(path);
    const got: Buffer[] = [];
    let closed = false;
    k.on('data', (b: Buffer) => got.push(b));
    k.on('error', () => undefined);
    k.on('close', () => { closed = true; res({ closed, data: Buffer.concat(got) }); });
    k.on('connect', () => {
      if (send !== undefined) k.write(send);
      setTimeout(() => { k.destroy(); res({ closed, data: Buffer.concat(got) }); }, waitMs);
    });
  });
}

privilegedSerial('hostile clients: a frame over 64 KiB, a 17th client, a peer of another uid are cut off; the workload never sees their input', async (t) => {
  await run('guard', ['cat'], { stdin: true });
  const watcher = readContainerStatus({ root: env!.root, pod: 'att', name: 'guard' })!;
  const path = sock('guard');
  const reader = await attachContainer({ root: env!.root, pod: 'att', container: 'guard' });
  const c = collect(reader);
  // a header announcing 70000 bytes: dropped at the header, before any of it is taken
  const big = Buffer.alloc(5);
  big[0] = 1;
  big.writeUInt32BE(70000, 1);
  t.true((await rawClient(path, Buffer.concat([big, Buffer.from('oversized\n')]), 2000)).closed, 'a frame over ATTACH_MAX_FRAME ends the connection');
  // 16 clients at most (the reader is one of them): the 17th is closed at once
  const held = await Promise.all(Array.from({ length: 15 }, () => attachContainer({ root: env!.root, pod: 'att', container: 'guard' })));
  t.true((await rawClient(path, undefined, 2000)).closed, 'a 17th client is closed');
  for (const h of held) h.close();
  // a peer whose uid is not the watcher's (the socket made reachable for the test; podns leaves it 0600 in 0700 dirs)
  const dirs = [dirname(env!.root), env!.root, join(env!.root, 'pods'), paths.pod(env!.root, 'att'), join(paths.pod(env!.root, 'att'), 'containers'), paths.container(env!.root, 'att', 'guard')];
  const modes = dirs.map((d) => statSync(d).mode & 0o7777);
  try {
    for (const d of dirs) chmodSync(d, 0o755);
    chmodSync(sock('guard'), 0o666);
    const script = `const k=require('net').connect(${JSON.stringify(sock('guard'))});k.on('connect',()=>{const b=Buffer.from('from-nobody\\n');const h=Buffer.alloc(5);h[0]=1;h.writeUInt32BE(b.length,1);k.write(Buffer.concat([h,b]));});k.on('close',()=>{console.log('closed');process.exit(0)});k.on('error',(e)=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log('open');process.exit(0)},2000);`;
    const r = await execa(process.execPath, ['-e', script], { uid: 65534, gid: 65534, reject: false });
    // closed at once: its write meets the close (EPIPE, ECONNRESET) or it sees the end first
    t.true(['closed', 'EPIPE', 'ECONNRESET'].includes(r.stdout.trim()), `another uid is cut off (SO_PEERCRED), not "${r.stdout.trim()}" (${r.stderr})`);
  } finally {
    dirs.forEach((d, i) => chmodSync(d, modes[i]!));
    chmodSync(sock('guard'), 0o600);
  }
  reader.write(Buffer.from('from-root\n'));
  await c.waitOut(/from-root\n/);
  t.notRegex(c.out(), /oversized|from-nobody/, 'nothing of theirs reached the workload');
  t.is(readContainerStatus({ root: env!.root, pod: 'att', name: 'guard' })?.watcherPid, watcher.watcherPid, 'the watcher is the same');
  reader.close();
  await stopContainers({ root: env!.root, pod: 'att', names: ['guard'], grace: 0 });
});

privilegedSerial('after kill -9 of the watcher the socket is left, and removing the container removes it', async (t) => {
  const { status } = await run('killed', ['cat'], { stdin: true });
  t.true(existsSync(sock('killed')));
  process.kill(status.watcherPid, 'SIGKILL');
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'att', name: 'killed' })?.state === 'exited', 'the container to read as exited');
  const err = await t.throwsAsync(attachContainer({ root: env!.root, pod: 'att', container: 'killed' }));
  t.is((err as { code?: string }).code, 'ENOATTACH', 'a dead watcher\'s socket refuses');
  await removeContainer({ root: env!.root, pod: 'att', name: 'killed' });
  t.false(existsSync(sock('killed')));
});
