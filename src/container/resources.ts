// Kubernetes compute resources (cpu, memory): quantities, the kubelet's cgroup numbers, the pod QoS class.
//
// Pure functions, no I/O: the manifest parser validates with them, `get -o wide` and `inspect` show the
// QoS class, and the cgroup drivers (issue 12) take their numbers from here.
//
// Quantities (src/util/units.ts) follow k8s.io/apimachinery's resource.Quantity; its int64 accessors round
// up (MilliValue for cpu, Value for memory), so "0.0001" cpu is 1m and "100m" memory is 1 byte.
import { DEFAULT_CPU_PERIOD, MAX_CPU_SHARES, MIN_CPU_QUOTA, MIN_CPU_SHARES, sharesToWeight } from '../cgroups/plan.js';
import { PodnsError } from '../errors.js';
import { isWhole, milliValue, parseQuantity, QuantityError, value } from '../util/units.js';
import type { ContainerResources, ResourceList } from '../pod/types.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The resource names podns understands; others are warned about (extended ones) or refused (typos). */
export const COMPUTE_RESOURCES = ['cpu', 'memory'] as const;
export type ComputeResource = typeof COMPUTE_RESOURCES[number];

// kubelet's constants (CFS period 100 ms, a quota never below 1 ms, shares 2..262144) and the shares →
// weight map live with the cgroup drivers that write them (src/cgroups/plan.ts); the quantity grammar
// with the other units (src/util/units.ts).
const SHARES_PER_CPU = 1024;

// What podns accepts: beyond these a value is a typo, not a machine. 10^6 cores keeps quota (milli x 100)
// and shares exact; 2^53 - 1 bytes (8 PiB) keeps memory an exact JS number.
export const MAX_MILLICPU = 1_000_000_000;
export const MAX_MEMORY_BYTES = Number.MAX_SAFE_INTEGER;

/** cpu as Kubernetes writes it canonically after MilliValue: "2", "500m", "1500m". */
export function formatMilliCpu(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes in the largest exact suffix of the family the user wrote: 1.5Gi → "1536Mi", 1000000 → "1M". */
export function formatBytes(bytes: number, binary: boolean): string {
  if (bytes === 0) return '0';
  const sufs = binary ? ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] : ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  const base = binary ? 1024n : 1000n;
  let n = BigInt(bytes);
  let i = 0;
  // A binary value below 1Ki is written plainly, as Kubernetes does.
  while (i < sufs.length - 1 && n % base === 0n) {
    n /= base;
    i++;
  }
  return `${n}${sufs[i]}`;
}

/** A cpu quantity in millicores, with podns's bound. */
export function parseMilliCpu(text: string): number {
  const milli = milliValue(parseQuantity(text));
  if (milli > BigInt(MAX_MILLICPU)) throw new QuantityError(`"${text}" is more cpu than podns accepts (at most ${MAX_MILLICPU / 1000} cores)`);
  return Number(milli);
}

/** A memory quantity in bytes (fractions rounded up to a whole byte, as the kubelet's Value()). */
export function parseMemoryBytes(text: string): { bytes: number; fractional: boolean; binary: boolean } {
  const q = parseQuantity(text);
  const bytes = value(q);
  if (bytes > BigInt(MAX_MEMORY_BYTES)) throw new QuantityError(`"${text}" is more memory than podns accepts (at most ${MAX_MEMORY_BYTES} bytes, just under 8Pi)`);
  return { bytes: Number(bytes), fractional: !isWhole(q), binary: q.binary };
}

/** One resource value normalised to its canonical text; throws QuantityError. */
export function normalizeQuantity(resource: ComputeResource, text: string): string {
  if (resource === 'cpu') return formatMilliCpu(parseMilliCpu(text));
  const m = parseMemoryBytes(text);
  return formatBytes(m.bytes, m.binary);
}

// ---- kubelet's mapping to cgroup values (pkg/kubelet/cm helpers, kuberuntime) ----

/** cpu limit → CFS quota per DEFAULT_CPU_PERIOD; undefined (no quota: "max" / -1) for no limit or 0. */
export function milliCpuToQuota(milliCpu: number, period = DEFAULT_CPU_PERIOD): number | undefined {
  if (milliCpu <= 0) return undefined;
  // Below 1 ms per period the kernel refuses the value (and it would starve the task anyway).
  return Math.max(Math.floor((milliCpu * period) / 1000), MIN_CPU_QUOTA);
}

/** cpu request → v1 cpu.shares: 1024 per core, 2 (the kernel's minimum) for none, capped at 262144. */
export function milliCpuToShares(milliCpu: number): number {
  if (milliCpu <= 0) return MIN_CPU_SHARES;
  const shares = Math.floor((milliCpu * SHARES_PER_CPU) / 1000);
  return Math.min(Math.max(shares, MIN_CPU_SHARES), MAX_CPU_SHARES);
}


export interface CgroupCpuMemory {
  /** cpu.cfs_quota_us / the first field of cpu.max; undefined: unlimited */
  cpuQuota?: number;
  cpuPeriod: number;
  cpuShares: number;
  cpuWeight: number;
  /** memory.limit_in_bytes / memory.max; undefined: unlimited */
  memoryLimit?: number;
}

/**
 * A container's cgroup numbers as the kubelet derives them: the quota from the cpu limit, the shares from
 * the cpu request (or the limit when only that is set; 2 when neither: BestEffort), memory from its limit.
 */
export function cgroupValues(r: ContainerResources | undefined): CgroupCpuMemory {
  const cpuLimit = r?.limits?.cpu !== undefined ? parseMilliCpu(r.limits.cpu) : 0;
  const cpuRequest = r?.requests?.cpu !== undefined ? parseMilliCpu(r.requests.cpu) : 0;
  const shares = milliCpuToShares(cpuRequest === 0 && cpuLimit !== 0 ? cpuLimit : cpuRequest);
  const memory = r?.limits?.memory !== undefined ? parseMemoryBytes(r.limits.memory).bytes : 0;
  const quota = milliCpuToQuota(cpuLimit);
  return {
    ...(quota !== undefined ? { cpuQuota: quota } : {}),
    cpuPeriod: DEFAULT_CPU_PERIOD,
    cpuShares: shares,
    cpuWeight: sharesToWeight(shares),
    ...(memory > 0 ? { memoryLimit: memory } : {}),
  };
}

/** The API server's defaulting: a resource with a limit and no request gets the limit as its request. */
export function defaultRequests(r: ContainerResources): ContainerResources {
  const limits = r.limits ?? {};
  const requests: ResourceList = { ...r.requests };
  for (const k of COMPUTE_RESOURCES) if (limits[k] !== undefined && requests[k] === undefined) requests[k] = limits[k];
  const out: ContainerResources = {};
  if (Object.keys(limits).length > 0) out.limits = { ...limits };
  if (Object.keys(requests).length > 0) out.requests = requests;
  return out;
}

function amount(resource: ComputeResource, text: string | undefined): bigint {
  if (text === undefined) return 0n;
  return resource === 'cpu' ? BigInt(parseMilliCpu(text)) : BigInt(parseMemoryBytes(text).bytes);
}

/**
 * The pod's QoS class, as Kubernetes computes it (GetPodQOS) from its containers' resources after defaulting:
 * zero amounts count as absent; BestEffort when no cpu/memory request or limit is set anywhere; Guaranteed
 * when every container has both cpu and memory limits and the pod's summed requests equal its summed
 * limits; else Burstable.
 */
export function podQosClass(containers: ReadonlyArray<ContainerResources | undefined>): QosClass {
  const requests = new Map<ComputeResource, bigint>();
  const limits = new Map<ComputeResource, bigint>();
  let guaranteed = true;
  for (const c of containers) {
    const r = c === undefined ? {} : defaultRequests(c);
    for (const k of COMPUTE_RESOURCES) {
      const req = amount(k, r.requests?.[k]);
      if (req > 0n) requests.set(k, (requests.get(k) ?? 0n) + req);
    }
    const found = new Set<ComputeResource>();
    for (const k of COMPUTE_RESOURCES) {
      const lim = amount(k, r.limits?.[k]);
      if (lim > 0n) {
        found.add(k);
        limits.set(k, (limits.get(k) ?? 0n) + lim);
      }
    }
    if (found.size !== COMPUTE_RESOURCES.length) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [k, req] of requests) {
      if (limits.get(k) !== req) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** The resources whose request is above its limit (the API server refuses those), in COMPUTE_RESOURCES order. */
export function requestsOverLimits(r: ContainerResources): ComputeResource[] {
  const out: ComputeResource[] = [];
  for (const k of COMPUTE_RESOURCES) {
    const lim = r.limits?.[k];
    const req = r.requests?.[k];
    if (lim !== undefined && req !== undefined && amount(k, req) > amount(k, lim)) out.push(k);
  }
  return out;
}

/**
 * Resources from the library API (RunOptions.resources): each value parsed and normalised, requests checked
 * against limits and defaulted from them. Throws QuantityError naming the field and the fix.
 */
export function normalizeResources(r: ContainerResources): ContainerResources {
  const norm: ContainerResources = {};
  for (const part of ['limits', 'requests'] as const) {
    const list = r[part];
    if (list === undefined) continue;
    const out: ResourceList = {};
    for (const [k, v] of Object.entries(list) as Array<[string, unknown]>) {
      if (v === undefined) continue;
      if (!(COMPUTE_RESOURCES as readonly string[]).includes(k)) {
        throw new QuantityError(`resources.${part}.${k}: podns knows only cpu and memory`);
      }
      if (typeof v !== 'string') throw new QuantityError(`resources.${part}.${k} must be a quantity string like "500m" or "128Mi"`);
      try {
        out[k as ComputeResource] = normalizeQuantity(k as ComputeResource, v);
      } catch (err) {
        throw new QuantityError(`resources.${part}.${k}: ${(err as Error).message}`);
      }
    }
    if (Object.keys(out).length > 0) norm[part] = out;
  }
  const over = requestsOverLimits(norm);
  if (over.length > 0) {
    const k = over[0]!;
    throw new QuantityError(`resources.requests.${k} ${norm.requests![k]} is more than the ${k} limit ${norm.limits![k]}; a request must be at most its limit`);
  }
  return defaultRequests(norm);
}

/** RunOptions.resources checked for runContainer: undefined when none, else normalised; bad input is EUSAGE. */
export function validateResources(r: ContainerResources | undefined): ContainerResources | undefined {
  if (r === undefined) return undefined;
  let norm: ContainerResources;
  try {
    norm = normalizeResources(r);
  } catch (err) {
    if (err instanceof QuantityError) throw new PodnsError('EUSAGE', err.message);
    throw err;
  }
  return norm.limits === undefined && norm.requests === undefined ? undefined : norm;
}
