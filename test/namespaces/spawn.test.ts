// nsExec / podns-helper exec against real targets: every check reads the kernel's answer
// (/proc/self/ns/* of the program that ran inside, NSpid, fd tables, isatty).
import test from 'ava';
import { chmodSync, closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { privileged } from '../helpers/root.js';
import { native } from '../../src/native/index.js';
import { nsIdentities } from '../../src/namespaces/identities.js';
import { helperExecArgs, nsExec, startNsExec, type NsExecError } from '../../src/namespaces/spawn.js';
import { inodeOf, readAll, startTarget, track } from './target.js';

const flags = () => native.CLONE_NEWNET | native.CLONE_NEWUTS | native.CLONE_NEWIPC | native.CLONE_NEWPID;

privileged('pid target: the program runs in the target\'s net, uts, ipc and pid namespaces', async (t) => {
  const target = startTarget(t, flags());
  const want = nsIdentities(target.pid);
  const self = nsIdentities('self');
  t.not(want.net!.ino, self.net!.ino, 'the target has its own netns');

  const r = await nsExec({
    target: { pid: target.pid },
    argv: ['sh', '-c', 'readlink /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/ipc /proc/self/ns/pid /proc/self/ns/mnt; grep ^NSpid: /proc/self/status'],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout!.trim().split('\n');
  t.is(inodeOf(lines[0]!), want.net!.ino);
  t.is(inodeOf(lines[1]!), want.uts!.ino);
  t.is(inodeOf(lines[2]!), want.ipc!.ino);
  t.is(inodeOf(lines[3]!), want.pid!.ino);
  t.is(inodeOf(lines[4]!), want.mnt!.ino, 'the target shares our mount namespace');
  // Two levels: the helper forked after joining, so the program is inside the target's pid namespace.
  const nspid = lines[5]!.split(/\s+/).slice(1);
  t.is(nspid.length, 2, lines[5]);
  t.true(Number(nspid[1]) > 1, 'pid 1 there is the target');
});

privileged('nsPaths target: joins exactly the listed namespace files', async (t) => {
  const target = startTarget(t, flags());
  const want = nsIdentities(target.pid);
  const self = nsIdentities('self');
  const r = await nsExec({
    target: { nsPaths: { net: `/proc/${target.pid}/ns/net`, uts: `/proc/${target.pid}/ns/uts` } },
    argv: ['readlink', '/proc/self/ns/net', '/proc/self/ns/uts', '/proc/self/ns/ipc'],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.is(r.code, 0, r.stderr);
  const [net, uts, ipc] = r.stdout!.trim().split('\n').map(inodeOf);
  t.is(net, want.net!.ino);
  t.is(uts, want.uts!.ino);
  t.is(ipc, self.ipc!.ino, 'ipc was not asked for and stays ours');
  t.not(ipc, want.ipc!.ino);
});

privileged('pidfd target: joins through the caller\'s pidfd and leaves it open', async (t) => {
  const target = startTarget(t, flags());
  const pidfd = native.pidfdOpen(target.pid);
  t.teardown(() => closeSync(pidfd));
  const r = await nsExec({ target: { pidfd }, argv: ['readlink', '/proc/self/ns/net'], stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(r.code, 0, r.stderr);
  t.is(inodeOf(r.stdout!), nsIdentities(target.pid).net!.ino);
  t.notThrows(() => fstatSync(pidfd));
});

privileged('exit status and death by signal are relayed', async (t) => {
  const target = startTarget(t, flags());
  t.is((await nsExec({ target: { pid: target.pid }, argv: ['sh', '-c', 'exit 3'] })).code, 3);
  t.is((await nsExec({ target: { pid: target.pid }, argv: ['true'] })).code, 0);
  t.is((await nsExec({ target: { pid: target.pid }, argv: ['sh', '-c', 'kill -TERM $$'] })).code, 128 + 15);
});

privileged('env, clearEnv, cwd, uid and gid are applied', async (t) => {
  const target = startTarget(t, flags());
  const r = await nsExec({
    target: { pid: target.pid },
    argv: ['sh', '-c', 'printf "%s|%s|%s|%s|%s\\n" "$FOO" "$(pwd)" "$(id -u)" "$(id -g)" "$(id -G)"'],
    env: { FOO: 'bar baz' },
    cwd: '/tmp',
    uid: 65534,
    gid: 65533,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'bar baz|/tmp|65534|65533|65533\n', 'supplementary groups dropped too');

  const c = await nsExec({ target: { pid: target.pid }, argv: ['env'], clearEnv: true, env: { A: '1', B: 'x=y' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(c.code, 0, c.stderr);
  t.deepEqual(c.stdout!.trim().split('\n').sort(), ['A=1', 'B=x=y']);

  process.env.PODNS_TEST_INHERITED = 'yes';
  t.teardown(() => delete process.env.PODNS_TEST_INHERITED);
  const i = await nsExec({ target: { pid: target.pid }, argv: ['sh', '-c', 'echo "$PODNS_TEST_INHERITED"'], stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(i.stdout, 'yes\n', 'without clearEnv the environment is inherited');
});

// `ls -l /proc/self/fd` lists ls's own fds: 0-2, plus the directory ls opened to read
// /proc/self/fd itself (a link to /proc/<its pid>/fd). Anything else was inherited.
function inheritedFds(listing: string): string[] {
  const extra: string[] = [];
  let own = 0;
  for (const line of listing.split('\n')) {
    const m = /\s(\d+) -> (.*)$/.exec(line);
    if (!m) continue;
    const [fd, dest] = [Number(m[1]), m[2]!];
    if (fd <= 2) continue;
    if (/^\/proc\/\d+\/fd$/.test(dest) && own++ === 0) continue;
    extra.push(`${fd} -> ${dest}`);
  }
  return extra;
}

privileged('the program inherits no fd beyond 0-2 (not the pidfd, not the error pipe, not ns files)', async (t) => {
  const target = startTarget(t, flags());
  const byPid = await nsExec({ target: { pid: target.pid }, argv: ['ls', '-l', '/proc/self/fd'], stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(byPid.code, 0, byPid.stderr);
  t.regex(byPid.stdout!, /\s0 -> /);
  t.deepEqual(inheritedFds(byPid.stdout!), [], byPid.stdout);

  const byPath = await nsExec({
    target: { nsPaths: { net: `/proc/${target.pid}/ns/net`, ipc: `/proc/${target.pid}/ns/ipc` } },
    argv: ['ls', '-l', '/proc/self/fd'],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.is(byPath.code, 0, byPath.stderr);
  t.deepEqual(inheritedFds(byPath.stdout!), [], byPath.stdout);

  const tty = await nsExec({ target: { pid: target.pid }, argv: ['ls', '-l', '/proc/self/fd'], tty: true, stdio: 'pipe' });
  t.is(tty.code, 0, tty.stderr);
  t.deepEqual(inheritedFds(tty.stdout!), [], tty.stdout);
  t.regex(tty.stdout!, /\s0 -> \/dev\/pts\/\d+/);

  // The detector itself: an fd we deliberately leak into the program is reported.
  const leaked = await nsExec({
    target: { pid: target.pid },
    argv: ['sh', '-c', 'exec 7</dev/null; ls -l /proc/self/fd'],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.deepEqual(inheritedFds(leaked.stdout!), ['7 -> /dev/null']);
});

privileged('--tty gives the program a terminal, relays stdin to it and its output back', async (t) => {
  const target = startTarget(t, flags());
  const plain = await nsExec({ target: { pid: target.pid }, argv: ['sh', '-c', 'test -t 0'], stdio: 'pipe' });
  t.is(plain.code, 1, 'stdin is a pipe without --tty');

  const r = await nsExec({
    target: { pid: target.pid },
    argv: ['sh', '-c', 'test -t 0 && test -t 1 && test -t 2 && echo is-a-tty; read line; echo "got:$line"'],
    tty: true,
    stdio: 'pipe',
    input: 'hello\n',
  });
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout!, /is-a-tty\r\n/);
  t.regex(r.stdout!, /got:hello\r\n/);

  // End of our stdin is end of input for the program (the helper types VEOF), even mid-line.
  const cat = await nsExec({ target: { pid: target.pid }, argv: ['cat'], tty: true, stdio: 'pipe', input: 'no newline' });
  t.is(cat.code, 0);
  t.true(cat.stdout!.endsWith('no newline'), JSON.stringify(cat.stdout));
});

privileged('--tty: a program that closes its terminal before it exits is not hung up on (no SIGHUP)', async (t) => {
  const target = startTarget(t, flags());
  // The pty master reads EIO once no slave fd is open, while the program still runs: closing the master
  // then would hang the terminal up and the kernel would SIGHUP the program (exit 129, not 3).
  const r = await nsExec({
    target: { pid: target.pid },
    argv: ['sh', '-c', 'exec 0<&- 1>&- 2>&-; sleep 0.3; exit 3'],
    tty: true,
    stdio: 'pipe',
    input: '',
  });
  t.is(r.code, 3);
});

privileged('signals to the helper reach the program', async (t) => {
  const target = startTarget(t, flags());
  const h = startNsExec({ target: { pid: target.pid }, argv: ['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 1; done'], stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve) => {
    h.child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready\n')) resolve();
    });
  });
  h.child.kill('SIGTERM');
  const r = await h.result;
  t.is(r.code, 7, 'the program\'s own exit status, after its TERM trap ran');
  t.regex(out + r.stdout, /got-term/);
});

privileged('a target that has exited is a clear ESRCH error', async (t) => {
  // By pid: the process is gone (exited and reaped).
  const gone = startTarget(t, flags());
  gone.stop();
  const e1 = await t.throwsAsync(nsExec({ target: { pid: gone.pid }, argv: ['true'] }));
  t.is((e1 as NsExecError).code, 'ESRCH');
  t.regex(e1!.message, /does not exist/);

  // By pidfd: the pidfd was opened while it lived; setns fails in the helper.
  const dead = startTarget(t, flags());
  const pidfd = native.pidfdOpen(dead.pid);
  t.teardown(() => closeSync(pidfd));
  dead.stop();
  const e2 = (await t.throwsAsync(nsExec({ target: { pidfd }, argv: ['true'] }))) as NsExecError;
  t.is(e2.code, 'ESRCH');
  t.is(e2.syscall, 'setns');
  t.is(e2.exitCode, 125);
  t.regex(e2.message, /^podns-helper exec: setns\(pidfd\): ESRCH \(No such process\) — the target process has exited$/);
});

privileged('start failures are errno errors with docker-like exit codes', async (t) => {
  const target = startTarget(t, flags());
  const nf = (await t.throwsAsync(nsExec({ target: { pid: target.pid }, argv: ['podns-no-such-program'] }))) as NsExecError;
  t.is(nf.code, 'ENOENT');
  t.is(nf.syscall, 'execvp');
  t.is(nf.path, 'podns-no-such-program');
  t.is(nf.exitCode, 127);

  const ne = (await t.throwsAsync(nsExec({ target: { pid: target.pid }, argv: ['/tmp'] }))) as NsExecError;
  t.is(ne.code, 'EACCES');
  t.is(ne.exitCode, 126);

  const cwd = (await t.throwsAsync(nsExec({ target: { pid: target.pid }, argv: ['true'], cwd: '/no/such/dir' }))) as NsExecError;
  t.is(cwd.code, 'ENOENT');
  t.is(cwd.syscall, 'chdir');

  const nsFile = (await t.throwsAsync(nsExec({ target: { nsPaths: { net: '/run/podns-test-no-such-pin' } }, argv: ['true'] }))) as NsExecError;
  t.is(nsFile.code, 'ENOENT');
  t.is(nsFile.syscall, 'open');

  // A pin of the wrong type: the kernel checks nstype against the file.
  const wrong = (await t.throwsAsync(nsExec({ target: { nsPaths: { net: `/proc/${target.pid}/ns/uts` } }, argv: ['true'] }))) as NsExecError;
  t.is(wrong.code, 'EINVAL');
  t.is(wrong.syscall, 'setns');
});

privileged('joining a mount namespace: the program is found with PATH in the new root', async (t) => {
  t.true(existsSync('/bin/busybox'), 'this test needs busybox-static (apt-get install busybox-static)');
  // A tiny root: busybox, a marker, and a program that exists only there.
  const root = mkdtempSync('/run/podns-test-root-');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(`${root}/bin`);
  mkdirSync(`${root}/.old`);
  copyFileSync('/bin/busybox', `${root}/bin/busybox`);
  chmodSync(`${root}/bin/busybox`, 0o755);
  for (const applet of ['sh', 'cat', 'pwd', 'sleep']) symlinkSync('busybox', `${root}/bin/${applet}`);
  writeFileSync(`${root}/bin/podns-probe`, '#!/bin/sh\necho "probe in $(pwd)"\n', { mode: 0o755 });
  writeFileSync(`${root}/marker`, 'inside-the-new-root\n');

  // The target pivots into it inside its own mount namespace (unshare makes it private), reports, sleeps.
  const [rd, wr] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({
      path: '/usr/bin/unshare',
      argv: ['unshare', '--mount', '/bin/sh', '-c',
        'mount --bind "$1" "$1" && cd "$1" && pivot_root . .old && echo ok >&3 && exec /bin/busybox sleep 100000', 'sh', root],
      fds: [[2, wr], [3, wr]],
    });
  } finally {
    closeSync(wr);
  }
  track(t, pid);
  t.is(readAll(rd), 'ok\n', 'the target pivoted into the test root');

  const r = await nsExec({ target: { pid }, argv: ['podns-probe'], stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'probe in /\n', 'found via PATH in the new root; cwd is that root');
  const m = await nsExec({ target: { nsPaths: { mnt: `/proc/${pid}/ns/mnt` } }, argv: ['cat', '/marker'], stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(m.stdout, 'inside-the-new-root\n', m.stderr);
  t.false(existsSync('/marker'), 'and not in ours');
});

test('bad input is refused before anything runs', (t) => {
  t.throws(() => helperExecArgs({ target: { nsPaths: { bogus: '/x' } as never }, argv: ['true'] }, undefined, 3), { instanceOf: TypeError, message: /unknown namespace type 'bogus'/ });
  t.throws(() => helperExecArgs({ target: { nsPaths: { net: 'relative/path' } }, argv: ['true'] }, undefined, 3), { instanceOf: TypeError, message: /absolute/ });
  t.throws(() => helperExecArgs({ target: { nsPaths: {} }, argv: ['true'] }, undefined, 3), { instanceOf: TypeError, message: /names no namespace/ });
  t.throws(() => helperExecArgs({ target: { pid: 1 }, argv: [] }, 3, 4), { instanceOf: TypeError, message: /argv/ });
  t.throws(() => helperExecArgs({ target: { pid: 1 }, argv: ['true'], uid: -1 }, 3, 4), { instanceOf: TypeError, message: /uid/ });
  t.throws(() => helperExecArgs({ target: { pid: 1 }, argv: ['true'], env: { 'A=B': 'x' } }, 3, 4), { instanceOf: TypeError, message: /env name/ });
  t.throws(() => helperExecArgs({ target: { pid: 1 }, argv: ['a\0b'] }, 3, 4), { instanceOf: TypeError, message: /NUL/ });
  t.deepEqual(
    helperExecArgs({ target: { pid: 1 }, argv: ['sh', '-c', 'x'], tty: true, uid: 1, gid: 2, cwd: '/w', clearEnv: true, env: { K: 'V' } }, 3, 4),
    ['exec', '--pidfd', '3', '--errfd', '4', '--tty', '--uid', '1', '--gid', '2', '--cwd', '/w', '--clear-env', '--env', 'K=V', '--', 'sh', '-c', 'x'],
  );
});
