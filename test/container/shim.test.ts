// podns-helper shim started directly, both ways the contract allows (docs/DESIGN.md): detaching itself
// (the process spawned forks the watcher and exits; the caller reaps it), and --detached (the caller
// detached it: native.spawn detach + setsid + CLONE_NEWPID; it is the watcher). Checked against /proc:
// who the watcher's parent is, its pid namespace, the workload's environment, and status.json.
import test, { type ExecutionContext } from 'ava';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELPER_ARGV0, parseHelperError, parseShimReady, shimArgv } from '../../src/native/helper.js';
import { helperPath, native } from '../../src/native/index.js';
import { privileged } from '../helpers/root.js';

function readLine(fd: number): string {
  const buf = Buffer.alloc(256);
  let text = '';
  for (;;) {
    const n = readSync(fd, buf);
    if (n === 0) return text;
    text += buf.toString('utf8', 0, n);
  }
}


interface Started { watcher: number; workload: number; dir: string }

function containerDir(t: ExecutionContext): string {
  const base = mkdtempSync(join(tmpdir(), 'podns-test-shim-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'c');
  mkdirSync(dir);
  // the second K wins in place (what putenv did); PATH comes from the file too
  writeFileSync(join(dir, 'env'), 'A=1\0PATH=/usr/bin:/bin\0A=2\0', { mode: 0o600 });
  return dir;
}

function start(t: ExecutionContext, dir: string, detached: boolean): Started {
  const [r, w] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({
      path: helperPath,
      argv: [HELPER_ARGV0, ...shimArgv({ dir, readyFd: 3, detached, pidNs: 'new', envFile: join(dir, 'env'), argv: ['sh', '-c', 'echo "$A $PATH"; sleep 60'] })],
      env: ['PODNS_TEST=1'],
      fds: [[3, w]],
      ...(detached ? { detach: true, setsid: true, cloneFlags: native.CLONE_NEWPID } : {}),
    });
  } finally {
    closeSync(w);
  }
  const line = readLine(r);
  closeSync(r);
  if (!detached) t.deepEqual(native.waitpid(pid), { exited: true, code: 0, signal: null }, 'the spawned process exits at once');
  t.regex(line, /^\d+ \d+ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/, 'ready line');
  const ready = parseShimReady(line);
  t.truthy(ready, `ready line: ${JSON.stringify(line)}`);
  const s = { watcher: ready!.watcherPid, workload: ready!.workloadPid, dir };
  t.teardown(() => {
    try {
      process.kill(s.watcher, 'SIGKILL');
    } catch {
      // gone
    }
  });
  return s;
}

function nspid(pid: number): string {
  return /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim();
}

function ppid(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
}

async function check(t: ExecutionContext, s: Started): Promise<void> {
  t.is(nspid(s.watcher), `${s.watcher}\t1`, 'the watcher is PID 1 of the container pid namespace');
  t.is(nspid(s.workload), `${s.workload}\t2`);
  t.is(ppid(s.workload), s.watcher);
  t.not(ppid(s.watcher), process.pid, 'the watcher is not our child');
  t.deepEqual(readFileSync(`/proc/${s.workload}/cmdline`, 'utf8').split('\0').slice(0, 2), ['sh', '-c']);
  t.is(readFileSync(`/proc/${s.workload}/environ`, 'utf8'), 'A=2\0PATH=/usr/bin:/bin\0');
  const st = JSON.parse(readFileSync(join(s.dir, 'status.json'), 'utf8')) as { state: string; pid: number; watcherPid: number; startedAt: string };
  t.is(st.state, 'running');
  t.is(st.pid, s.workload);
  t.is(st.watcherPid, s.watcher);
  t.true(Math.abs(Date.parse(st.startedAt) - Date.now()) < 60_000, st.startedAt);
  for (let i = 0; i < 500 && !readFileSync(join(s.dir, 'current.log'), 'utf8').includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
  t.regex(readFileSync(join(s.dir, 'current.log'), 'utf8'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F 2 \/usr\/bin:\/bin\n$/);
}

privileged('shim, detaching itself: the spawned process exits, its child is the watcher', async (t) => {
  await check(t, start(t, containerDir(t), false));
});

privileged('shim --detached: the process spawned (detached, CLONE_NEWPID) is the watcher', async (t) => {
  await check(t, start(t, containerDir(t), true));
});

test('shim --detached --new-pid-ns refuses to run when it is not PID 1', (t) => {
  const dir = containerDir(t);
  const [r, w] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({ path: helperPath, argv: [HELPER_ARGV0, ...shimArgv({ dir, readyFd: 3, detached: true, pidNs: 'new', argv: ['true'] })], fds: [[3, w]] });
  } finally {
    closeSync(w);
  }
  const line = readLine(r);
  closeSync(r);
  t.is(native.waitpid(pid).code, 1);
  t.regex(line, /^error EINVAL args: --detached --new-pid-ns: not PID 1/);
  t.like(parseHelperError(line), { code: 'EINVAL', step: 'args', message: '--detached --new-pid-ns: not PID 1 of a new pid namespace (spawn with CLONE_NEWPID)' });
});

// --start-fd: podns spawns the shim before the container's files exist and lets it go once they do
// (src/container/run.ts launchShim). Until the byte comes it touches nothing; EOF instead (podns gave up
// or died) ends it with nothing made.
function gated(t: ExecutionContext, dir: string): { pid: number; ready: number; gate: number } {
  const [r, w] = native.pipe();
  const [gr, gw] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({
      path: helperPath,
      argv: [HELPER_ARGV0, ...shimArgv({ dir, readyFd: 3, startFd: 4, pidNs: 'new', envFile: join(dir, 'env'), argv: ['sh', '-c', 'echo "$A"; sleep 60'] })],
      env: ['PODNS_TEST=1'],
      fds: [[3, w], [4, gr]],
    });
  } finally {
    closeSync(w);
    closeSync(gr);
  }
  t.teardown(() => {
    for (const fd of [r, gw]) {
      try {
        closeSync(fd);
      } catch {
        // closed by the test
      }
    }
  });
  return { pid, ready: r, gate: gw };
}

privileged('shim --start-fd: nothing happens before the byte; with it, the container runs', async (t) => {
  const dir = containerDir(t);
  const g = gated(t, dir);
  await new Promise((r) => setTimeout(r, 200));
  t.false(native.pollIn(g.ready, 0), 'no answer yet');
  t.deepEqual(readdirSync(dir), ['env'], 'nothing written in the container directory');
  writeSync(g.gate, 'g');
  closeSync(g.gate);
  const line = readLine(g.ready);
  closeSync(g.ready);
  t.deepEqual(native.waitpid(g.pid), { exited: true, code: 0, signal: null });
  const ready = parseShimReady(line);
  t.truthy(ready, `ready line: ${JSON.stringify(line)}`);
  t.teardown(() => {
    try {
      process.kill(ready!.watcherPid, 'SIGKILL');
    } catch {
      // gone
    }
  });
  t.true(existsSync(join(dir, 'status.json')));
});

test('shim --start-fd: EOF instead of the byte ends it, nothing made', (t) => {
  const dir = containerDir(t);
  const g = gated(t, dir);
  closeSync(g.gate);
  t.deepEqual(native.waitpid(g.pid), { exited: true, code: 0, signal: null });
  t.is(readLine(g.ready), '', 'no answer on the ready pipe');
  closeSync(g.ready);
  t.deepEqual(readdirSync(dir), ['env'], 'nothing written in the container directory');
});
