// Files under the state root: directories 0700, files 0600, JSON written atomically.
//
// Atomic write = write a temporary file in the same directory (same filesystem, so rename(2) is atomic),
// fsync it, rename it over the target. A reader sees the old file or the new one, never half of one, and a
// crash leaves at worst a ".*.tmp-PID-*" file, which listing code ignores and gc removes.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isErrno } from '../errors.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** mkdir -p with a mode for every directory it makes (the umask does not widen or narrow it). */
export function ensureDir(path: string, mode = DIR_MODE): void {
  mkdirSync(path, { recursive: true, mode });
}

export function tmpName(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export function isTmpName(name: string): boolean {
  return name.startsWith('.') && /\.tmp-\d+-[0-9a-f]+$/.test(name);
}

/** Write, fsync, rename: the target is replaced in one step. */
export function writeFileAtomic(target: string, data: string | Buffer, mode = FILE_MODE): void {
  const tmp = tmpName(target);
  // O_EXCL: the name is fresh; never write through a file (or symlink) someone left there.
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
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
