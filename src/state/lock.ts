// The global lock (flock LOCK_EX on ROOT/lock). It makes "look, then record" steps atomic across podns
// processes: two creates never take the same pod name, gc never judges a resource while a create is
// recording it. It is held only for short critical sections, never while waiting on a process, a grace
// period or the network: everything slow happens outside, and the record written under the lock says
// what is in flight (phase, ownerPid).
//
// One process may do many things at once (the CRI server serves requests concurrently), so the lock is
// taken in two steps: first an in-process mutex per root (a promise queue: tasks of this process take
// turns, also across the awaits of an async section), then the flock, which excludes other processes.
// Neither blocks the event loop: the flock is tried with LOCK_NB first (the usual case, and the CLI's:
// no thread hop), and only when another process holds it does a libuv pool thread wait in flock(2)
// (native.flockAsync). flock belongs to the open file description and the mutex already serializes this
// process, so one fd per root serves every section. Not re-entrant: a section must not take the lock
// again (a sync section that tries is an error at once; an async one would wait for itself).
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
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';
import { ensureDir, FILE_MODE } from './files.js';
import { paths } from './paths.js';

interface LockFile { fd: number; dev: number; ino: number; idle?: NodeJS.Timeout }
const lockFiles = new Map<string, LockFile>();

/** roots whose lock this process holds or is taking (the mutex is theirs): their lock file stays open */
const busy = new Set<string>();
/** the in-process mutex: per root, the promise the next section waits for */
const tails = new Map<string, Promise<void>>();
/** a synchronous section running now (a nested withLock from it could never get the lock) */
let inSyncSection: string | undefined;

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
    if (!busy.has(key) && lockFiles.get(key) === f) dropLockFile(key, f);
  }, IDLE_CLOSE_MS);
  f.idle.unref();
}

/** The open lock file that is ROOT/lock now, locked with `take` (which may wait). */
function lockedFile(key: string, take: (fd: number) => void): number {
  for (;;) {
    const f = lockFiles.get(key) ?? openLockFile(key);
    try {
      take(f.fd);
    } catch (err) {
      dropLockFile(key, f);
      throw err;
    }
    const now = statSync(paths.lock(key), { throwIfNoEntry: false });
    if (now !== undefined && now.ino === f.ino && now.dev === f.dev) return f.fd;
    native.flock(f.fd, 'un');
    dropLockFile(key, f);
  }
}

/**
 * The synchronous variant, for a lock only synchronous sections take (the image store's name index): JS
 * runs one of them at a time, so within the process they exclude each other by construction; against
 * other processes flock waits on this thread, which blocks the event loop only while another process
 * holds the lock (a short section). Refused while an async section of this process holds or awaits the
 * same lock: it could neither wait for it nor share it.
 */
export function withLockSync<T>(root: string, fn: () => T): T {
  const key = resolve(root);
  if (busy.has(key) || tails.has(key) || inSyncSection === key) {
    throw new Error(`withLockSync(${key}): this process holds or awaits that lock already (use withLock)`);
  }
  busy.add(key);
  try {
    const fd = lockedFile(key, (lfd) => native.flock(lfd, 'ex'));
    try {
      inSyncSection = key;
      return fn();
    } finally {
      inSyncSection = undefined;
      native.flock(fd, 'un');
    }
  } finally {
    busy.delete(key);
    const f = lockFiles.get(key);
    if (f !== undefined) closeWhenIdle(key, f);
  }
}

/** flock ROOT/lock; the caller holds the in-process mutex (so no other task of ours is in here). */
async function flockRoot(key: string): Promise<number> {
  for (;;) {
    const f = lockFiles.get(key) ?? openLockFile(key);
    try {
      try {
        native.flock(f.fd, 'ex', true);
      } catch (err) {
        if (!isErrno(err, 'EAGAIN')) throw err;
        // another process holds it: wait on a pool thread, not on the event loop
        await native.flockAsync(f.fd, 'ex');
      }
    } catch (err) {
      dropLockFile(key, f);
      throw err;
    }
    const now = statSync(paths.lock(key), { throwIfNoEntry: false });
    if (now !== undefined && now.ino === f.ino && now.dev === f.dev) return f.fd;
    // locked a file that is no longer ROOT/lock: start over with the one that is
    native.flock(f.fd, 'un');
    dropLockFile(key, f);
  }
}

/**
 * Run fn holding the root's lock: no other task of this process and no other podns process holds it
 * meanwhile, also across fn's awaits. Keep fn short (no grace periods, no waiting on processes).
 */
export function withLock<T>(root: string, fn: () => T | Promise<T>): Promise<T> {
  const key = resolve(root);
  // thrown, not a rejection: the caller is a synchronous section, which cannot await anyway
  if (inSyncSection === key) throw new Error(`withLock(${key}) called inside a section that holds it (not re-entrant)`);
  return locked(key, fn);
}

async function locked<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
  const prev = tails.get(key);
  let done!: () => void;
  const mine = new Promise<void>((r) => { done = r; });
  tails.set(key, mine);
  try {
    if (prev !== undefined) await prev;
    busy.add(key);
    const fd = await flockRoot(key);
    try {
      inSyncSection = key;
      let out: T | Promise<T>;
      try {
        out = fn();
      } finally {
        inSyncSection = undefined;
      }
      return await out;
    } finally {
      native.flock(fd, 'un');
    }
  } finally {
    busy.delete(key);
    const f = lockFiles.get(key);
    if (f !== undefined) closeWhenIdle(key, f);
    if (tails.get(key) === mine) tails.delete(key);
    done();
  }
}
