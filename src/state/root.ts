// Making the state root, and the two shared mount points inside it.
//
// Why shared mounts: a namespace pin is a bind mount, and a bind mount copied into another mount
// namespace is a second, independent reference that keeps the namespace alive. Every container gets its
// own mount namespace (a copy of ours, made rslave by the shim), so with private mounts each container
// would hold a private copy of every pod's pins, and unmounting ours would leave the netns (and its eth0
// peer) alive for as long as any container anywhere runs — the known leak iproute2 fixed for /run/netns
// with `mount --make-shared`. Making ROOT/pods and the netns dir shared mount points (bind-mounted onto
// themselves, then MS_SHARED, exactly as `ip netns add` does) puts the copies in a peer group we are the
// master of: our umount propagates into every container's mount namespace. (Since Linux 3.18 the unlink
// in nsUnpin also detaches copies mounted on that very file; propagation does not depend on it, and
// covers an unmount without the unlink — test/pod/lifecycle.test.ts checks exactly that.)
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';
import { ensureDir, DIR_MODE } from './files.js';
import { withLock } from './lock.js';
import { netnsDir, paths } from './paths.js';

interface MountEntry { mountPoint: string; shared: boolean }

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mount at exactly this path (the path is its mount point), from /proc/self/mountinfo. The mount the
 * path is on now is told by its id (statx STATX_MNT_ID): mountinfo also lists mounts that a later mount on a
 * parent directory hides (a tmpfs on /run over an older /run/netns), which are not at the path any more.
 * Without the id (Linux < 5.8): the last line for the path.
 */
export function mountAt(path: string): MountEntry | undefined {
  let id: number | undefined;
  try {
    id = native.mountId(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
    return undefined;
  }
  let found: MountEntry | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 7) continue;
    const mp = unescapeMountinfo(f[4]!);
    if (mp !== path) continue;
    if (id !== undefined && Number(f[0]) !== id) continue;
    const dash = f.indexOf('-', 6);
    const optional = f.slice(6, dash < 0 ? undefined : dash);
    // later lines are mounted on top of earlier ones
    found = { mountPoint: mp, shared: optional.some((o) => o.startsWith('shared:')) };
  }
  return found;
}

/**
 * Is something mounted exactly at this path? Its mount id against its directory's (two statx calls: a pod
 * delete asks this of its netns pin, and mountinfo has 4 lines per pod); without mount ids (Linux < 5.8),
 * mountAt.
 */
export function isMountPoint(path: string): boolean {
  const real = realpathSync(path);
  if (real === '/') return true;
  const here = native.mountId(real);
  const parent = native.mountId(dirname(real));
  if (here !== undefined && parent !== undefined) return here !== parent;
  return mountAt(real) !== undefined;
}

/** The mount points at DIR or below it (deepest first), from /proc/self/mountinfo; DIR must exist. */
export function mountsUnder(dir: string): string[] {
  const real = realpathSync(dir);
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 7) continue;
    const mp = unescapeMountinfo(f[4]!);
    if (mp === real || mp.startsWith(real + '/')) out.add(mp);
  }
  return [...out].sort((a, b) => b.length - a.length || b.localeCompare(a));
}

/**
 * Unmounts (MNT_DETACH) everything mounted at DIR or below it, deepest first, stacked mounts included: what
 * podns mounted inside a pod's state (a medium: Memory emptyDir's tmpfs) before the directory is removed, so
 * that removal never descends into a mount nor fails on it with EBUSY. Returns the mount points unmounted;
 * a missing DIR has none.
 */
export function unmountUnder(dir: string): string[] {
  const done: string[] = [];
  for (let round = 0; round < 16; round++) {
    let mps: string[];
    try {
      mps = mountsUnder(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return done;
      throw err;
    }
    if (mps.length === 0) return done;
    for (const mp of mps) {
      try {
        native.umount(mp, native.MNT_DETACH);
        done.push(mp);
      } catch (err) {
        // unmounted meanwhile, or hidden by an unmount above it
        if (!isErrno(err, 'EINVAL', 'ENOENT')) throw err;
      }
    }
  }
  return done;
}

/** Bind a directory onto itself (once) and make it a shared mount point. Idempotent. */
export function ensureSharedMount(dir: string): void {
  const real = realpathSync(dir);
  // The netns dir is shared by every state root, and each root takes only its own lock: another podns may
  // bind or unmount it between our look at mountinfo and our mount(MS_SHARED), which then fails with
  // EINVAL (not a mount point any more). Look again and redo it, a few times.
  for (let attempt = 1; ; attempt++) {
    const m = mountAt(real);
    if (m?.shared) return;
    try {
      if (m === undefined) native.mount(real, real, null, native.MS_BIND | native.MS_REC);
      native.mount('none', real, null, native.MS_SHARED | native.MS_REC);
      return;
    } catch (err) {
      if (!isErrno(err, 'EINVAL') || attempt >= 3) throw err;
    }
  }
}

// Directories this process has already made and checked to be shared mount points, with the id of that
// mount. Every create needs ROOT/pods and the netns dir: checking them means reading all of
// /proc/self/mountinfo (4 lines per pod), twice per create. A later call compares the mount id at the
// path instead (one statx): unmounted, or removed and made again, it is another mount (or none) and the
// full check runs again. (Made private in place by hand, it would go unnoticed until the process ends.)
const sharedChecked = new Map<string, number>();

function stillShared(dir: string): boolean {
  const known = sharedChecked.get(dir);
  if (known === undefined) return false;
  let id: number | undefined;
  try {
    id = native.mountId(dir);
  } catch (err) {
    if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
  }
  if (id === known) return true;
  sharedChecked.delete(dir);
  return false;
}

function checkedShared(dir: string): void {
  const id = native.mountId(dir);
  if (id !== undefined) sharedChecked.set(dir, id);
}

/** Create ROOT (0700) and ROOT/pods as a shared mount. Called by every command that writes. */
export async function ensureRoot(root: string): Promise<string> {
  const abs = resolve(root);
  const pods = paths.pods(abs);
  if (stillShared(pods)) return abs;
  ensureDir(abs, DIR_MODE);
  await withLock(abs, () => {
    ensureDir(pods, DIR_MODE);
    ensureSharedMount(pods);
  });
  checkedShared(pods);
  return abs;
}

/** The netns dir (/run/netns or PODNS_NETNS_DIR), made as iproute2 makes it: 0755, shared. */
export async function ensureNetnsDir(root: string): Promise<string> {
  const dir = netnsDir();
  if (stillShared(dir)) return dir;
  // 0755 like iproute2: `ip netns list` works for everyone; the pins themselves are 0600.
  ensureDir(dir, 0o755);
  await withLock(root, () => ensureSharedMount(dir));
  checkedShared(dir);
  return dir;
}

/** Is this path a namespace pin that holds a namespace (a mounted nsfs file)? */
export function pinAlive(path: string, want?: { dev: number; ino: number }): boolean {
  try {
    const id = native.nsIdOfPath(path);
    // An unmounted pin is an empty regular file on the state fs: not the recorded nsfs dev/inode.
    if (want !== undefined) return id.ino === want.ino && id.dev === want.dev;
    return isMountPoint(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
    throw err;
  }
}
