// native.spawn({detach}) and {blockSignals}, and native.mountId, against the kernel's view: /proc/PID/stat
// (parent, session), /proc/PID/status (SigBlk, NSpid), /proc/PID/ns, /proc/self/mountinfo.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ErrnoError } from '../../src/errors.js';
import { native } from '../../src/native/index.js';
import { privileged } from '../helpers/root.js';
import { childrenOf, procStat, statusField, waitFor } from './proc.js';

const { SIGINT, SIGTERM, SIGCHLD, SIGKILL } = os.constants.signals;

/** SIGKILL through a pidfd when the test ends (the program is not our child: nothing to reap). */
function killLater(t: import('ava').ExecutionContext, pid: number): void {
  const fd = native.pidfdOpen(pid);
  t.teardown(() => {
    try {
      native.pidfdSendSignal(fd, SIGKILL);
    } catch {
      // already gone
    }
    fs.closeSync(fd);
  });
}

function sigmask(bits: string): bigint {
  return BigInt(`0x${bits}`);
}

const bit = (sig: number) => 1n << BigInt(sig - 1);

test('spawn detach: the program is not our child, the intermediate is reaped, setsid gives it its own session', async (t) => {
  const before = new Set(childrenOf(process.pid).map((c) => c.pid));
  const pid = native.spawn({ path: '/bin/sleep', argv: ['sleep', '60'], detach: true, setsid: true });
  killLater(t, pid);
  const st = procStat(pid);
  t.truthy(st, 'the program runs');
  t.not(st!.ppid, process.pid, 'reparented away from us');
  t.is(st!.session, pid, 'leader of its own session');
  t.is(fs.readlinkSync(`/proc/${pid}/exe`), fs.realpathSync('/bin/sleep'));
  const after = childrenOf(process.pid).filter((c) => !before.has(c.pid));
  t.deepEqual(after, [], 'no child of ours left (no zombie intermediate)');
});

test('spawn blockSignals: those signals stay blocked across execve; without it the program starts with none', async (t) => {
  const blocked = native.spawn({ path: '/bin/sleep', argv: ['sleep', '60'], detach: true, blockSignals: [SIGINT, SIGTERM, SIGCHLD] });
  killLater(t, blocked);
  const plain = native.spawn({ path: '/bin/sleep', argv: ['sleep', '60'], detach: true });
  killLater(t, plain);
  t.is(sigmask(statusField(blocked, 'SigBlk')), bit(SIGINT) | bit(SIGTERM) | bit(SIGCHLD));
  t.is(sigmask(statusField(plain, 'SigBlk')), 0n);
  // SIGTERM waits (blocked, pending) instead of ending it
  process.kill(blocked, 'SIGTERM');
  await waitFor('SIGTERM to be pending', () => (sigmask(statusField(blocked, 'SigPnd')) & bit(SIGTERM)) !== 0n || (sigmask(statusField(blocked, 'ShdPnd')) & bit(SIGTERM)) !== 0n);
  t.not(procStat(blocked)?.state, 'Z');
  t.throws(() => native.spawn({ path: '/bin/true', argv: ['true'], blockSignals: [SIGKILL] }), { instanceOf: TypeError });
});

test('spawn detach: a failure before exec is thrown with its step, and leaves no process of ours behind', (t) => {
  const before = new Set(childrenOf(process.pid).map((c) => c.pid));
  const missing = path.join(os.tmpdir(), 'podns-no-such-program');
  const err = t.throws(() => native.spawn({ path: missing, argv: ['x'], detach: true })) as ErrnoError;
  t.is(err.code, 'ENOENT');
  t.is(err.syscall, 'execve');
  const err2 = t.throws(() => native.spawn({ path: '/bin/true', argv: ['true'], detach: true, cwd: missing })) as ErrnoError;
  t.is(err2.syscall, 'chdir');
  t.deepEqual(childrenOf(process.pid).filter((c) => !before.has(c.pid)), []);
});

privileged('spawn detach: cloneFlags apply to the program (CLONE_NEWPID: it is PID 1; CLONE_NEWUTS with a hostname)', (t) => {
  const pid = native.spawn({
    path: '/bin/sleep', argv: ['sleep', '60'], detach: true, setsid: true,
    cloneFlags: native.CLONE_NEWPID | native.CLONE_NEWUTS, hostname: 'detached-one',
  });
  killLater(t, pid);
  t.is(statusField(pid, 'NSpid'), `${pid}\t1`);
  t.notDeepEqual(native.nsId(pid, 'uts'), native.nsId('self', 'uts'));
  t.notDeepEqual(native.nsId(pid, 'pid'), native.nsId('self', 'pid'));
  t.not(procStat(pid)?.ppid, process.pid);
});

privileged('mountId: the id /proc/self/mountinfo gives the mount a path is on', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podns-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sub = path.join(dir, 'm');
  fs.mkdirSync(sub);
  const idOf = (p: string): number | undefined => {
    let found: number | undefined;
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[4] === p) found = Number(f[0]);
    }
    return found;
  };
  const parent = native.mountId(sub);
  t.is(typeof parent, 'number');
  native.mount('tmpfs', sub, 'tmpfs', 0, 'size=64k');
  try {
    const own = native.mountId(sub);
    t.is(own, idOf(fs.realpathSync(sub)));
    t.not(own, parent);
  } finally {
    native.umount(sub);
  }
  t.is(native.mountId(sub), parent, 'unmounted: the parent mount again');
  t.is((t.throws(() => native.mountId(path.join(dir, 'none'))) as ErrnoError).code, 'ENOENT');
});

test('spawnAsync: resolves with the pid once the program runs, rejects with the step that failed', async (t) => {
  const pid = await native.spawnAsync({ path: '/bin/sleep', argv: ['sleep', '60'], detach: true });
  killLater(t, pid);
  t.is(fs.readlinkSync(`/proc/${pid}/exe`), fs.realpathSync('/bin/sleep'));
  const err = await t.throwsAsync(native.spawnAsync({ path: path.join(os.tmpdir(), 'podns-no-such-program'), argv: ['x'], detach: true })) as ErrnoError;
  t.is(err.code, 'ENOENT');
  t.is(err.syscall, 'execve');
  // a bad option is the caller's bug: thrown at once, as by spawn
  t.throws(() => native.spawnAsync({ path: 'relative', argv: ['x'] }), { instanceOf: TypeError });
});

privileged('nsCreate: new net/ipc/uts namespaces as fds, the uts one named, a netlink socket inside the netns; the thread stays home', (t) => {
  const ours = { net: native.nsId('self', 'net'), ipc: native.nsId('self', 'ipc'), uts: native.nsId('self', 'uts') };
  const hostname = os.hostname();
  const made = native.nsCreate(native.CLONE_NEWNET | native.CLONE_NEWIPC | native.CLONE_NEWUTS, 'made-here', native.NETLINK_ROUTE);
  t.teardown(() => {
    for (const fd of Object.values(made)) fs.closeSync(fd!);
  });
  for (const type of ['net', 'ipc', 'uts'] as const) {
    const st = fs.fstatSync(made[type]!);
    t.notDeepEqual({ dev: st.dev, ino: st.ino }, ours[type], `${type}: a new namespace`);
    t.deepEqual(native.nsId('self', type), ours[type], `${type}: this thread is back in its own`);
  }
  t.is(os.hostname(), hostname, 'our hostname is untouched');
  // a program joining the uts namespace sees the name; one joining the netns sees only lo
  const [r, w] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({ path: '/bin/sh', argv: ['sh', '-c', 'hostname; ls /sys/class/net 2>/dev/null | wc -l'],
      setns: [{ fd: made.uts!, nstype: native.CLONE_NEWUTS }], fds: [[1, w]] });
  } finally {
    fs.closeSync(w);
  }
  t.is(native.waitpid(pid).code, 0);
  t.is(fs.readFileSync(r, 'utf8').split('\n')[0], 'made-here');
  fs.closeSync(r);
  // the netlink socket lives in the new netns: a dump there shows just lo
  const req = Buffer.alloc(32);
  req.writeUInt32LE(32, 0); req.writeUInt16LE(18 /* RTM_GETLINK */, 4); req.writeUInt16LE(0x301 /* REQUEST|DUMP */, 6); req.writeUInt32LE(1, 8);
  native.nlSend(made.nl!, req);
  const names: string[] = [];
  const buf = Buffer.alloc(65536);
  for (let done = false; !done;) {
    const n = native.nlRecv(made.nl!, buf, 5000);
    for (let off = 0; off + 16 <= n;) {
      const len = buf.readUInt32LE(off);
      const type = buf.readUInt16LE(off + 4);
      if (type === 3 /* NLMSG_DONE */) { done = true; break; }
      if (type === 16 /* RTM_NEWLINK */) {
        for (let a = off + 32; a + 4 <= off + len;) {
          const alen = buf.readUInt16LE(a);
          if (buf.readUInt16LE(a + 2) === 3 /* IFLA_IFNAME */) names.push(buf.toString('utf8', a + 4, a + alen).replace(/\0+$/, ''));
          a += (alen + 3) & ~3;
        }
      }
      off += (len + 3) & ~3;
    }
  }
  t.deepEqual(names, ['lo']);
  t.throws(() => native.nsCreate(0), { instanceOf: TypeError });
  t.throws(() => native.nsCreate(native.CLONE_NEWIPC, 'x'), { instanceOf: TypeError }, 'a hostname needs a uts namespace');
});
