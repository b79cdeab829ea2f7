// The global lock (flock LOCK_EX on ROOT/lock). It makes "look, then record" steps atomic across podns
// processes: two creates never take the same pod name, gc never judges a resource while a create is
// recording it. It is held only for short critical sections, never while waiting on a process, a grace
// period or the network: everything slow happens outside, and the record written under the lock says
// what is in flight (phase, ownerPid).
//
// flock belongs to the open file description, so a second open of ROOT/lock in the same process would
// deadlock against the first. The lock is therefore counted per process: nested withLock calls share it.
import { closeSync, openSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { native } from '../native/index.js';
import { ensureDir, FILE_MODE } from './files.js';
import { paths } from './paths.js';

interface Held { fd: number; depth: number }
const held = new Map<string, Held>();

function acquire(root: string): string {
  const key = resolve(root);
  const h = held.get(key);
  if (h !== undefined) {
    h.depth++;
    return key;
  }
  ensureDir(key);
  // Node opens with O_CLOEXEC: a child spawned while we hold the lock does not inherit (and keep) it.
  const fd = openSync(paths.lock(key), constants.O_RDWR | constants.O_CREAT, FILE_MODE);
  try {
    native.flock(fd, 'ex');
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  held.set(key, { fd, depth: 1 });
  return key;
}

function release(key: string): void {
  const h = held.get(key)!;
  if (--h.depth > 0) return;
  held.delete(key);
  // close drops the flock; no separate LOCK_UN needed.
  closeSync(h.fd);
}

/** Run fn holding the root's lock. fn must be synchronous and short. */
export function withLock<T>(root: string, fn: () => T): T {
  const key = acquire(root);
  try {
    return fn();
  } finally {
    release(key);
  }
}

// In-process queue for the async variant: JS tasks of one process share the flock (it is per process),
// so they are serialized here first.
const queues = new Map<string, Promise<unknown>>();

/**
 * Run an async fn holding the lock across its awaits. Within one process this excludes other
 * withLockAsync callers only: a synchronous withLock that runs meanwhile in the same process shares the
 * flock (it cannot wait: JS has one thread). The CLI does one operation per process, so between podns
 * processes the exclusion is complete; library users who run gc concurrently with creates in one
 * process get the in-process ordering of the event loop. Only for short steps that must not interleave
 * with another podns process (e.g. making a bridge that two creates would otherwise both try to make).
 */
export async function withLockAsync<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const key = resolve(root);
  const prev = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => { done = r; });
  const tail = prev.then(() => mine);
  queues.set(key, tail);
  await prev;
  const k = acquire(key);
  try {
    return await fn();
  } finally {
    release(k);
    done();
    if (queues.get(key) === tail) queues.delete(key);
  }
}
