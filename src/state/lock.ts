// The global lock (flock LOCK_EX on ROOT/lock). It makes "look, then record" steps atomic across podns
// processes: two creates never take the same pod name, gc never judges a resource while a create is
// recording it. It is held only for short critical sections, never while waiting on a process, a grace
// period or the network: everything slow happens outside, and the record written under the lock says
// what is in flight (phase, ownerPid).
//
// flock belongs to the open file description, so a second open of ROOT/lock in the same process would
// deadlock against the first. The lock is therefore counted per process: nested withLock calls share it.
//
// The lock file stays open between critical sections (a pod create takes the lock several times): each
// acquisition is flock + one stat instead of mkdir + open + flock + close. The stat makes sure the file
// we lock is still ROOT/lock: a root removed and made again has a new lock file, which other processes
// lock; then ours is closed and the new one opened. Release is LOCK_UN, not close: it drops the lock even
// while a child forked by libuv (between its fork and exec) still holds a copy of the fd. A lock file left
// unused for a moment is closed (an unref'd timer), so an idle library process keeps nothing open on the
// state root (a root on its own mount can be unmounted).
import { closeSync, fstatSync, openSync, statSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { native } from '../native/index.js';
import { ensureDir, FILE_MODE } from './files.js';
import { paths } from './paths.js';

interface LockFile { fd: number; dev: number; ino: number; idle?: NodeJS.Timeout }
const lockFiles = new Map<string, LockFile>();

interface Held { fd: number; depth: number }
const held = new Map<string, Held>();

function openLockFile(key: string): LockFile {
  ensureDir(key);
  // Node opens with O_CLOEXEC: a program spawned while we hold the lock does not inherit (and keep) it.
  const fd = openSync(paths.lock(key), constants.O_RDWR | constants.O_CREAT, FILE_MODE);
  const st = fstatSync(fd);
  const f = { fd, dev: st.dev, ino: st.ino };
  lockFiles.set(key, f);
  return f;
}

function dropLockFile(key: string, f: LockFile): void {
  lockFiles.delete(key);
  if (f.idle !== undefined) clearTimeout(f.idle);
  closeSync(f.fd);
}

const IDLE_CLOSE_MS = 200;

function closeWhenIdle(key: string, f: LockFile): void {
  if (f.idle !== undefined) {
    f.idle.refresh();
    return;
  }
  f.idle = setTimeout(() => {
    if (!held.has(key) && lockFiles.get(key) === f) dropLockFile(key, f);
  }, IDLE_CLOSE_MS);
  f.idle.unref();
}

function acquire(root: string): string {
  const key = resolve(root);
  const h = held.get(key);
  if (h !== undefined) {
    h.depth++;
    return key;
  }
  for (;;) {
    const f = lockFiles.get(key) ?? openLockFile(key);
    try {
      native.flock(f.fd, 'ex');
    } catch (err) {
      dropLockFile(key, f);
      throw err;
    }
    const now = statSync(paths.lock(key), { throwIfNoEntry: false });
    if (now !== undefined && now.ino === f.ino && now.dev === f.dev) {
      held.set(key, { fd: f.fd, depth: 1 });
      return key;
    }
    // locked a file that is no longer ROOT/lock: start over with the one that is
    dropLockFile(key, f);
  }
}

function release(key: string): void {
  const h = held.get(key)!;
  if (--h.depth > 0) return;
  held.delete(key);
  native.flock(h.fd, 'un');
  const f = lockFiles.get(key);
  if (f !== undefined) closeWhenIdle(key, f);
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
