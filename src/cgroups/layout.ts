// Where podns's cgroups live inside a hierarchy: PARENT/POD-UID8/CONTAINER and PARENT/POD-UID8/_pause,
// relative to the hierarchy's mount (on v1 the same relative path in each controller's hierarchy). PARENT
// defaults to `podns` (`create --cgroup-parent`, as the kubelet passes cgroup_parent; the pod record keeps
// it); POD-UID8 is the pod's name and the first 8 hex digits of its uid, so that a pod made again under the
// same name never meets its predecessor's cgroups (the devices cgroup of src/container/devices.ts too).
import { PodnsError } from '../errors.js';
import { validateName } from '../state/names.js';

export const DEFAULT_CGROUP_PARENT = 'podns';

// The test runner (test/sandbox-run.ts) gives each run a parent of its own (the hierarchies are the
// machine's, shared by every run): what a run leaves there is found as its leak, and removed.
export const TEST_PARENT_PREFIX = 'podns-test-';
export const TEST_PARENT = /^podns-test-[0-9a-f]{1,32}$/;

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/**
 * A cgroup parent: one or more path segments ("podns", "/kubepods/burstable", "machine.slice"), each
 * letters, digits, '_', '.', '-', not starting with '.' or '-' (so never "." or ".."), at most 8 deep.
 * Returned without leading or trailing '/'.
 */
export function validateCgroupParent(parent: string): string {
  const p = typeof parent === 'string' ? parent.replace(/^\/+/, '').replace(/\/+$/, '') : '';
  const segs = p.split('/');
  if (p === '' || segs.length > 8 || !segs.every((s) => SEGMENT.test(s))) {
    throw new PodnsError('EINVALIDCGROUP',
      `invalid cgroup parent "${String(parent).slice(0, 120)}": use 1-8 '/'-separated names of letters, digits, '_', '.', '-' (not starting with '.' or '-'), e.g. "podns" or "/kubepods/burstable"`);
  }
  return p;
}

/** The parent in effect: PODNS_CGROUP_PARENT when it is a test run's (podns-test-HEX), else the default. */
export function defaultCgroupParent(): string {
  const e = process.env.PODNS_CGROUP_PARENT ?? '';
  return TEST_PARENT.test(e) ? e : DEFAULT_CGROUP_PARENT;
}

/**
 * The parent a pod's cgroups go under: `given` (create --cgroup-parent, validated) or the default. In a
 * test run (PODNS_CGROUP_PARENT=podns-test-HEX) a given parent is nested under the run's own, so that the
 * runner finds (and removes) whatever a test leaves, and the machine's tree is never touched.
 */
export function cgroupParentFor(given?: string): string {
  if (given === undefined) return defaultCgroupParent();
  const p = validateCgroupParent(given);
  const e = process.env.PODNS_CGROUP_PARENT ?? '';
  return TEST_PARENT.test(e) ? `${e}/${p}` : p;
}

export interface CgroupPaths {
  parent: string;
  /** PARENT/POD-UID8 */
  pod: string;
  /** PARENT/POD-UID8/CONTAINER, when a container is given */
  container?: string;
}

/**
 * The pause's leaf under the pod's cgroup (as the kubelet keeps the sandbox in the pod's cgroup): v2 lets no
 * cgroup hold processes and hand controllers down at once, so the pause cannot sit in the pod's level. Not a
 * DNS-1123 label (the '_'), so no container can be named like it.
 */
export const PAUSE_LEAF = '_pause';

const POD_LEVEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?-[0-9a-f]{8}$/;
const LEAF = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?|_pause)$/;

/**
 * Is `rel` a cgroup podns makes: PARENT/POD-UID8 (kind 'pod') or PARENT/POD-UID8/LEAF (kind 'leaf': a
 * container's, or the pause's)? The one check before a path from a record (config.json, pod.json, a claim)
 * is killed or removed: a hand-edited record naming another cgroup (system.slice, the machine's root) is
 * left alone. Returns the path without leading or trailing '/', or undefined.
 */
export function ourCgroup(rel: unknown, kind: 'pod' | 'leaf'): string | undefined {
  if (typeof rel !== 'string') return undefined;
  const segs = rel.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
  const leaf = kind === 'leaf' ? segs.pop() : undefined;
  if (leaf !== undefined && !LEAF.test(leaf)) return undefined;
  const pod = segs.pop();
  if (pod === undefined || !POD_LEVEL.test(pod) || segs.length === 0) return undefined;
  try {
    validateCgroupParent(segs.join('/'));
  } catch {
    return undefined;
  }
  return [...segs, pod, ...(leaf !== undefined ? [leaf] : [])].join('/');
}

/** The relative paths of a pod's (and one container's) cgroups; names validated before they reach a path. */
export function cgroupPaths(pod: { name: string; uid: string }, container?: string, parent: string = defaultCgroupParent()): CgroupPaths {
  const p = validateCgroupParent(parent);
  const uid8 = pod.uid.replace(/-/g, '').slice(0, 8).toLowerCase();
  if (!/^[0-9a-f]{8}$/.test(uid8)) {
    throw new PodnsError('EINVALIDCGROUP', `pod uid "${pod.uid.slice(0, 60)}" does not start with 8 hex digits: cannot name its cgroup`);
  }
  const podRel = `${p}/${validateName('pod', pod.name)}-${uid8}`;
  return container === undefined ? { parent: p, pod: podRel } : { parent: p, pod: podRel, container: `${podRel}/${validateName('container', container)}` };
}
