// An image's USER ("1000", "1000:1000", "nginx", "nginx:www", "101:nginx") as the uid and gid a container runs
// with, as docker and containerd read it: names are looked up in the image's own /etc/passwd and /etc/group;
// no group given → the user's primary group from /etc/passwd (0 when the user is not listed there).
// The files are read from the image's layer directories as overlay would show them (top layer first; a
// whiteout hides, an opaque directory ends the search), never through a symlink: a symlinked /etc or
// /etc/passwd in an image is refused rather than followed on the host.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, PodnsError } from '../errors.js';
import { isOpaque, isWhiteout } from './flatten.js';

const MAX_FILE = 4 * 1024 * 1024;
const ID_MAX = 2 ** 32 - 2;

function readCapped(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PodnsError('EBADIMAGE', `${path} is not a regular file`);
    const size = Math.min(st.size, MAX_FILE);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** /etc/NAME of the image whose layers are DIRS (top first), or undefined when the image has none. */
export function readImageEtcFile(dirs: readonly string[], name: 'passwd' | 'group', what: string): string | undefined {
  for (const dir of dirs) {
    const etc = join(dir, 'etc');
    let st;
    try {
      st = lstatSync(etc);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    if (isWhiteout(st)) return undefined;
    if (st.isSymbolicLink()) throw new PodnsError('EBADIMAGE', `${what}: /etc is a symlink in the image; podns does not follow it to find the user; give a numeric user (--user UID[:GID] / runAsUser)`);
    if (!st.isDirectory()) return undefined;
    const file = join(etc, name);
    let fst;
    try {
      fst = lstatSync(file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      if (isOpaque(etc)) return undefined;
      continue;
    }
    if (isWhiteout(fst)) return undefined;
    if (fst.isSymbolicLink()) throw new PodnsError('EBADIMAGE', `${what}: /etc/${name} is a symlink in the image; podns does not follow it to find the user; give a numeric user (--user UID[:GID] / runAsUser)`);
    if (!fst.isFile()) return undefined;
    return readCapped(file);
  }
  return undefined;
}

/** name:x:uid:gid:... lines → entries (comments and malformed lines skipped). */
function entries(text: string | undefined): Array<{ name: string; id: number; gid?: number }> {
  const out: Array<{ name: string; id: number; gid?: number }> = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || f[0]!.startsWith('#')) continue;
    const id = /^\d{1,10}$/.test(f[2]!) ? Number(f[2]) : NaN;
    if (!Number.isSafeInteger(id) || id > ID_MAX) continue;
    const gid = f.length >= 4 && /^\d{1,10}$/.test(f[3]!) ? Number(f[3]) : undefined;
    out.push({ name: f[0]!, id, ...(gid !== undefined && gid <= ID_MAX ? { gid } : {}) });
  }
  return out;
}

function numeric(s: string): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= ID_MAX ? n : undefined;
}

/** The uid and gid for an image's USER, looked up in the image's layers (DIRS, top first). */
export function resolveImageUser(user: string, dirs: readonly string[], what: string): { uid: number; gid: number } {
  const colon = user.indexOf(':');
  const u = colon < 0 ? user : user.slice(0, colon);
  const g = colon < 0 ? undefined : user.slice(colon + 1);
  if (u === '' || g === '' || user.includes('\0') || user.length > 256) {
    throw new PodnsError('EBADIMAGE', `${what}: the image's user "${user.slice(0, 80)}" is not USER[:GROUP]`);
  }
  let passwd: ReturnType<typeof entries> | undefined;
  const users = (): ReturnType<typeof entries> => (passwd ??= entries(readImageEtcFile(dirs, 'passwd', what)));
  let uid = numeric(u);
  let primary: number | undefined;
  if (uid === undefined) {
    const hit = users().find((e) => e.name === u);
    if (hit === undefined) throw new PodnsError('ENOUSER', `${what}: the image's user "${u}" is not in its /etc/passwd; give a numeric user (--user UID[:GID] / runAsUser)`);
    uid = hit.id;
    primary = hit.gid;
  } else if (g === undefined) {
    primary = users().find((e) => e.id === uid)?.gid;
  }
  let gid: number | undefined;
  if (g !== undefined) {
    gid = numeric(g);
    if (gid === undefined) {
      const hit = entries(readImageEtcFile(dirs, 'group', what)).find((e) => e.name === g);
      if (hit === undefined) throw new PodnsError('ENOUSER', `${what}: the image's group "${g}" is not in its /etc/group; give a numeric user (--user UID:GID / runAsGroup)`);
      gid = hit.id;
    }
  }
  return { uid, gid: gid ?? primary ?? 0 };
}
