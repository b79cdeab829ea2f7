// The addon's waits that a long-running podns relies on, against the kernel: native.pidfdWait (exit of a
// process that is not our child, seen on its pidfd by the event loop), native.flockAsync, and nlRecv's
// timeout. Each also checks that the event loop keeps running while it waits.
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrnoError } from '../../src/errors.js';
import { native } from '../../src/native/index.js';
import { terminate, waitExit, type ProcRef } from '../../src/pod/proc.js';
import { startTimeOf } from '../../src/pod/proc.js';

const { SIGKILL } = os.constants.signals;

function detached(t: import('ava').ExecutionContext, argv: string[], blockSignals?: number[]): { pid: number; fd: number } {
  const pid = native.spawn({ path: argv[0]!, argv, detach: true, setsid: true, ...(blockSignals ? { blockSignals } : {}) });
  const fd = native.pidfdOpen(pid);
  t.teardown(() => {
    try {
      native.pidfdSendSignal(fd, SIGKILL);
    } catch {
      // gone
    }
    fs.closeSync(fd);
  });
  return { pid, fd };
}

/**
 * Whether a 10 ms timer started with the wait fired before the wait ended: a wait that blocked the event
 * loop for its whole length could not let it (whatever the machine's load, unlike counting ticks).
 */
async function ticking<T>(p: Promise<T>): Promise<{ value: T; ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setTimeout(() => ticks++, 10);
  const start = Date.now();
  try {
    return { value: await p, ticks, ms: Date.now() - start };
  } finally {
    clearTimeout(timer);
  }
}

test('pidfdWait: false after the timeout while the process lives, true the moment it exits; the loop runs meanwhile', async (t) => {
  const p = detached(t, ['/bin/sleep', '60']);
  const first = await ticking(native.pidfdWait(p.fd, 150));
  t.false(first.value);
  t.true(first.ms >= 100, `returned after ${first.ms} ms`);
  t.is(first.ticks, 1, 'a timer fired while it waited');
  const waiting = native.pidfdWait(p.fd, 10_000);
  setTimeout(() => native.pidfdSendSignal(p.fd, SIGKILL), 50);
  const second = await ticking(waiting);
  t.true(second.value);
  t.true(second.ms < 2000, `woke ${second.ms} ms after the wait began`);
  t.true(await native.pidfdWait(p.fd, 0), 'already exited: answered at once');
  t.true(await native.pidfdWait(p.fd, -1));
});

test('pidfdWait: the caller may close its pidfd while the wait goes on (the wait holds its own)', async (t) => {
  const p = detached(t, ['/bin/sleep', '60']);
  const fd = native.pidfdOpen(p.pid);
  const waiting = native.pidfdWait(fd, 10_000);
  fs.closeSync(fd);
  await sleep(20);
  native.pidfdSendSignal(p.fd, SIGKILL);
  t.true(await waiting);
  t.throws(() => native.pidfdWait(-1, 1), { instanceOf: TypeError });
});

test('terminate: a process that ignores SIGTERM gets SIGKILL after the grace period; one that obeys is waited for on its pidfd', async (t) => {
  // SIGTERM blocked: it stays pending, the process goes on
  const stubborn = detached(t, ['/bin/sleep', '60'], [os.constants.signals.SIGTERM]);
  const ref: ProcRef = { pid: stubborn.pid, startTime: startTimeOf(stubborn.pid)! };
  const r = await ticking(terminate(ref, 0.3));
  t.true(r.value);
  t.true(r.ms >= 250 && r.ms < 3000, `took ${r.ms} ms with a 0.3 s grace`);
  t.is(r.ticks, 1, 'a timer fired while it waited');
  t.true(await waitExit(stubborn.fd, 0));
  const obedient = detached(t, ['/bin/sleep', '60']);
  const r2 = await ticking(terminate({ pid: obedient.pid, startTime: startTimeOf(obedient.pid)! }, 10));
  t.true(r2.value);
  t.true(r2.ms < 1000, `sleep ended on SIGTERM, seen after ${r2.ms} ms`);
  t.false(await terminate({ pid: obedient.pid, startTime: 1 }, 1), 'gone (or another process): nothing to do');
});

test('flockAsync: waits on a pool thread for a lock another process holds', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podns-test-flock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lock');
  fs.writeFileSync(file, '');
  const holder = spawn('flock', [file, 'sleep', '0.3'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  const fd = fs.openSync(file, 'r+');
  t.teardown(() => fs.closeSync(fd));
  for (let i = 0; i < 200; i++) {
    try {
      native.flock(fd, 'ex', true);
      native.flock(fd, 'un');
      await sleep(5);
    } catch (err) {
      if ((err as ErrnoError).code === 'EAGAIN') break;
      throw err;
    }
  }
  const r = await ticking(native.flockAsync(fd, 'ex'));
  t.true(r.ms >= 50, `waited ${r.ms} ms`);
  t.is(r.ticks, 1, 'a timer fired while it waited');
  native.flock(fd, 'un');
});

test('nlRecv: a socket the kernel never answers times out (ETIMEDOUT) instead of hanging', (t) => {
  const sock = native.nlOpen(native.NETLINK_ROUTE);
  t.teardown(() => fs.closeSync(sock));
  const start = Date.now();
  const err = t.throws(() => native.nlRecv(sock, Buffer.alloc(4096), 100)) as ErrnoError;
  t.is(err.code, 'ETIMEDOUT');
  t.is(err.syscall, 'recv');
  const ms = Date.now() - start;
  t.true(ms >= 90 && ms < 2000, `gave up after ${ms} ms`);
});
