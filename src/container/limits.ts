// A container's resource limits and its cgroups: `run --memory/--memory-swap/--cpus/--cpu-shares/
// --cpuset-cpus/--pids-limit` and a manifest's resources (limits and requests, mapped as the kubelet does by
// cgroupValues), and the removal of those cgroups (watcher, delete, gc).
//
// Every container gets a cgroup, in every hierarchy podns uses (v1: cpu, cpuacct, cpuset, memory, freezer,
// blkio, pids; v2: the one), with a pids limit of DEFAULT_PIDS_LIMIT unless --pids-limit says otherwise. Its
// cost is the join: on v1 the first write to a cgroup.procs takes the kernel's cgroup_threadgroup_rwsem for
// writing, which waits for an RCU grace period (5-16 ms measured here); the other hierarchies' writes right
// after it ride on the same grace period (~0.02 ms each), so one hierarchy or seven cost the same. They are
// recorded in config.json (limits, cgroupPath, cgroupDirs) before they are made; the workload joins them
// before exec (podns-helper shim --cgroup-dir), exec sessions too (exec --cgroup). A host without cgroups
// runs containers without (and refuses an explicit limit).
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlan, cgroupHasProcesses, cgroupPaths, PAUSE_LEAF, defaultCgroupParent, hierarchyDirs, hostCgroups, killCgroup, ourCgroup, placeWrites, planCreate, recordedHost, removeCgroup, removeIfEmpty, rmdirOrder,
  type CgroupHost, type CgroupLimits, type CgroupOp, type LimitWrite, type V1Controller } from '../cgroups/index.js';
import { isErrno, PodnsError } from '../errors.js';
import { native } from '../native/index.js';
import type { ContainerConfig, ContainerResources, PodRecord } from '../pod/types.js';
import { cgroupValues } from './resources.js';
import { parseMemorySize } from '../util/units.js';
import { readJsonIfExists, writeJsonAtomic } from '../state/files.js';
import { paths } from '../state/paths.js';
import { CPU_LIST, MAX_CPU_SHARES, MIN_CPU_SHARES } from '../cgroups/plan.js';

/** A container's pids limit when --pids-limit (or the API's pidsLimit) gives none: podman's default. */
export const DEFAULT_PIDS_LIMIT = 2048;

export interface LimitOptions {
  /** bytes (--memory) */
  memory?: number;
  /** memory + swap in bytes, -1 unlimited swap (--memory-swap) */
  memorySwap?: number;
  /** CPUs, decimal (--cpus 0.5) */
  cpus?: number;
  /** the CFS period in µs for cpus (the CRI's cpu_period; absent: DEFAULT_CPU_PERIOD) */
  cpuPeriod?: number;
  /** relative CPU weight, 2-262144 (--cpu-shares) */
  cpuShares?: number;
  /** CPU list such as 0-1,3 (--cpuset-cpus) */
  cpusetCpus?: string;
  /** memory node list such as 0 (the CRI's cpuset_mems) */
  cpusetMems?: string;
  /** cgroup v2 files and values (the CRI's unified; v2 only) */
  unified?: Record<string, string>;
  /** --pids-limit (-1: unlimited; absent: DEFAULT_PIDS_LIMIT) */
  pidsLimit?: number;
  /** a manifest's resources (normalised) */
  resources?: ContainerResources;
}

/**
 * The limits in effect, or undefined when the host has no cgroups and none is asked for (then no cgroup).
 * Flags win over the manifest's. From resources: limits.memory → memory, limits.cpu → quota (cpus),
 * requests.cpu → shares (cgroupValues, the kubelet's mapping). Shares are set only when the container names
 * a cpu amount (the kubelet's 2 shares for "no request" would make a plain `podns run` lose to its siblings
 * by 512 to 1). The pids limit defaults to DEFAULT_PIDS_LIMIT where the host has the pids controller.
 */
export function resolveLimits(o: LimitOptions, host: CgroupHost = hostCgroups()): CgroupLimits | undefined {
  const out: CgroupLimits = {};
  const r = o.resources;
  if (r !== undefined) {
    const v = cgroupValues(r);
    if (v.memoryLimit !== undefined) out.memory = v.memoryLimit;
    if (v.cpuQuota !== undefined) out.cpus = v.cpuQuota / v.cpuPeriod;
    if (r.requests?.cpu !== undefined || r.limits?.cpu !== undefined) out.cpuShares = v.cpuShares;
  }
  if (o.memory !== undefined) out.memory = o.memory;
  if (o.memorySwap !== undefined) out.memorySwap = o.memorySwap;
  if (o.cpus !== undefined) out.cpus = o.cpus;
  if (o.cpuPeriod !== undefined && out.cpus !== undefined) out.cpuPeriod = o.cpuPeriod;
  if (o.cpuShares !== undefined) out.cpuShares = o.cpuShares;
  if (o.cpusetCpus !== undefined) out.cpusetCpus = o.cpusetCpus;
  if (o.cpusetMems !== undefined) out.cpusetMems = o.cpusetMems;
  if (o.unified !== undefined && Object.keys(o.unified).length > 0) out.unified = { ...o.unified };
  const hasPids = (host.controllers as readonly string[]).includes('pids');
  // unlimited needs no pids controller: nothing to write where there is none
  if (o.pidsLimit !== undefined && (o.pidsLimit !== -1 || hasPids)) out.pids = o.pidsLimit;
  else if (o.pidsLimit === undefined && hasPids) out.pids = DEFAULT_PIDS_LIMIT;
  return Object.keys(out).length === 0 && host.driver === 'none' ? undefined : out;
}

export interface ContainerCgroups {
  /** PARENT/POD-UID8/CONTAINER in each hierarchy */
  path: string;
  /** the absolute directories, one per hierarchy: what the workload and exec sessions join */
  dirs: string[];
  /** the writes that make them and set the limits */
  ops: CgroupOp[];
}

/**
 * Where a container's cgroups go and how they are made (nothing touched yet), from the limit writes
 * limitWrites planned and checked before anything was made. Under the pod's cgroup parent.
 */
export function containerCgroupsFor(rec: Pick<PodRecord, 'name' | 'uid' | 'cgroupParent'>, container: string, writes: readonly LimitWrite[],
  host: CgroupHost = hostCgroups()): ContainerCgroups {
  const path = cgroupPaths(rec, container, rec.cgroupParent ?? defaultCgroupParent()).container!;
  return { path, dirs: hierarchyDirs(host, path), ops: [...planCreate(host, path), ...placeWrites(host, path, writes)] };
}

/**
 * Makes them. A concurrent watcher of the same pod may rmdir the pod's (empty) level between our mkdirs
 * (its container ended, in a pod made before pods had cgroups of their own): ENOENT then, and the plan is
 * run once more.
 */
export function makeContainerCgroups(cg: Pick<ContainerCgroups, 'ops'>): void {
  try {
    applyPlan(cg.ops);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    applyPlan(cg.ops);
  }
}

/**
 * Kills what is still inside a container's cgroups (orphans of the workload, exec sessions; through the
 * freezer on v1, cgroup.kill on v2), then removes them (and the pod's level once empty, for pods made
 * before pods had cgroups of their own). True when something was removed. Safe to repeat (gc after a
 * delete killed part way); a path podns cannot have made (a hand-edited config.json) is left alone.
 */
export async function removeContainerCgroups(config: Pick<ContainerConfig, 'cgroupPath' | 'cgroupDirs'> | undefined): Promise<boolean> {
  const rel = ourCgroup(config?.cgroupPath, 'leaf');
  if (rel === undefined) return false;
  const h = recordedHost(hostCgroups(), rel, config?.cgroupDirs ?? []);
  // the usual case (the workload and the watcher gone): one rmdir a hierarchy; else kill what is inside, then remove
  const fast = removeIfEmpty(h, [rel]);
  let removed = fast === 'removed';
  if (fast === 'busy') {
    await killCgroup(h, rel);
    removed = (await removeCgroup(h, rel)) || removed;
  }
  removeLegacyPodLevel(h, rel);
  return removed;
}

/**
 * removeContainerCgroups for a container whose processes were all seen gone (a stop that killed them): the
 * rmdirs, in removeIfEmpty's order, on a libuv pool thread. A refusal (something still inside: an exec
 * session's orphan) falls back to removeContainerCgroups, which kills what is left and removes the rest.
 */
export async function removeContainerCgroupsAsync(config: Pick<ContainerConfig, 'cgroupPath' | 'cgroupDirs'> | undefined): Promise<void> {
  const rel = ourCgroup(config?.cgroupPath, 'leaf');
  if (rel === undefined) return;
  const h = recordedHost(hostCgroups(), rel, config?.cgroupDirs ?? []);
  try {
    await native.rmdirsAsync(rmdirOrder(h).map((m) => join(m, rel)));
  } catch {
    await removeContainerCgroups(config);
    return;
  }
  removeLegacyPodLevel(h, rel);
}

/**
 * Whether a process is still in the container's cgroup although its watcher and workload are gone (an exec
 * session's process, in a pod sharing one pid namespace): such a container is not stopped until it is killed.
 */
export function containerCgroupsBusy(config: Pick<ContainerConfig, 'cgroupPath' | 'cgroupDirs'> | undefined): boolean {
  const rel = ourCgroup(config?.cgroupPath, 'leaf');
  if (rel === undefined) return false;
  return cgroupHasProcesses(recordedHost(hostCgroups(), rel, config?.cgroupDirs ?? []), rel);
}

/** The pod's level of a container's cgroup, for pods made before pods had cgroups of their own, once empty. */
function removeLegacyPodLevel(h: CgroupHost, rel: string): void {
  const pod = rel.slice(0, rel.lastIndexOf('/'));
  const podDirs = hierarchyDirs(h, pod);
  // a pod with a cgroup of its own (the usual case: its pause leaf is there) keeps it until its delete
  if (podDirs.length > 0 && existsSync(join(podDirs[0]!, PAUSE_LEAF))) return;
  for (const d of podDirs) {
    // the pod's own cgroup (its pause leaf is there) stays: not even tried, as a refused rmdir of a v1
    // cgroup still waits for the machine-wide cgroup lock (a stat does not)
    if (existsSync(join(d, PAUSE_LEAF))) continue;
    try {
      rmdirSync(d);
    } catch {
      // other containers of the pod, or the pod's own cgroup (its pause leaf), keep it (EBUSY), or it is gone
    }
  }
}

/** What inspect says about a container's limits. */
export function limitsSummary(config: Pick<ContainerConfig, 'limits' | 'cgroupDirs'>): string {
  if (config.limits === undefined) return 'none: no cgroup (made before every container had one, or this host has no cgroups)';
  const l = config.limits;
  const parts: string[] = [];
  if (l.memory !== undefined) parts.push(`memory ${l.memory} bytes`);
  if (l.cpus !== undefined) parts.push(`cpus ${l.cpus}`);
  if (l.cpuShares !== undefined) parts.push(`cpu shares ${l.cpuShares}`);
  if (l.memorySwap !== undefined) parts.push(`memory+swap ${l.memorySwap === -1 ? 'unlimited' : `${l.memorySwap} bytes`}`);
  if (l.cpusetCpus !== undefined) parts.push(`cpuset ${l.cpusetCpus}`);
  if (l.cpusetMems !== undefined) parts.push(`memory nodes ${l.cpusetMems}`);
  if (l.unified !== undefined) parts.push(...Object.entries(l.unified).map(([k, v]) => `${k} ${v}`));
  if (l.pids !== undefined) parts.push(`pids ${l.pids === -1 ? 'unlimited' : l.pids}`);
  if (parts.length === 0) parts.push('no limit');
  return `${parts.join(', ')}; enforced in ${(config.cgroupDirs ?? []).join(', ')}`;
}

/** The cgroups a container's config.json records (undefined when none, or the file is unreadable). */
export function recordedContainerCgroups(configPath: string): Pick<ContainerConfig, 'cgroupPath' | 'cgroupDirs'> | undefined {
  try {
    const c = JSON.parse(readFileSync(configPath, 'utf8')) as Partial<ContainerConfig>;
    if (typeof c.cgroupPath !== 'string' || !Array.isArray(c.cgroupDirs)) return undefined;
    return { cgroupPath: c.cgroupPath, cgroupDirs: c.cgroupDirs.filter((d) => typeof d === 'string') };
  } catch {
    return undefined;
  }
}

/** `--cpus N`: a decimal number of CPUs such as 0.5 or 2 (the quota per period is checked by planLimits). */
export function parseCpus(text: string): number {
  const n = /^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$/.test(String(text).trim()) ? Number(text) : NaN;
  if (!(n > 0)) throw new PodnsError('EINVALIDLIMIT', `invalid --cpus "${String(text).slice(0, 40)}": give a positive number of CPUs such as 0.5 or 2`);
  return n;
}

/** `--pids-limit N`: a positive whole number; -1 or 0 is unlimited (as podman), returned as -1. */
export function parsePidsLimit(text: string): number {
  const t = String(text).trim();
  const n = /^(-1|0|[1-9][0-9]{0,9})$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n)) throw new PodnsError('EINVALIDLIMIT', `invalid --pids-limit "${t.slice(0, 40)}": give a positive whole number, or -1 (or 0) for unlimited (default ${DEFAULT_PIDS_LIMIT})`);
  return n === 0 ? -1 : n;
}

/** `--cpu-shares N`: a relative weight, 2-262144 (1024 is one CPU's worth; v2: mapped to cpu.weight). */
export function parseCpuShares(text: string): number {
  const t = String(text).trim();
  const n = /^[0-9]{1,7}$/.test(t) ? Number(t) : NaN;
  if (!(n >= MIN_CPU_SHARES && n <= MAX_CPU_SHARES)) {
    throw new PodnsError('EINVALIDLIMIT', `invalid --cpu-shares "${t.slice(0, 40)}": give a whole number ${MIN_CPU_SHARES}-${MAX_CPU_SHARES} (1024: one CPU's worth)`);
  }
  return n;
}

/** `--memory-swap SIZE`: memory plus swap (docker's units); -1 unlimited swap, 0 as if not given. */
export function parseMemorySwap(text: string): number | undefined {
  const t = String(text).trim();
  if (t === '-1') return -1;
  if (t === '0') return undefined;
  return parseMemorySize(t, '--memory-swap');
}

/** `--cpuset-cpus LIST`: CPUs such as 0-1,3 (checked against the kernel's syntax by limitWrites). */
export function parseCpusetCpus(text: string): string {
  const t = String(text).trim();
  if (!CPU_LIST.test(t)) {
    throw new PodnsError('EINVALIDLIMIT', `invalid --cpuset-cpus "${t.slice(0, 40)}": give a CPU list such as 0-1,3`);
  }
  return t;
}

/** The limit flags of `run` and `create` (--memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit), parsed. */
export function parseLimitFlags(v: { memory?: string; 'memory-swap'?: string; cpus?: string; 'cpu-shares'?: string; 'cpuset-cpus'?: string; 'pids-limit'?: string }):
  Pick<LimitOptions, 'memory' | 'memorySwap' | 'cpus' | 'cpuShares' | 'cpusetCpus' | 'pidsLimit'> {
  const swap = v['memory-swap'] !== undefined ? parseMemorySwap(v['memory-swap']) : undefined;
  return {
    ...(v.memory !== undefined ? { memory: parseMemorySize(v.memory) } : {}),
    ...(swap !== undefined ? { memorySwap: swap } : {}),
    ...(v.cpus !== undefined ? { cpus: parseCpus(v.cpus) } : {}),
    ...(v['cpu-shares'] !== undefined ? { cpuShares: parseCpuShares(v['cpu-shares']) } : {}),
    ...(v['cpuset-cpus'] !== undefined ? { cpusetCpus: parseCpusetCpus(v['cpuset-cpus']) } : {}),
    ...(v['pids-limit'] !== undefined ? { pidsLimit: parsePidsLimit(v['pids-limit']) } : {}),
  };
}

/** The limit flags' option table for parseCommand (run and create share it). */
export const LIMIT_FLAGS = {
  memory: { type: 'string' },
  'memory-swap': { type: 'string' },
  cpus: { type: 'string' },
  'cpu-shares': { type: 'string' },
  'cpuset-cpus': { type: 'string' },
  'pids-limit': { type: 'string' },
} as const;

/**
 * New limits of a running container (the CRI's UpdateContainerResources, after they were written to its
 * cgroups) merged into its config.json, so that inspect and stats show what is in effect.
 */
export function recordContainerLimits(root: string, pod: string, name: string, limits: CgroupLimits): void {
  const file = paths.containerConfig(root, pod, name);
  const config = readJsonIfExists<ContainerConfig>(file);
  if (config === undefined || config.limits === undefined) return;
  writeJsonAtomic(file, { ...config, limits: { ...config.limits, ...limits } });
}
