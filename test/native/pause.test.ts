// The pause program (build/Release/pause) against the kernel's view of it: exit status, /proc/PID/{status,fd},
// who its children are. The orphan tests build real process trees whose middle dies, so that the
// grandchildren must be reparented onto pause, and then check that pause collects every one of them.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn as spawnChild, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, packageRoot, pausePath } from '../../src/native/index.js';
import { privileged } from '../helpers/root.js';
import { childrenOf, procStat, readAll, statusField, waitFor } from './proc.js';

const version = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
const SIGTERM = os.constants.signals.SIGTERM;

function describe(pid: number): string {
  return JSON.stringify(childrenOf(pid).map((c) => `${c.pid} ${c.comm} ${c.state}`));
}

/**
 * Builds, inside the pid namespace of `pidnsOwner`, a shell C whose children (a `cat` that lives until
 * `release` is closed, and a `true` that ends at once) outlive it. C's parent, the outer sh, stays outside:
 * setns(CLONE_NEWPID) only places the children of the joining process into the namespace. When C exits,
 * its children are orphans of that namespace and go to its PID 1.
 */
function orphansInto(pidnsOwner: number, catStdin: number): void {
  const pidns = fs.openSync(`/proc/${pidnsOwner}/ns/pid`, 'r');
  let outer: number;
  try {
    outer = native.spawn({
      path: '/bin/sh',
      // `; exit $?` keeps dash from exec'ing the inner sh in place of forking it (the fork is what enters).
      argv: ['sh', '-c', 'sh -c "cat <&3 >/dev/null & true & exit 0"; exit $?'],
      setns: [{ fd: pidns, nstype: native.CLONE_NEWPID }],
      fds: [[3, catStdin]],
    });
  } finally {
    fs.closeSync(pidns);
  }
  const st = native.waitpid(outer);
  if (st.code !== 0) throw new Error(`orphan maker failed: ${JSON.stringify(st)}`);
}

/** Orphans come to `pause`, it collects them all, and it stays up. */
async function checkReaping(t: ExecutionContext, pause: number, makeOrphans: (catStdin: number) => void): Promise<void> {
  const [r, w] = native.pipe();
  try {
    makeOrphans(r);
  } finally {
    fs.closeSync(r);
  }
  try {
    await waitFor(`an orphaned cat under pause ${pause}`, () => childrenOf(pause).some((c) => c.comm === 'cat'));
    t.log(`children of pause while the orphan lives: ${describe(pause)}`);
  } finally {
    fs.closeSync(w); // EOF: the cat ends and is a zombie until pause collects it
  }
  await waitFor(`pause ${pause} to collect its orphans (left: ${describe(pause)})`, () => childrenOf(pause).length === 0);
  t.deepEqual(childrenOf(pause), []);
  t.is(procStat(pause)?.state, 'S', 'pause is still there, asleep');
}

function logFootprint(t: ExecutionContext, pid: number): number {
  const rssKiB = parseInt(statusField(pid, 'VmRSS'), 10);
  const oom = fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim();
  t.log(`pause ${pid}: VmRSS ${rssKiB} kB, oom_score_adj ${oom}`);
  return rssKiB;
}

test('pause -v prints its version', (t) => {
  t.is(execFileSync(pausePath, ['-v'], { encoding: 'utf8' }), `pause (podns) ${version}\n`);
});

test('pause refuses unknown arguments with exit 2 and a usage line', (t) => {
  for (const args of [['-x'], ['-p'], ['-d'], ['-d', 'x'], ['extra']]) {
    const r = spawnSync(pausePath, args, { encoding: 'utf8' });
    t.is(r.status, 2, args.join(' '));
    t.regex(r.stderr, /^usage: pause/);
  }
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} ends pause with exit 0; it holds nothing open and stays small`, async (t) => {
    const child = spawnChild(pausePath, [], { stdio: ['ignore', 'pipe', 'ignore'], cwd: os.tmpdir() });
    const exited = once(child, 'exit');
    // Ready: it has pointed its stdout at /dev/null, so our pipe sees EOF (signals are blocked before that).
    child.stdout.resume();
    await once(child.stdout, 'end');
    const pid = child.pid!;
    t.deepEqual(fs.readdirSync(`/proc/${pid}/fd`).sort(), ['0', '1', '2']);
    for (const fd of [0, 1, 2]) t.is(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), '/dev/null');
    t.is(fs.readlinkSync(`/proc/${pid}/cwd`), '/');
    const rss = logFootprint(t, pid);
    t.true(rss < 1024, `VmRSS ${rss} kB`);
    child.kill(signal);
    const [code, sig] = await exited;
    t.is(code, 0);
    t.is(sig, null);
  });
}

test('outside a pid namespace pause is a subreaper: orphaned grandchildren come to it and are collected', async (t) => {
  // The tree: sh forks B, then execs pause (children survive exec, so B is pause's child). B waits until
  // pause is set up (it sees EOF on the gate once pause has closed its inherited fds, which it does after
  // becoming subreaper), then forks C, whose children outlive it. They are pause's grandchildren: only a
  // subreaper gets them; otherwise they would go to the host's init.
  const [gateR, gateW] = native.pipe();
  const [catR, catW] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({
      path: '/bin/sh',
      argv: [
        'sh',
        '-c',
        '(exec 4>&-; read x <&3; sh -c "cat <&5 >/dev/null & true & exit 0"; exit 0) & exec "$1"',
        'sh',
        pausePath,
      ],
      fds: [[3, gateR], [4, gateW], [5, catR]],
    });
  } finally {
    fs.closeSync(gateR);
    fs.closeSync(gateW);
    fs.closeSync(catR);
  }
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
      native.waitpid(pid);
    } catch {
      // already gone
    }
  });
  try {
    await waitFor('an orphaned cat under pause', () => childrenOf(pid).some((c) => c.comm === 'cat'));
    t.is(fs.readlinkSync(`/proc/${pid}/exe`), fs.realpathSync(pausePath));
    t.is(statusField(pid, 'NSpid'), String(pid), 'not PID 1 of a namespace');
    t.log(`children of pause while the orphan lives: ${describe(pid)}`);
  } finally {
    fs.closeSync(catW);
  }
  await waitFor(`pause ${pid} to collect its orphans (left: ${describe(pid)})`, () => childrenOf(pid).length === 0);
  t.deepEqual(childrenOf(pid), []);
  logFootprint(t, pid);
  process.kill(pid, 'SIGTERM');
  t.deepEqual(native.waitpid(pid), { exited: true, code: 0, signal: null });
});

privileged('as PID 1 of its own pid namespace, pause collects the orphans of that namespace', async (t) => {
  const pid = native.spawn({ path: pausePath, argv: ['pause'], cloneFlags: native.CLONE_NEWPID });
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
      native.waitpid(pid);
    } catch {
      // already gone
    }
  });
  t.is(statusField(pid, 'NSpid'), `${pid}\t1`);
  await checkReaping(t, pid, (catStdin) => orphansInto(pid, catStdin));
  logFootprint(t, pid);
  const pidfd = native.pidfdOpen(pid);
  try {
    native.pidfdSendSignal(pidfd, SIGTERM);
  } finally {
    fs.closeSync(pidfd);
  }
  t.deepEqual(native.waitpid(pid), { exited: true, code: 0, signal: null });
});

privileged('pause -d FD -p detaches as PID 1 of a new pid namespace and collects orphans there', async (t) => {
  const [r, w] = native.pipe();
  let starter: number;
  try {
    starter = native.spawn({ path: pausePath, argv: ['pause', '-d', '3', '-p'], fds: [[3, w]] });
  } finally {
    fs.closeSync(w);
  }
  // EOF comes once the detached pause has closed its copy of FD: it is set up by then.
  const line = readAll(r);
  fs.closeSync(r);
  t.deepEqual(native.waitpid(starter), { exited: true, code: 0, signal: null });
  t.regex(line, /^\d+\n$/);
  const pid = Number(line.trim());
  const pidfd = native.pidfdOpen(pid);
  t.teardown(() => {
    try {
      native.pidfdSendSignal(pidfd, os.constants.signals.SIGKILL);
    } catch {
      // already gone
    }
    fs.closeSync(pidfd);
  });
  t.is(fs.readlinkSync(`/proc/${pid}/exe`), fs.realpathSync(pausePath));
  t.is(statusField(pid, 'NSpid'), `${pid}\t1`);
  t.notDeepEqual(native.nsId(pid, 'pid'), native.nsId('self', 'pid'));
  t.is(procStat(pid)?.session, pid, 'own session: no terminal signals from the caller');
  t.not(procStat(pid)?.ppid, starter);
  await checkReaping(t, pid, (catStdin) => orphansInto(pid, catStdin));
  logFootprint(t, pid);
  native.pidfdSendSignal(pidfd, SIGTERM);
  // Not our child any more (its parent exited): whoever adopted it collects it; we see it end.
  await waitFor(`detached pause ${pid} to end`, () => {
    const st = procStat(pid);
    return st === undefined || st.state === 'Z';
  });
  t.pass();
});
