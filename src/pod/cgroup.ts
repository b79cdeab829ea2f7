// The pod's own cgroup: PARENT/POD-UID8 in every hierarchy podns uses, with the pod's totals (`create
// --memory/--cpus/...`) on it, its containers' cgroups below it, and the pause in a leaf of its own
// (PARENT/POD-UID8/_pause: v2 lets no cgroup both hold processes and hand controllers down).
//
// Recorded before it is made: in the claim (written first, under the lock, before anything host-wide
// exists) and in pod.json; made before the pause is spawned, which joins its leaf before exec
// (native.spawn's cgroupProcs, on the pool thread that starts it). delete and gc kill what is left inside
// (a process that left the watcher's pid namespace through exec, an orphan) and remove it.
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyPlan, cgroupPaths, hierarchyDirs, killCgroup, limitWrites, ourCgroup, PAUSE_LEAF, placeWrites, planCreate, recordedHost,
  removeCgroup, type CgroupHost, type CgroupLimits, type CgroupOp, type LimitWrite,
} from '../cgroups/index.js';
import { isErrno } from '../errors.js';

export interface PodCgroup {
  /** PARENT/POD-UID8 */
  path: string;
  /** the absolute directories, one per hierarchy */
  dirs: string[];
  /** the pause's leaf in each hierarchy */
  pauseDirs: string[];
  ops: CgroupOp[];
}

/** The pod's limit writes, checked (values, controllers) before anything is made; none: []. */
export function podLimitWrites(host: CgroupHost, limits: CgroupLimits | undefined): LimitWrite[] {
  return limits === undefined ? [] : limitWrites(host, limits);
}

/** Where the pod's cgroup goes and how it is made; undefined on a host without cgroups. */
export function podCgroupFor(host: CgroupHost, pod: { name: string; uid: string }, parent: string, writes: readonly LimitWrite[]): PodCgroup | undefined {
  if (host.driver === 'none') return undefined;
  const path = cgroupPaths(pod, undefined, parent).pod;
  const leaf = `${path}/${PAUSE_LEAF}`;
  return {
    path,
    dirs: hierarchyDirs(host, path),
    pauseDirs: hierarchyDirs(host, leaf),
    ops: [...planCreate(host, leaf), ...placeWrites(host, path, writes)],
  };
}

/**
 * Makes it, and opens the pause leaf's cgroup.procs in each hierarchy for the pause to join before exec
 * (the caller closes them once the spawn has settled).
 */
export function makePodCgroup(cg: PodCgroup): number[] {
  applyPlan(cg.ops);
  const fds: number[] = [];
  try {
    for (const d of cg.pauseDirs) fds.push(openSync(join(d, 'cgroup.procs'), constants.O_WRONLY));
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  }
  return fds;
}

/**
 * Kills every process still in the pod's cgroup and below (v1: freeze, SIGKILL, thaw; v2: cgroup.kill),
 * then removes it all, deepest first. True when something was removed. A path podns cannot have made (a
 * hand-edited record) is left alone; "already gone" is done.
 */
export async function removePodCgroup(host: CgroupHost, recorded: { path?: unknown; dirs?: unknown } | undefined): Promise<boolean> {
  const rel = ourCgroup(recorded?.path, 'pod');
  if (rel === undefined) return false;
  const dirs = Array.isArray(recorded?.dirs) ? recorded.dirs.filter((d): d is string => typeof d === 'string') : [];
  const h = recordedHost(host, rel, dirs);
  try {
    await killCgroup(h, rel);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  return removeCgroup(h, rel);
}

/**
 * For `repair`'s new pause: the pod's recorded cgroup made again where it went missing (with its totals),
 * and the pause leaf's cgroup.procs fds; [] when the record names none podns made.
 */
export function reopenPodCgroup(host: CgroupHost, rec: { cgroupPath?: string; cgroupDirs?: string[]; limits?: CgroupLimits }): number[] {
  const rel = ourCgroup(rec.cgroupPath, 'pod');
  if (rel === undefined || host.driver === 'none') return [];
  const h = recordedHost(host, rel, rec.cgroupDirs ?? []);
  const leaf = `${rel}/${PAUSE_LEAF}`;
  return makePodCgroup({ path: rel, dirs: hierarchyDirs(h, rel), pauseDirs: hierarchyDirs(h, leaf),
    ops: [...planCreate(h, leaf), ...placeWrites(h, rel, podLimitWrites(h, rec.limits))] });
}
