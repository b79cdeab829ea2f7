// Names inside an image archive (a docker save tar, an OCI layout as tar or directory). Every name the archive
// carries — its entries' names, the Config/Layers paths of manifest.json, link targets — is a name INSIDE the
// archive, never a path on the host: it is normalised here ("./a//b" → "a/b") and refused when it could mean
// anything else (absolute, "..", NUL, control characters, absurd length). Links are resolved by name, inside
// the archive (docker save writes a shared layer.tar as a symlink to another image's), never on a filesystem.
import { posix } from 'node:path';
import { PodnsError } from '../../errors.js';

/** Longest name accepted (PATH_MAX). */
export const MAX_NAME = 4096;
/** Links followed to reach a file (docker writes one). */
export const MAX_LINK_HOPS = 8;

export function hostile(why: string): PodnsError {
  return new PodnsError('EBADARCHIVE', `${why}; the archive is broken or hostile, nothing was loaded`);
}

function shown(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}

/** The normal form of a name in the archive ("a/b"); WHAT names where it came from, for the error. */
export function archiveName(raw: unknown, what: string): string {
  if (typeof raw !== 'string') throw hostile(`${what}: expected a name inside the archive, got ${raw === null ? 'null' : typeof raw}`);
  if (raw.length > MAX_NAME) throw hostile(`${what}: a name of ${raw.length} characters (more than ${MAX_NAME})`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw hostile(`${what}: ${shown(raw)} contains a control character`);
  if (raw.startsWith('/')) throw hostile(`${what}: ${shown(raw)} is an absolute path; names in an archive are relative to it`);
  const parts = raw.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw hostile(`${what}: ${shown(raw)} has a ".." component, which would leave the archive`);
  return parts.join('/');
}

/**
 * Where a symlink entry NAME → TARGET points, as a name in the archive: relative targets are read from the
 * link's directory; absolute targets and targets that climb out of the archive are refused.
 */
export function symlinkTarget(name: string, target: string): string {
  const what = `symbolic link ${shown(name)}`;
  if (target.startsWith('/')) throw hostile(`${what} points at the absolute path ${shown(target)}, outside the archive`);
  // eslint-disable-next-line no-control-regex
  if (target.length > MAX_NAME || /[\x00-\x1f\x7f]/.test(target)) throw hostile(`${what} has an unreadable target`);
  const joined = posix.normalize(posix.join(posix.dirname(name), target));
  if (joined === '..' || joined.startsWith('../') || joined === '.') throw hostile(`${what} points at ${shown(target)}, outside the archive`);
  return archiveName(joined, what);
}
