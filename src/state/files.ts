// Files under the state root: directories 0700, files 0600, JSON written atomically.
//
// Atomic write = write a temporary file in the same directory (same filesystem, so rename(2) is atomic),
// fsync it, rename it over the target. A reader sees the old file or the new one, never half of one, and a
// crash leaves at worst a ".*.tmp-PID-*" file, which listing code ignores and gc removes.
// (fsync stays even though the default root is on tmpfs, where it is a no-op costing one cheap syscall:
// a root on a disk needs it for the record to survive a power cut, and skipping it would save nothing
// measurable on tmpfs.)
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from '../util/random.js';
import { isErrno } from '../errors.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** mkdir -p with a mode for every directory it makes (the umask does not widen or narrow it). */
export function ensureDir(path: string, mode = DIR_MODE): void {
  mkdirSync(path, { recursive: true, mode });
}

/**
 * Write a file that must not exist yet (O_EXCL), in place: for files in a directory made moments ago by
 * this process, that nobody reads before the record that announces them says they are complete (a pod's
 * etc files before the pod is 'ready'). A crash part way leaves a short file in a half-made pod, which gc
 * removes with the rest; no temporary name or rename is needed.
 */
export function writeFileNew(target: string, data: string | Buffer, mode = FILE_MODE): void {
  const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}

// Temporary names: pid + a per-process counter (from a random start, drawn once). Unique among this
// process's writes without reading the kernel's random source per write; a leftover of a dead process
// whose pid was recycled is caught by O_EXCL (EEXIST), and the writer takes the next name.
let tmpSeq = randomBytes(4).readUInt32BE(0);

export function tmpName(target: string): string {
  tmpSeq = (tmpSeq + 1) >>> 0;
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${tmpSeq.toString(16)}`);
}

/** open(tmpName(target), O_WRONLY|O_CREAT|O_EXCL): a fresh temporary file next to target. */
function openTmp(target: string, mode: number): { tmp: string; fd: number } {
  for (let attempt = 0; ; attempt++) {
    const tmp = tmpName(target);
    try {
      // O_EXCL: the name is fresh; never write through a file (or symlink) someone left there.
      return { tmp, fd: openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode) };
    } catch (err) {
      if (!isErrno(err, 'EEXIST') || attempt >= 16) throw err;
    }
  }
}

export function isTmpName(name: string): boolean {
  return name.startsWith('.') && /\.tmp-\d+-[0-9a-f]+$/.test(name);
}

/** Write, fsync, rename: the target is replaced in one step. */
export function writeFileAtomic(target: string, data: string | Buffer, mode = FILE_MODE): void {
  const { tmp, fd } = openTmp(target, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeJsonAtomic(target: string, value: unknown, mode = FILE_MODE): void {
  writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n', mode);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** readJson, or undefined when the file is missing. */
export function readJsonIfExists<T>(path: string): T | undefined {
  try {
    return readJson<T>(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

/** Directory entries, or [] when the directory does not exist. */
export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
    throw err;
  }
}
