// The file writes each driver does to make a cgroup and set its limits, as a pure list of operations
// (src/cgroups/apply.ts carries them out against a root: the machine's cgroupfs, or a fake tree in tests).
// Nothing here reads the filesystem.
import { dirname, join } from 'node:path';
import { PodnsError } from '../errors.js';
import type { CgroupHost, V1Controller } from './detect.js';

export type CgroupOp =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; path: string; value: string }
  /** v1 cpuset: a new cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and no process may
      join it until both are set; they are copied from the parent when still empty */
  | { op: 'copy-if-empty'; from: string; to: string };

/** v1 hierarchies podns makes its cgroups in (devices: src/container/devices.ts owns those for now). */
export const V1_USED: readonly V1Controller[] = ['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'blkio', 'pids'];
/** v2 controllers enabled down the podns tree when the root offers them. */
export const V2_USED: readonly string[] = ['cpu', 'cpuset', 'memory', 'io', 'pids'];

/** CFS period (µs) the kubelet and runc use when none is given. */
export const DEFAULT_CPU_PERIOD = 100_000;
/** the kernel refuses a quota under 1 ms (cpu.cfs_quota_us / cpu.max) */
export const MIN_CPU_QUOTA = 1000;
/** cpu.shares' range (v1) */
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262_144;

/** A CPU list as cpuset.cpus takes it: 0-1,3 */
export const CPU_LIST = /^\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*$/;

/** Limits in the terms of `docker run`: memorySwap is memory + swap (-1: unlimited swap), pids -1: unlimited. */
export interface CgroupLimits {
  memory?: number;
  memorySwap?: number;
  cpus?: number;
  cpuPeriod?: number;
  cpuShares?: number;
  pids?: number;
  cpusetCpus?: string;
  /** the memory nodes it may use, such as "0" or "0-1" (cpuset.mems) */
  cpusetMems?: string;
  /** cgroup v2 interface files and their values, written as given (the CRI's unified); v2 only */
  unified?: Record<string, string>;
}

/** How limitWrites orders its writes where the kernel's order matters. */
export interface WriteOrder {
  /** v1: the memsw limit before the memory limit (an update whose new memory limit is above the cgroup's
      current memsw limit: the kernel wants memory <= memsw after every single write) */
  swapFirst?: boolean;
}

/** A v2 interface file a unified setting may name: CONTROLLER.FILE of a controller podns enables, never a
 * cgroup.* core file (cgroup.procs, cgroup.subtree_control, ... are podns's to write). */
const UNIFIED_KEY = /^([a-z][a-z0-9_]*)\.[a-z0-9_.]+$/;

/**
 * cpu.shares (v1, 2..262144, default 1024) → cpu.weight (v2, 1..10000, default 100), the linear map the
 * kubelet and runc use: 2 → 1 and 262144 → 10000. (1024 maps to 39, not 100: the two defaults do not
 * correspond; newer crun releases map on a curve instead, so that 1024 → 100. podns keeps the linear map
 * the kubelet's runtimes have applied longest.)
 */
export function sharesToWeight(shares: number): number {
  return Math.floor(1 + ((shares - MIN_CPU_SHARES) * 9999) / (MAX_CPU_SHARES - MIN_CPU_SHARES));
}

/** Each hierarchy directory (absolute) that holds `rel`: one per distinct v1 mount, or the v2 one. */
export function hierarchyDirs(host: CgroupHost, rel: string): string[] {
  return hierarchyMounts(host).map((m) => join(m, rel));
}

/** The mount of each hierarchy podns uses (co-mounted v1 controllers such as cpu,cpuacct count once). */
export function hierarchyMounts(host: CgroupHost): string[] {
  if (host.driver === 'v2') return [host.mountPoint];
  if (host.driver === 'none') return [];
  const mounts = new Set<string>();
  for (const c of V1_USED) {
    const m = host.mounts[c];
    if (m !== undefined) mounts.add(m);
  }
  return [...mounts];
}

/** The host narrowed to the hierarchies a record lists for `rel` (a record made when podns used fewer). */
export function recordedHost(host: CgroupHost, rel: string, dirs: readonly string[]): CgroupHost {
  if (host.driver !== 'v1') return host;
  const set = new Set(dirs);
  const mounts: Partial<Record<V1Controller, string>> = {};
  for (const c of Object.keys(host.mounts) as V1Controller[]) if (set.has(join(host.mounts[c]!, rel))) mounts[c] = host.mounts[c]!;
  return { ...host, mounts };
}

/** "a/b/c" → ["a", "a/b", "a/b/c"] */
function levels(rel: string): string[] {
  const segs = rel.split('/');
  return segs.map((_s, i) => segs.slice(0, i + 1).join('/'));
}

/** The operations that make `rel` (and each missing ancestor up to the hierarchy's mount). */
export function planCreate(host: CgroupHost, rel: string): CgroupOp[] {
  const ops: CgroupOp[] = [];
  if (host.driver === 'none') throw new PodnsError('ENOCGROUP', `cannot make cgroup ${rel}: ${host.reason}`);
  if (host.driver === 'v1') {
    const cpuset = host.mounts.cpuset;
    for (const mount of hierarchyMounts(host)) {
      for (const l of levels(rel)) {
        ops.push({ op: 'mkdir', path: join(mount, l) });
        if (mount === cpuset) {
          for (const f of ['cpuset.cpus', 'cpuset.mems']) ops.push({ op: 'copy-if-empty', from: join(dirname(join(mount, l)), f), to: join(mount, l, f) });
        }
      }
    }
    return ops;
  }
  // v2: a child gets a controller's files only once its parent lists the controller in
  // cgroup.subtree_control, so each level enables them for the next before it is made. The leaf (where
  // processes go) enables nothing: v2 lets no cgroup both hold processes and hand controllers down.
  const enable = V2_USED.filter((c) => host.controllers.includes(c)).map((c) => `+${c}`).join(' ');
  const ls = levels(rel);
  for (let i = 0; i < ls.length; i++) {
    const parent = i === 0 ? host.mountPoint : join(host.mountPoint, ls[i - 1]!);
    if (enable !== '') ops.push({ op: 'write', path: join(parent, 'cgroup.subtree_control'), value: enable });
    ops.push({ op: 'mkdir', path: join(host.mountPoint, ls[i]!) });
  }
  return ops;
}

function need(host: CgroupHost, controller: string, flag: string): void {
  if (!(host.controllers as readonly string[]).includes(controller)) {
    throw new PodnsError('ENOCONTROLLER',
      `${flag} needs the ${controller} cgroup controller, which this host's cgroup ${host.driver} does not offer; leave ${flag} out`);
  }
}

function positiveInt(v: number, flag: string): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new PodnsError('EINVALIDLIMIT', `${flag} must be a positive whole number, got ${v}`);
  return v;
}

/** One limit file's value, in the hierarchy of `controller` (v2: the one hierarchy): not placed yet. */
export interface LimitWrite {
  /** 'unified': a v2 file given as such (v2 only) */
  controller: V1Controller | 'unified';
  file: string;
  value: string;
}

/**
 * The writes that set `limits`, in order, not yet placed in a cgroup: every value and every controller is
 * checked here, once, before anything is made (runContainer and createPod plan them first, place them
 * once the pod's uid names the cgroup: placeWrites).
 */
export function limitWrites(host: CgroupHost, limits: CgroupLimits, order: WriteOrder = {}): LimitWrite[] {
  const ops: LimitWrite[] = [];
  const w = (controller: V1Controller | 'unified', file: string, value: string | number) => ops.push({ controller, file, value: String(value) });
  if (host.driver === 'none') {
    if (Object.values(limits).some((v) => v !== undefined)) throw new PodnsError('ENOCGROUP', `cannot set limits: ${host.reason}`);
    return ops;
  }
  const v1 = host.driver === 'v1';

  if (limits.memorySwap !== undefined && limits.memory === undefined) {
    throw new PodnsError('EINVALIDLIMIT', '--memory-swap needs --memory (it is the memory plus swap total)');
  }
  if (limits.memory !== undefined) {
    need(host, 'memory', '--memory');
    positiveInt(limits.memory, '--memory');
    // v1: the memory limit first: a fresh cgroup's memsw limit is unlimited, and the kernel refuses a
    // memsw limit below the memory limit (an update raising memory above the old memsw: swapFirst)
    const memoryWrite = (): void => void w('memory', v1 ? 'memory.limit_in_bytes' : 'memory.max', limits.memory!);
    if (!(v1 && order.swapFirst === true && limits.memorySwap !== undefined)) memoryWrite();
    if (limits.memorySwap !== undefined) {
      if (limits.memorySwap !== -1 && (positiveInt(limits.memorySwap, '--memory-swap') < limits.memory)) {
        throw new PodnsError('EINVALIDLIMIT', `--memory-swap (${limits.memorySwap}) is the memory plus swap total: give at least --memory (${limits.memory}), or -1 for unlimited swap`);
      }
      // v1 memsw is memory + swap; v2 memory.swap.max is the swap alone
      if (v1) w('memory', 'memory.memsw.limit_in_bytes', limits.memorySwap);
      else w('memory', 'memory.swap.max', limits.memorySwap === -1 ? 'max' : limits.memorySwap - limits.memory);
      if (v1 && order.swapFirst === true) memoryWrite();
    }
  }
  if (limits.cpus !== undefined || limits.cpuPeriod !== undefined) {
    need(host, 'cpu', '--cpus');
    const period = limits.cpuPeriod ?? DEFAULT_CPU_PERIOD;
    if (!Number.isSafeInteger(period) || period < 1000 || period > 1_000_000) {
      throw new PodnsError('EINVALIDLIMIT', `the CPU period must be 1000-1000000 microseconds, got ${period}`);
    }
    if (limits.cpus !== undefined) {
      if (!Number.isFinite(limits.cpus) || limits.cpus <= 0 || limits.cpus > 1e6) throw new PodnsError('EINVALIDLIMIT', `--cpus must be a positive number such as 0.5, got ${limits.cpus}`);
      // as docker does: the CPUs as whole nano-CPUs, then quota = nano * period / 1e9 rounded down (exact,
      // in BigInt: 0.29 * 100000 in floating point is 28999.999...)
      const nano = BigInt(Math.round(limits.cpus * 1e9));
      const quota = Math.max(MIN_CPU_QUOTA, Number((nano * BigInt(period)) / 1_000_000_000n));
      // v1: the period first, so the quota is judged against the period it is meant for
      if (v1) {
        w('cpu', 'cpu.cfs_period_us', period);
        w('cpu', 'cpu.cfs_quota_us', quota);
      } else {
        w('cpu', 'cpu.max', `${quota} ${period}`);
      }
    }
  }
  if (limits.cpuShares !== undefined) {
    need(host, 'cpu', '--cpu-shares');
    if (!Number.isSafeInteger(limits.cpuShares) || limits.cpuShares < MIN_CPU_SHARES || limits.cpuShares > MAX_CPU_SHARES) {
      throw new PodnsError('EINVALIDLIMIT', `--cpu-shares must be ${MIN_CPU_SHARES}-${MAX_CPU_SHARES}, got ${limits.cpuShares}`);
    }
    if (v1) w('cpu', 'cpu.shares', limits.cpuShares);
    else w('cpu', 'cpu.weight', sharesToWeight(limits.cpuShares));
  }
  if (limits.pids !== undefined) {
    need(host, 'pids', '--pids-limit');
    if (limits.pids !== -1) positiveInt(limits.pids, '--pids-limit');
    w('pids', 'pids.max', limits.pids === -1 ? 'max' : limits.pids);
  }
  if (limits.cpusetCpus !== undefined) {
    need(host, 'cpuset', '--cpuset-cpus');
    if (!CPU_LIST.test(limits.cpusetCpus)) {
      throw new PodnsError('EINVALIDLIMIT', `--cpuset-cpus "${limits.cpusetCpus.slice(0, 40)}" is not a CPU list such as 0-1,3`);
    }
    w('cpuset', 'cpuset.cpus', limits.cpusetCpus);
  }
  if (limits.cpusetMems !== undefined) {
    need(host, 'cpuset', '--cpuset-mems');
    if (!CPU_LIST.test(limits.cpusetMems)) {
      throw new PodnsError('EINVALIDLIMIT', `--cpuset-mems "${limits.cpusetMems.slice(0, 40)}" is not a list of memory nodes such as 0 or 0-1`);
    }
    w('cpuset', 'cpuset.mems', limits.cpusetMems);
  }
  const unified = Object.entries(limits.unified ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (unified.length > 0) {
    if (host.driver !== 'v2') {
      throw new PodnsError('EINVALIDLIMIT', `unified cgroup settings (${unified.map(([k]) => k).join(', ').slice(0, 80)}) are cgroup v2 files, and this host has cgroup ${host.driver}; leave them out`);
    }
    for (const [key, value] of unified) {
      const m = UNIFIED_KEY.exec(key);
      if (m === null || m[1] === 'cgroup') {
        throw new PodnsError('EINVALIDLIMIT', `unified: "${key.slice(0, 60)}" is not a controller's file such as memory.high (cgroup.* files are podns's own)`);
      }
      need(host, m[1]!, `unified ${key}`);
      if (value.includes('\n') || value.length > 4096) throw new PodnsError('EINVALIDLIMIT', `unified: the value of ${key} must be one line of at most 4096 characters`);
      w('unified', key, value);
    }
  }
  return ops;
}

/** The writes placed in the cgroup `rel` (made by planCreate) of each controller's hierarchy. */
export function placeWrites(host: CgroupHost, rel: string, writes: readonly LimitWrite[]): CgroupOp[] {
  if (host.driver === 'none') return [];
  return writes.map((x) => {
    const mount = host.driver === 'v2' ? host.mountPoint : x.controller === 'unified' ? undefined : host.mounts[x.controller];
    if (mount === undefined) throw new PodnsError('ENOCONTROLLER', `no ${x.controller} hierarchy for ${x.file}`);
    return { op: 'write', path: join(mount, rel, x.file), value: x.value };
  });
}

/** The writes that set `limits` on the cgroup `rel` (made by planCreate). Checks every value and controller first. */
export function planLimits(host: CgroupHost, rel: string, limits: CgroupLimits): CgroupOp[] {
  return placeWrites(host, rel, limitWrites(host, limits));
}
