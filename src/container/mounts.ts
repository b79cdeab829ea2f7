// A container's volumes: host paths mounted at paths of the container (run -v, manifest hostPath and
// emptyDir volumes, CRI mounts). Checked here, once, before anything is made; mounted by the shim
// (native/helper/shim_rootfs.c do_volumes): the source opened on the host's side, the target resolved
// inside the container's root (RESOLVE_IN_ROOT), so a symlink in the image never leads the mount out.
import { statSync } from 'node:fs';
import { isAbsolute, normalize, resolve } from 'node:path';
import { isErrno, PodnsError } from '../errors.js';
import type { MountPropagation, VolumeMount } from '../pod/types.js';
import { MAX_PROTECTED_PATHS } from './masks.js';

export const MOUNT_PROPAGATIONS: readonly MountPropagation[] = ['private', 'rslave', 'rshared'];

/** The shim's limit (native/helper/shim.h MAX_VOLUMES). */
export const MAX_MOUNTS = 64;

/** An absolute container path without "..", normalised ("/a//b/" → "/a/b"); not "/" itself. */
export function validateMountTarget(target: unknown, what = 'mount target'): string {
  const bad = (why: string): never => {
    throw new PodnsError('EINVAL', `invalid ${what} "${String(target).slice(0, 200)}": ${why}`);
  };
  if (typeof target !== 'string' || target === '') return bad('give an absolute path in the container, such as /data');
  if (target.includes('\0')) return bad('it holds a NUL byte');
  if (!target.startsWith('/')) return bad('it is relative; give an absolute path in the container, such as /data');
  if (target.split('/').includes('..')) return bad('it holds ".."; give the path without it');
  const norm = normalize(target).replace(/\/+$/, '');
  if (norm === '') return bad('a volume cannot be mounted on the container\'s root /; give a directory below it');
  if (norm.length > 4095) return bad('it is longer than PATH_MAX');
  return norm;
}

function validateSource(source: unknown, target: string): string {
  if (typeof source !== 'string' || !isAbsolute(source) || source.includes('\0')) {
    throw new PodnsError('EINVAL', `invalid mount source "${String(source).slice(0, 200)}" for ${target}: give an absolute path on the host`);
  }
  try {
    statSync(source);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new PodnsError('ENOENT', `mount source ${source} (for ${target}) does not exist on the host; create it first`);
    throw err;
  }
  return normalize(source);
}

/** A subPath: relative, without "..", normalised; '' means the volume itself. */
export function validateSubPath(sub: unknown, target: string): string | undefined {
  if (typeof sub !== 'string' || sub.includes('\0') || sub.startsWith('/') || sub.split('/').includes('..')) {
    throw new PodnsError('EINVAL', `invalid subPath "${String(sub).slice(0, 200)}" for ${target}: give a relative path inside the volume, without ".."`);
  }
  const norm = normalize(sub).replace(/\/+$/, '');
  return norm === '' || norm === '.' ? undefined : norm;
}

/**
 * Checked and normalised mounts in the order they are mounted: parents before what lies below them
 * (as containerd sorts them), so /data/logs lands in the /data volume and is not hidden by it.
 */
export function validateMounts(mounts: readonly VolumeMount[] | undefined): VolumeMount[] {
  const list = mounts ?? [];
  if (list.length > MAX_MOUNTS) throw new PodnsError('EINVAL', `${list.length} mounts: a container takes at most ${MAX_MOUNTS}`);
  const seen = new Set<string>();
  const out: VolumeMount[] = [];
  for (const m of list) {
    const target = validateMountTarget(m.target);
    if (seen.has(target)) throw new PodnsError('EINVAL', `two mounts on ${target}; give each mount its own container path`);
    seen.add(target);
    const source = validateSource(m.source, target);
    const propagation = m.propagation ?? 'private';
    if (!MOUNT_PROPAGATIONS.includes(propagation)) {
      throw new PodnsError('EINVAL', `invalid propagation "${String(propagation)}" for ${target}: use ${MOUNT_PROPAGATIONS.join(', ')}`);
    }
    const subPath = m.subPath !== undefined ? validateSubPath(m.subPath, target) : undefined;
    out.push({ source, ...(subPath !== undefined ? { subPath } : {}), target, ...(m.readOnly === true ? { readOnly: true } : {}), ...(propagation !== 'private' ? { propagation } : {}) });
  }
  const depth = (p: string): number => p.split('/').length;
  return out.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.target) - depth(b.m.target) || a.i - b.i).map((x) => x.m);
}

/**
 * `-v HOST:CTR[:OPTS]` (docker's and podman's spelling): HOST absolute or relative to the working
 * directory, CTR absolute; OPTS comma-separated ro|rw, private|rslave|rshared (z/Z, SELinux labels, ignored).
 */
export function parseVolumeFlag(spec: string): VolumeMount {
  const parts = spec.split(':');
  const usage = `invalid -v "${spec}": give HOST:CONTAINER[:ro], such as -v /srv/data:/data:ro`;
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '') throw new PodnsError('EUSAGE', usage);
  const [host, target, opts] = parts as [string, string, string | undefined];
  if (!host.startsWith('/') && !host.startsWith('.')) {
    throw new PodnsError('EUSAGE', `invalid -v "${spec}": "${host}" would be a named volume, which podns does not have; give a host path (/ABS or ./REL)`);
  }
  const m: VolumeMount = { source: resolve(host), target: validateMountTarget(target, '-v container path') };
  for (const o of (opts ?? '').split(',').filter((x) => x !== '')) {
    if (o === 'ro') m.readOnly = true;
    else if (o === 'rw') delete m.readOnly;
    else if ((MOUNT_PROPAGATIONS as readonly string[]).includes(o)) m.propagation = o as MountPropagation;
    else if (o === 'z' || o === 'Z') continue;
    else throw new PodnsError('EUSAGE', `invalid -v option "${o}" in "${spec}": use ro, rw, private, rslave or rshared`);
  }
  return m;
}

/** Masked or read-only paths (the CRI's lists): absolute container paths without "..", at most the shim's limit. */
export function validateProtectedPaths(list: readonly string[], what: string): string[] {
  if (list.length > MAX_PROTECTED_PATHS) throw new PodnsError('EINVAL', `${list.length} ${what}s: a container takes at most ${MAX_PROTECTED_PATHS}`);
  return [...new Set(list.map((p) => validateMountTarget(p, what)))];
}
