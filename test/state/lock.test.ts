// The global lock (src/state/lock.ts) as another process sees it: flock(1) -n on ROOT/lock fails while we
// hold it and succeeds once we released it, also after the root was removed and made again while this
// process kept its lock file open between critical sections.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLock, withLockAsync } from '../../src/state/lock.js';

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

test('withLock holds ROOT/lock against other processes, nested calls share it, release frees it', (t) => {
  const root = tmpRoot(t);
  t.true(withLock(root, () => {
    t.false(freeForOthers(root));
    withLock(root, () => t.false(freeForOthers(root)));
    t.false(freeForOthers(root), 'still held after the nested call');
    return true;
  }));
  t.true(freeForOthers(root));
  // again, with the lock file kept open from the first time
  withLock(root, () => t.false(freeForOthers(root)));
  t.true(freeForOthers(root));
});

test('a root removed and made again: the lock taken is the new ROOT/lock, not the old open file', (t) => {
  const root = tmpRoot(t);
  withLock(root, () => undefined);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  withLock(root, () => {
    t.true(fs.existsSync(path.join(root, 'lock')));
    t.false(freeForOthers(root), 'the new lock file is the one held');
  });
  t.true(freeForOthers(root));
});

test('withLockAsync holds the lock across awaits and frees it after', async (t) => {
  const root = tmpRoot(t);
  await withLockAsync(root, async () => {
    await new Promise((r) => setTimeout(r, 5));
    t.false(freeForOthers(root));
  });
  t.true(freeForOthers(root));
});
