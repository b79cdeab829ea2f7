// A container's resource limits and the cgroups that enforce them: `run --memory/--cpus/--pids-limit`
// and a manifest's resources (limits and requests, mapped as the kubelet does by cgroupValues), the
// hierarchies those limits need, and the removal of those cgroups (watcher, delete, gc).
//
// Only a container with a limit gets cgroups, and only in the hierarchies its limits need (v1: memory,
// cpu[,cpuacct], pids): each v1 hierarchy joined costs the joining process an RCU grace period (5-10 ms,
// see src/container/devices.ts), and a container without limits pays nothing, not even a read of the
// host's mounts. They are recorded in config.json (cgroupPath, cgroupDirs) before they are made; the
// workload joins them before exec (podns-helper shim --cgroup-dir), exec sessions too (exec --cgroup).
import { readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlan, cgroupPaths, hierarchyDirs, hostCgroups, killCgroup, planCreate, planLimits, removeCgroup,
  type CgroupHost, type CgroupLimits, type CgroupOp, type V1Controller } from '../cgroups/index.js';
import { isErrno, PodnsError } from '../errors.js';
import type { ContainerConfig, ContainerResources, PodRecord } from '../pod/types.js';
import { cgroupValues } from './resources.js';

const SIZE = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$/i;
const UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Docker's memory sizes: a number with an optional b, k, m or g (1024-based; "32m" = 33554432). */
export function parseMemorySize(text: string, flag = '--memory'): number {
  const m = SIZE.exec(String(text).trim());
  const bytes = m === null ? NaN : Math.floor(Number(m[1]) * UNIT[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new PodnsError('EINVALIDLIMIT', `invalid ${flag} "${String(text).slice(0, 40)}": give a size such as 512m or 1g (units b, k, m, g; 1024-based)`);
  }
  return bytes;
}

export interface LimitOptions {
  /** bytes (--memory) */
  memory?: number;
  /** CPUs, decimal (--cpus 0.5) */
  cpus?: number;
  /** --pids-limit (-1: unlimited) */
  pidsLimit?: number;
  /** a manifest's resources (normalised) */
  resources?: ContainerResources;
}

/**
 * The limits in effect, or undefined when there is none (then no cgroup at all). Flags win over the
 * manifest's. From resources: limits.memory → memory, limits.cpu → quota (cpus), requests.cpu → shares
 * (cgroupValues, the kubelet's mapping). Shares are set only when the container names a cpu amount: the
 * kubelet's 2 shares for "no request" is relative to siblings that also have cgroups, while podns's
 * containers without limits stay in the root cgroup, which 2 shares would lose to by 512 to 1.
 */
export function resolveLimits(o: LimitOptions): CgroupLimits | undefined {
  const out: CgroupLimits = {};
  const r = o.resources;
  if (r !== undefined) {
    const v = cgroupValues(r);
    if (v.memoryLimit !== undefined) out.memory = v.memoryLimit;
    if (v.cpuQuota !== undefined) out.cpus = v.cpuQuota / v.cpuPeriod;
    if (r.requests?.cpu !== undefined || r.limits?.cpu !== undefined) out.cpuShares = v.cpuShares;
  }
  if (o.memory !== undefined) out.memory = o.memory;
  if (o.cpus !== undefined) out.cpus = o.cpus;
  if (o.pidsLimit !== undefined) out.pids = o.pidsLimit;
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The hierarchies (v1 controllers) a set of limits needs. */
function controllersFor(l: CgroupLimits): V1Controller[] {
  const c: V1Controller[] = [];
  if (l.memory !== undefined || l.memorySwap !== undefined) c.push('memory');
  if (l.cpus !== undefined || l.cpuPeriod !== undefined || l.cpuShares !== undefined) c.push('cpu', 'cpuacct');
  if (l.pids !== undefined) c.push('pids');
  if (l.cpusetCpus !== undefined) c.push('cpuset');
  return c;
}

/**
 * The host as far as these limits go: on v1 only the hierarchies they need (cpuacct only where it is
 * co-mounted with cpu: no extra join); v2 is one hierarchy anyway.
 */
function narrowHost(host: CgroupHost, controllers: readonly V1Controller[]): CgroupHost {
  if (host.driver !== 'v1') return host;
  const mounts: Partial<Record<V1Controller, string>> = {};
  for (const c of controllers) {
    const m = host.mounts[c];
    if (m !== undefined && (c !== 'cpuacct' || m === host.mounts.cpu)) mounts[c] = m;
  }
  return { ...host, mounts };
}

/** Checks the values and that the host has each controller they need: the one error before anything is made. */
export function checkLimits(l: CgroupLimits, host: CgroupHost = hostCgroups()): void {
  planLimits(narrowHost(host, controllersFor(l)), 'podns/check', l);
}

export interface LimitCgroups {
  /** PARENT/POD-UID8/CONTAINER in each hierarchy */
  path: string;
  /** the absolute directories, one per hierarchy: what the workload and exec sessions join */
  dirs: string[];
  /** the writes that make them and set the limits */
  ops: CgroupOp[];
}

/** Where a container's limit cgroups go and how they are made (nothing touched yet). */
export function limitCgroupsFor(rec: Pick<PodRecord, 'name' | 'uid'>, container: string, l: CgroupLimits, host: CgroupHost = hostCgroups()): LimitCgroups {
  const h = narrowHost(host, controllersFor(l));
  const path = cgroupPaths(rec, container).container!;
  return { path, dirs: hierarchyDirs(h, path), ops: [...planCreate(h, path), ...planLimits(h, path, l)] };
}

/**
 * Makes them. A concurrent watcher of the same pod may rmdir the pod's (empty) level between our mkdirs
 * (its container ended): ENOENT then, and the plan is run once more.
 */
export function makeLimitCgroups(cg: LimitCgroups): void {
  try {
    applyPlan(cg.ops);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    applyPlan(cg.ops);
  }
}

// what limitCgroupsFor can have made, and all that removeLimitCgroups removes (a hand-edited config.json
// naming another cgroup is left alone)
const OURS = /^podns(-test-[0-9a-f]{1,32})?\/[a-z0-9][a-z0-9-]{0,62}-[0-9a-f]{8}\/[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Kills what is still inside a container's limit cgroups (orphans of the workload, exec sessions), then
 * removes them and the pod's level once empty. True when something was removed. Safe to repeat (gc after
 * a delete killed part way); for a config without them, nothing (and no read of the host's mounts).
 */
export async function removeLimitCgroups(config: Pick<ContainerConfig, 'cgroupPath' | 'cgroupDirs'> | undefined): Promise<boolean> {
  const rel = config?.cgroupPath;
  if (rel === undefined || !OURS.test(rel)) return false;
  const host = hostCgroups();
  const dirs = new Set(config?.cgroupDirs ?? []);
  // the recorded hierarchies only (no freezer among them on v1: killCgroup then kills until empty; the
  // pids limit, when set, bounds a fork loop)
  const used = host.driver === 'v1' ? (Object.keys(host.mounts) as V1Controller[]).filter((c) => dirs.has(join(host.mounts[c]!, rel))) : [];
  const h = narrowHost(host, used);
  await killCgroup(h, rel);
  const removed = await removeCgroup(h, rel);
  const pod = rel.slice(0, rel.lastIndexOf('/'));
  for (const d of hierarchyDirs(h, pod)) {
    try {
      rmdirSync(d);
    } catch {
      // other containers of the pod still have theirs (EBUSY/ENOTEMPTY), or it is gone
    }
  }
  return removed;
}

/** What inspect says about a container's limits. */
export function limitsSummary(config: Pick<ContainerConfig, 'limits' | 'cgroupDirs'>): string {
  if (config.limits === undefined) return 'none: no cgroup (the container shares the host\'s memory, CPU and pids)';
  const l = config.limits;
  const parts: string[] = [];
  if (l.memory !== undefined) parts.push(`memory ${l.memory} bytes`);
  if (l.cpus !== undefined) parts.push(`cpus ${l.cpus}`);
  if (l.cpuShares !== undefined) parts.push(`cpu shares ${l.cpuShares}`);
  if (l.pids !== undefined) parts.push(`pids ${l.pids === -1 ? 'unlimited' : l.pids}`);
  return `${parts.join(', ')}; enforced in ${(config.cgroupDirs ?? []).join(', ')}`;
}

/** The limit cgroups a container's config.json records (undefined when none, or the file is unreadable). */
export function recordedLimitCgroups(configPath: string): Pick<ContainerConfig, 'cgroupPath' | 'cgroupDirs'> | undefined {
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

/** `--pids-limit N`: a positive whole number, or -1 for unlimited. */
export function parsePidsLimit(text: string): number {
  const t = String(text).trim();
  const n = /^(-1|[1-9][0-9]{0,9})$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n)) throw new PodnsError('EINVALIDLIMIT', `invalid --pids-limit "${t.slice(0, 40)}": give a positive whole number, or -1 for unlimited`);
  return n;
}
