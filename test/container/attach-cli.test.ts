// `podns run -i/-t` and `podns attach`, as a user runs them: with a pipe for stdin, and on a real terminal
// (podns-helper exec --tty gives the CLI a pty whose input the test types and whose size it sets with
// --resize-fd: the CLI sees SIGWINCH as it would from a terminal emulator). Raw mode, the size following the
// terminal, ctrl-p ctrl-q detaching, the container's exit code as podns's.
import { execa, type ResultPromise } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { readContainerConfig, readContainerStatus } from '../../src/container/index.js';
import { importImage } from '../../src/image/index.js';
import { HELPER_ARGV0, execArgv } from '../../src/native/helper.js';
import { helperPath } from '../../src/native/index.js';
import { DetachScanner } from '../../src/cli/attach-terminal.js';
import test from 'ava';
import { privilegedSerial } from '../helpers/root.js';
import { bin, waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, hostFixture, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let rootfs = '';

useContainerEnv('attcli', 234, async (e, w) => {
  env = e;
  rootfs = hostFixture(w, 'bb').rootfs;
  await createTestPod(e, 'cli');
  await importImage({ root: e.root, store: e.store, name: 'busybox', source: rootfs, config: { cmd: ['sh'] } });
});

test('the detach keys: ctrl-p ctrl-q anywhere, split across reads; a lone ctrl-p goes on with what follows', (t) => {
  const s = new DetachScanner();
  t.deepEqual(s.push(Buffer.from('ab\x10')), { data: Buffer.from('ab'), detach: false });
  t.deepEqual(s.push(Buffer.from('\x11zz')), { data: Buffer.alloc(0), detach: true });
  const s2 = new DetachScanner();
  t.deepEqual(s2.push(Buffer.from('\x10x\x10\x10')), { data: Buffer.from('\x10x\x10'), detach: false });
  t.deepEqual(s2.push(Buffer.from('y')), { data: Buffer.from('\x10y'), detach: false });
});

/** The CLI on a pty of its own: what the test writes is typed, sizes go to the pty, output is the terminal's. */
function onTerminal(args: string[]): { p: ResultPromise; out: () => string; type: (s: string) => void; size: (cols: number, rows: number) => void; waitOut: (re: RegExp) => Promise<void> } {
  const argv = execArgv({ target: { ns: [{ type: 'net', path: '/proc/self/ns/net' }] }, tty: true, resizeFd: 3, argv: ['node', bin, ...args] });
  const p = execa(helperPath, argv, { argv0: HELPER_ARGV0, env: { ...env!.env }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'], reject: false, timeout: 30_000 } as never) as unknown as ResultPromise;
  let out = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  p.stderr!.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  const fd3 = (p as unknown as { stdio: NodeJS.WritableStream[] }).stdio[3]!;
  return {
    p, out: () => out,
    type: (s) => { p.stdin!.write(s); },
    size: (cols, rows) => { fd3.write(`${cols} ${rows}\n`); },
    waitOut: (re) => waitFor(() => re.test(out), `${re} on the terminal: ${JSON.stringify(out.slice(-400))}`, 15000),
  };
}

privilegedSerial('run -i with a pipe: stdin reaches cat, its end ends cat (stdinOnce), podns exits with its code', async (t) => {
  const r = await execa('node', [bin, 'run', 'cli', '-i', '--name', 'pcat', '--rootfs', rootfs, '--', 'sh', '-c', 'cat; exit 3'], { env: env!.env, input: 'piped in\n', reject: false, timeout: 20_000 });
  t.is(r.stdout, 'piped in', r.stderr);
  t.is(r.exitCode, 3, r.stderr);
  t.is(readContainerStatus({ root: env!.root, pod: 'cli', name: 'pcat' })?.exitCode, 3);
});

privilegedSerial('run -it on a terminal: raw mode, the size follows the terminal, the exit code is the shell\'s', async (t) => {
  const term = onTerminal(['run', 'cli', '-it', '--name', 'tsh', '--rootfs', rootfs, '--', 'sh']);
  await term.waitOut(/\/ # /); // the shell's first prompt, printed before podns connected: replayed
  term.size(120, 40);
  await sleep(300);
  term.type('busybox stty size; echo mark-$((6*7))\n');
  await term.waitOut(/mark-42/);
  t.regex(term.out(), /40 120/);
  term.size(90, 25);
  await sleep(300);
  term.type('busybox stty size; echo mark-$((6*7+1))\n');
  await term.waitOut(/mark-43/);
  t.regex(term.out(), /25 90/);
  term.type('exit 7\n');
  const r = await term.p;
  t.is(r.exitCode, 7, term.out());
});

privilegedSerial('run -dit, then attach POD/NAME on a terminal: ctrl-p ctrl-q detaches and the container runs on; attach -c with a pipe', async (t) => {
  const started = await env!.cli(['run', 'cli', '-dit', '--name', 'dsh', '--rootfs', rootfs, '--', 'sh']);
  t.is(started.exitCode, 0, started.stderr);
  t.regex(started.stdout, /container\/dsh started/);
  const term = onTerminal(['attach', 'cli/dsh']);
  await sleep(500);
  term.type('echo mark-$((40+4))\n');
  await term.waitOut(/mark-44/);
  term.type('\x10\x11');
  const r = await term.p;
  t.is(r.exitCode, 0, term.out());
  t.regex(term.out(), /detached from cli\/dsh/);
  t.is(readContainerStatus({ root: env!.root, pod: 'cli', name: 'dsh' })?.state, 'running');
  // a pipe: not a terminal, no raw mode; stdin stays open (no stdinOnce with -d): the shell exits on its own words
  // (kept open here: its end would end the session at once)
  const pp = execa('node', [bin, 'attach', 'cli', '-c', 'dsh'], { env: env!.env, stdin: 'pipe', reject: false, timeout: 20_000 });
  await sleep(500);
  pp.stdin!.write('echo piped-$((1+1)); exit 4\n');
  const piped = await pp;
  t.regex(String(piped.stdout), /piped-2/);
  t.is(piped.exitCode, 4, String(piped.stderr));
  // a container run without -i or -t cannot be attached to
  await env!.cli(['run', 'cli', '--name', 'plain', '--rootfs', rootfs, '--', 'sleep', '60']);
  const refused = await env!.cli(['attach', 'cli', '-c', 'plain']);
  t.is(refused.exitCode, 1);
  t.regex(refused.stderr, /^podns attach: container "plain" of pod "cli" cannot be attached to: it has no attach socket/);
});

privilegedSerial('a manifest\'s stdin, stdinOnce and tty reach the container: podns attach types into its shell', async (t) => {
  const manifest = `apiVersion: v1
kind: Pod
metadata: {name: mani}
spec:
  containers:
  - {name: sh, image: busybox, command: [sh], stdin: true, stdinOnce: true, tty: true}
`;
  const applied = await execa('node', [bin, 'apply', '-f', '-', '--bridge', env!.bridge, '--subnet', env!.subnet], { env: env!.env, input: manifest, reject: false, timeout: 20_000 });
  t.is(applied.exitCode, 0, String(applied.stderr));
  t.like(readContainerConfig({ root: env!.root, pod: 'mani', name: 'sh' }), { stdin: true, stdinOnce: true, tty: true });
  const inspect = JSON.parse(String((await execa('node', [bin, 'inspect', 'mani'], { env: env!.env })).stdout)) as { containers: { details: Array<Record<string, unknown>> } };
  t.like(inspect.containers.details[0], { name: 'sh', stdin: true, stdinOnce: true, tty: true }, 'inspect shows them');
  const pp = execa('node', [bin, 'attach', 'mani'], { env: env!.env, stdin: 'pipe', reject: false, timeout: 20_000 });
  await sleep(500);
  pp.stdin!.write('busybox tty; echo via-manifest-$((2*3)); exit 5\n');
  const r = await pp;
  t.regex(String(r.stdout), /via-manifest-6/);
  t.regex(String(r.stdout), /\/dev\/pts\/\d+/);
  t.is(r.exitCode, 5, String(r.stderr));
});
