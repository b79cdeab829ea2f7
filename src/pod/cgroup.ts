// The pod's own cgroup: PARENT/POD-UID8 in every hierarchy podns uses, with the pod's totals (`create
// --memory/--cpus/...`) on it, its containers' cgroups below it, and the pause in a leaf of its own
// (PARENT/POD-UID8/_pause: v2 lets no cgroup both hold processes and hand controllers down).
//
// Recorded before it is made: in the claim (written first, under the lock, before anything host-wide
// exists) and in pod.json; made before the pause is spawned, which joins its leaf as its first step once
// running (`pause -c PROCS`): on cgroup v1 that write waits for an RCU grace period (5-16 ms here), which
// create then does not wait for. delete and gc kill what is left inside (a process that left the watcher's
// pid namespace through exec, an orphan) and remove it.
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyPlan, cgroupPaths, DEFAULT_CGROUP_PARENT, hierarchyDirs, killCgroup, limitWrites, ourCgroup, PAUSE_LEAF, placeWrites, planCreate, recordedHost, rmdirOrder,
  removeCgroup, removeIfEmpty, type CgroupHost, type CgroupLimits, type CgroupOp, type LimitWrite,
} from '../cgroups/index.js';
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';

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

/** Makes it; returns the pause leaf's cgroup.procs files, one per hierarchy, for the pause to join. */
export function makePodCgroup(cg: PodCgroup): string[] {
  try {
    applyPlan(cg.ops);
  } catch (err) {
    // the default parent went between our mkdirs (another pod's delete removed it, empty): once more
    if (!isErrno(err, 'ENOENT')) throw err;
    applyPlan(cg.ops);
  }
  return cg.pauseDirs.map((d) => join(d, 'cgroup.procs'));
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
  // the usual case (pause and containers gone): two rmdirs a hierarchy; else kill what is inside, then remove
  const fast = removeIfEmpty(h, [`${rel}/${PAUSE_LEAF}`, rel]);
  let removed = fast === 'removed';
  if (fast === 'busy') {
    try {
      await killCgroup(h, rel);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    removed = (await removeCgroup(h, rel)) || removed;
  }
  removeDefaultParent(h, rel);
  return removed;
}

/** podns's own default parent goes with its last pod (a parent given with --cgroup-parent is the caller's,
    as the kubelet's kubepods is: it stays). */
function removeDefaultParent(h: CgroupHost, rel: string): void {
  if (rel.startsWith(`${DEFAULT_CGROUP_PARENT}/`) && rel.indexOf('/') === DEFAULT_CGROUP_PARENT.length) {
    for (const d of hierarchyDirs(h, DEFAULT_CGROUP_PARENT)) {
      try {
        rmdirSync(d);
      } catch {
        // other pods' cgroups are there (EBUSY), or it is gone
      }
    }
  }
}

/**
 * removePodCgroup for a pod whose processes were all seen gone (a delete that stopped them): the rmdirs,
 * in removeIfEmpty's order, on a libuv pool thread (on cgroup v1, 14 of them, each waiting for the
 * machine-wide cgroup lock). A refusal (something still inside) falls back to removePodCgroup, which
 * kills what is left and removes the rest.
 */
export async function removePodCgroupAsync(host: CgroupHost, recorded: { path?: unknown; dirs?: unknown } | undefined): Promise<void> {
  const rel = ourCgroup(recorded?.path, 'pod');
  if (rel === undefined) return;
  const dirs = Array.isArray(recorded?.dirs) ? recorded.dirs.filter((d): d is string => typeof d === 'string') : [];
  const h = recordedHost(host, rel, dirs);
  const order = rmdirOrder(h).flatMap((m) => [join(m, rel, PAUSE_LEAF), join(m, rel)]);
  try {
    await native.rmdirsAsync(order);
  } catch {
    await removePodCgroup(host, recorded);
    return;
  }
  removeDefaultParent(h, rel);
}

/**
 * For `repair`'s new pause: the pod's recorded cgroup made again where it went missing (with its totals),
 * and the pause leaf's cgroup.procs files; [] when the record names none podns made.
 */
export function reopenPodCgroup(host: CgroupHost, rec: { cgroupPath?: string; cgroupDirs?: string[]; limits?: CgroupLimits }): string[] {
  const rel = ourCgroup(rec.cgroupPath, 'pod');
  if (rel === undefined || host.driver === 'none') return [];
  const h = recordedHost(host, rel, rec.cgroupDirs ?? []);
  const leaf = `${rel}/${PAUSE_LEAF}`;
  return makePodCgroup({ path: rel, dirs: hierarchyDirs(h, rel), pauseDirs: hierarchyDirs(h, leaf),
    ops: [...planCreate(h, leaf), ...placeWrites(h, rel, podLimitWrites(h, rec.limits))] });
}
