// The global lock (src/state/lock.ts) as another process sees it: flock(1) -n on ROOT/lock fails while we
// hold it and succeeds once we released it, also after the root was removed and made again while this
// process kept its lock file open between critical sections. Within one process it excludes the other
// tasks (also across awaits), and waiting for it never blocks the event loop.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withLock, withLockSync } from '../../src/state/lock.js';

/** Can another process take ROOT/lock right now? */
function freeForOthers(root: string): boolean {
  const r = spawnSync('flock', ['-n', path.join(root, 'lock'), 'true']);
  if (r.error) throw r.error;
  return r.status === 0;
}

function tmpRoot(t: import('ava').ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podns-test-lock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'root');
}

test('withLock holds ROOT/lock against other processes; release frees it', async (t) => {
  const root = tmpRoot(t);
  t.true(await withLock(root, () => {
    t.false(freeForOthers(root));
    return true;
  }));
  t.true(freeForOthers(root));
  // again, with the lock file kept open from the first time
  await withLock(root, () => t.false(freeForOthers(root)));
  t.true(freeForOthers(root));
});

test('a root removed and made again: the lock taken is the new ROOT/lock, not the old open file', async (t) => {
  const root = tmpRoot(t);
  await withLock(root, () => undefined);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  await withLock(root, () => {
    t.true(fs.existsSync(path.join(root, 'lock')));
    t.false(freeForOthers(root), 'the new lock file is the one held');
  });
  t.true(freeForOthers(root));
});

test('an async section holds the lock across awaits and frees it after', async (t) => {
  const root = tmpRoot(t);
  await withLock(root, async () => {
    await sleep(5);
    t.false(freeForOthers(root));
  });
  t.true(freeForOthers(root));
});

test('tasks of one process take turns: sections never overlap, also across awaits', async (t) => {
  const root = tmpRoot(t);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: 8 }, (_, i) => withLock(root, async () => {
    inside++;
    most = Math.max(most, inside);
    await sleep(2);
    // a synchronous section queued meanwhile must not run in here
    order.push(i);
    inside--;
  })));
  // and a synchronous section started while an async one awaits waits for it
  let syncRan = false;
  const slow = withLock(root, async () => {
    await sleep(20);
    t.false(syncRan, 'the sync section ran inside the async one');
  });
  const quick = withLock(root, () => { syncRan = true; });
  await Promise.all([slow, quick]);
  t.true(syncRan);
  t.is(most, 1);
  t.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7], 'in the order asked');
});

test('a section that throws releases the lock for the next one and for other processes', async (t) => {
  const root = tmpRoot(t);
  await t.throwsAsync(withLock(root, async () => {
    await sleep(1);
    throw new Error('boom');
  }), { message: 'boom' });
  t.true(freeForOthers(root));
  t.is(await withLock(root, () => 42), 42);
});

test('taking the lock again inside a synchronous section is refused at once (it could never be had)', async (t) => {
  const root = tmpRoot(t);
  await withLock(root, () => {
    t.throws(() => void withLock(root, () => undefined), { message: /not re-entrant/ });
  });
  t.true(freeForOthers(root));
});

test('waiting for a lock another process holds does not block the event loop', async (t) => {
  const root = tmpRoot(t);
  await withLock(root, () => undefined); // makes ROOT and ROOT/lock
  // flock(1) holds ROOT/lock for 400 ms
  const holder = spawn('flock', [path.join(root, 'lock'), 'sleep', '0.4'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  for (let i = 0; i < 200 && freeForOthers(root); i++) await sleep(5);
  t.false(freeForOthers(root), 'flock(1) holds the lock');
  // a timer set now fires while we wait only if the wait does not block the event loop
  let ticks = 0;
  const timer = setTimeout(() => ticks++, 10);
  const start = Date.now();
  await withLock(root, () => t.false(freeForOthers(root)));
  clearTimeout(timer);
  const waited = Date.now() - start;
  t.true(waited >= 200, `waited ${waited} ms for the other process`);
  t.is(ticks, 1, 'a timer fired while it waited');
});

test('withLockSync: holds ROOT/lock against other processes; refused while an async section of ours holds it', async (t) => {
  const root = tmpRoot(t);
  t.is(withLockSync(root, () => {
    t.false(freeForOthers(root));
    return 7;
  }), 7);
  t.true(freeForOthers(root));
  await withLock(root, async () => {
    await sleep(1);
    t.throws(() => withLockSync(root, () => undefined), { message: /holds or awaits/ });
  });
  t.true(freeForOthers(root));
});
