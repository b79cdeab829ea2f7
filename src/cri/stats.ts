// RuntimeService: ContainerStats, ListContainerStats (from the container's cgroups: src/views/stats.ts
// reads them for `podns stats` too) and UpdateContainerResources (new limits written to the live cgroups,
// planned and checked by src/cgroups like the limits of a new container).
//
// CPU: usage_core_nano_seconds is the cgroup's total (v1 cpuacct.usage, v2 cpu.stat usage_usec);
// usage_nano_cores is the rate since this server's previous reading of the same container (absent on the
// first one, as containerd does it). Memory: working_set_bytes is usage minus inactive file pages (what
// kubelet evicts on), usage_bytes the whole usage, available_bytes what is left under the limit, rss_bytes
// the anonymous memory (v1 total_rss, v2 anon), page_faults and major_page_faults the cgroup's counters
// (v1 total_pgfault/total_pgmajfault, v2 pgfault/pgmajfault), as containerd reads them. The
// writable layer is the container's own upper dir (bytes in blocks, inodes), walked without following links.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { applyPlan, DEFAULT_CPU_PERIOD, hostCgroups, limitWrites, ourCgroup, placeWrites, swapLimitAvailable, type CgroupHost, type CgroupLimits } from '../cgroups/index.js';
import { readContainerConfig, readContainerStatus } from '../container/index.js';
import { recordContainerLimits } from '../container/limits.js';
import { oneLine } from '../errors.js';
import { diskUsage } from '../util/disk-usage.js';
import { paths } from '../state/paths.js';
import { fromCgroup, podNet } from '../views/stats.js';
import type { CriContext } from './context.js';
import { criError, matchId, matchLabels, nowNs } from './convert.js';
import { findContainer, findSandbox, listContainers, listSandboxes, writeContainer, type ContainerRecord, type ContainerSpec, type Sandbox } from './records.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

/** The previous CPU reading of each container and sandbox (id → time and total), for usage_nano_cores. */
const lastCpu = new Map<string, { ns: bigint; cpu: number }>();

const u64 = (n: number | bigint | null | undefined): Msg => (n === null || n === undefined ? null : { value: String(typeof n === 'number' ? Math.max(0, Math.round(n)) : n) });

function running(ctx: CriContext, c: ContainerRecord): boolean {
  if (!c.started) return false;
  return readContainerStatus({ root: ctx.root, pod: c.pod, name: c.name })?.state === 'running';
}

/** The container's cgroup path, as its config records it (checked: one podns makes), or undefined. */
function cgroupOf(ctx: CriContext, c: ContainerRecord): string | undefined {
  if (!c.started) return undefined;
  try {
    return ourCgroup(readContainerConfig({ root: ctx.root, pod: c.pod, name: c.name })?.cgroupPath, 'leaf');
  } catch {
    return undefined;
  }
}

function statsOf(ctx: CriContext, c: ContainerRecord): Msg {
  const ts = nowNs();
  const out: Msg = {
    attributes: { id: c.id, metadata: c.metadata, labels: c.labels, annotations: c.annotations },
    cpu: null,
    memory: null,
    writable_layer: null,
  };
  const dir = paths.container(ctx.root, c.pod, c.name);
  if (c.started) {
    const upper = join(dir, 'rootfs');
    const u = diskUsage(upper, { sameFilesystem: true });
    out.writable_layer = { timestamp: ts, fs_id: { mountpoint: upper }, used_bytes: u64(u.bytes), inodes_used: u64(u.inodes) };
  }
  const rel = running(ctx, c) ? cgroupOf(ctx, c) : undefined;
  return { ...out, ...usage(c.id, rel, ts) };
}

/** CPU and memory of the cgroup REL (absent: nothing), the CPU rate against the previous reading of KEY. */
function usage(key: string, rel: string | undefined, ts: string): { cpu: Msg; memory: Msg; pids: number | null } {
  const n = rel !== undefined ? fromCgroup(hostCgroups(), rel) : undefined;
  if (n === undefined) {
    lastCpu.delete(key);
    return { cpu: null, memory: null, pids: null };
  }
  let cpu: Msg = null;
  let memory: Msg = null;
  if (n.cpuNs !== null) {
    const now = BigInt(ts);
    const prev = lastCpu.get(key);
    const rate = prev !== undefined && now > prev.ns ? ((n.cpuNs - prev.cpu) * 1e9) / Number(now - prev.ns) : null;
    lastCpu.set(key, { ns: now, cpu: n.cpuNs });
    cpu = { timestamp: ts, usage_core_nano_seconds: u64(n.cpuNs), usage_nano_cores: u64(rate) };
  }
  if (n.memoryUsage !== null) {
    memory = {
      timestamp: ts,
      working_set_bytes: u64(n.memoryUsage),
      usage_bytes: u64(n.memoryRaw),
      available_bytes: n.memoryLimit !== null ? u64(Math.max(0, n.memoryLimit - n.memoryUsage)) : null,
      rss_bytes: u64(n.memory.rss),
      page_faults: u64(n.memory.pageFaults),
      major_page_faults: u64(n.memory.majorPageFaults),
    };
  }
  return { cpu, memory, pids: n.pids };
}

/** A sandbox's stats: its pod cgroup (the pause and every container below it), eth0, its containers. */
function sandboxStatsOf(ctx: CriContext, s: Sandbox): Msg {
  const ts = nowNs();
  const rel = s.cri.stopped !== true ? ourCgroup(s.pod.cgroupPath, 'pod') : undefined;
  const u = usage(`sandbox:${s.cri.id}`, rel, ts);
  const net = s.cri.stopped !== true ? podNet(s.pod) : null;
  const eth0 = net !== null ? { name: 'eth0', rx_bytes: u64(net.rx), rx_errors: null, tx_bytes: u64(net.tx), tx_errors: null } : null;
  return {
    attributes: { id: s.cri.id, metadata: s.cri.metadata, labels: s.cri.labels, annotations: s.cri.annotations },
    linux: {
      cpu: u.cpu,
      memory: u.memory,
      network: eth0 !== null ? { timestamp: ts, default_interface: eth0, interfaces: [] } : null,
      process: u.pids !== null ? { timestamp: ts, process_count: u64(u.pids) } : null,
      containers: listContainers(ctx.root, [s]).map((c) => statsOf(ctx, c)),
    },
  };
}

export function podSandboxStats(ctx: CriContext, req: Msg): Msg {
  const s = findSandbox(ctx.root, req.pod_sandbox_id ?? '');
  if (s === undefined) throw criError(status.NOT_FOUND, `pod sandbox "${req.pod_sandbox_id}" not found`);
  return { stats: sandboxStatsOf(ctx, s) };
}

export function listPodSandboxStats(ctx: CriContext, req: Msg): Msg {
  const f = req.filter ?? {};
  const stats = listSandboxes(ctx.root).filter((s) => matchId(s.cri.id, f.id) && matchLabels(s.cri.labels, f.label_selector)).map((s) => sandboxStatsOf(ctx, s));
  return { stats };
}

export function containerStats(ctx: CriContext, req: Msg): Msg {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  return { stats: statsOf(ctx, c) };
}

export function listContainerStats(ctx: CriContext, req: Msg): Msg {
  const f = req.filter ?? {};
  const sandboxes = listSandboxes(ctx.root); // one scan of the pods for both
  const all = listContainers(ctx.root, sandboxes);
  // readings of containers that are gone are forgotten (the map stays as large as the node's containers)
  const ids = new Set([...all.map((c) => c.id), ...sandboxes.map((s) => `sandbox:${s.cri.id}`)]);
  for (const id of lastCpu.keys()) if (!ids.has(id)) lastCpu.delete(id);
  const stats = all.filter((c) => matchId(c.id, f.id) && matchId(c.sandboxId, f.pod_sandbox_id) && matchLabels(c.labels, f.label_selector))
    .map((c) => statsOf(ctx, c));
  return { stats };
}

/**
 * LinuxContainerResources → podns's limits (0 / '' fields: left as they are), the one mapping of
 * CreateContainer and UpdateContainerResources. memory_swap_limit_in_bytes is memory + swap (-1: unlimited)
 * and is skipped where the kernel cannot limit swap (swapLimitAvailable), as containerd does. hugepage_limits
 * are accepted and not applied: podns makes no hugetlb cgroups (this is containerd 1.6's default too:
 * disable_hugetlb_controller = true; with it off and no hugetlb controller, tolerate_missing_hugetlb_controller
 * skips them; kubelet sends one per huge page size of the node, 0 when the pod asks for none). unified: v2
 * files, refused on v1 (runc refuses them there too).
 */
export function limitsOf(linux: Msg, host: CgroupHost = hostCgroups()): CgroupLimits {
  const out: CgroupLimits = {};
  const int = (v: unknown): number => Number(v ?? 0);
  if (int(linux?.memory_limit_in_bytes) > 0) out.memory = int(linux.memory_limit_in_bytes);
  const swap = int(linux?.memory_swap_limit_in_bytes);
  if (swap !== 0 && swapLimitAvailable(host)) out.memorySwap = swap;
  if (int(linux?.cpu_quota) > 0) {
    const period = int(linux.cpu_period) > 0 ? int(linux.cpu_period) : DEFAULT_CPU_PERIOD;
    out.cpus = int(linux.cpu_quota) / period;
    out.cpuPeriod = period;
  }
  if (int(linux?.cpu_shares) > 0) out.cpuShares = int(linux.cpu_shares);
  if (typeof linux?.cpuset_cpus === 'string' && linux.cpuset_cpus !== '') out.cpusetCpus = linux.cpuset_cpus;
  if (typeof linux?.cpuset_mems === 'string' && linux.cpuset_mems !== '') out.cpusetMems = linux.cpuset_mems;
  const unified = linux?.unified;
  if (unified !== null && typeof unified === 'object' && Object.keys(unified).length > 0) {
    out.unified = Object.fromEntries(Object.entries(unified).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

/** v1: the cgroup's memsw limit now (an update raising memory above it writes memsw first). */
function currentMemsw(host: CgroupHost, rel: string | undefined): number | undefined {
  if (host.driver !== 'v1' || rel === undefined || host.mounts.memory === undefined) return undefined;
  try {
    return Number(readFileSync(join(host.mounts.memory, rel, 'memory.memsw.limit_in_bytes'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function updateContainerResources(ctx: CriContext, req: Msg): Msg {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  const host = hostCgroups();
  const limits = limitsOf(req.linux ?? {}, host);
  // a swap limit alone is memory + swap over the memory limit the container has
  if (limits.memorySwap !== undefined && limits.memory === undefined && c.spec.memory !== undefined) limits.memory = c.spec.memory;
  if (limits.memorySwap !== undefined && limits.memory === undefined) delete limits.memorySwap;
  // a container not started yet takes them when it starts; a running one gets them now
  const rel = running(ctx, c) ? cgroupOf(ctx, c) : undefined;
  const memsw = currentMemsw(host, rel);
  let writes;
  try {
    writes = limitWrites(host, limits, { swapFirst: memsw !== undefined && limits.memory !== undefined && limits.memory > memsw });
  } catch (err) {
    throw criError(status.INVALID_ARGUMENT, `UpdateContainerResources: ${oneLine(err)}`);
  }
  if (rel !== undefined) {
    try {
      applyPlan(placeWrites(host, rel, writes));
    } catch (err) {
      throw criError(status.FAILED_PRECONDITION, `UpdateContainerResources: ${oneLine(err)}`);
    }
    recordContainerLimits(ctx.root, c.pod, c.name, limits);
  }
  writeContainer(ctx.root, { ...c, spec: { ...c.spec, ...specLimits(limits) }, resources: { ...(c.resources ?? {}), ...(req.linux ?? {}) } });
  return {};
}

/** The limits as ContainerSpec's fields (what StartContainer gives runContainer). */
export function specLimits(l: CgroupLimits): Pick<ContainerSpec, 'memory' | 'memorySwap' | 'cpus' | 'cpuPeriod' | 'cpuShares' | 'cpusetCpus' | 'cpusetMems' | 'unified'> {
  return {
    ...(l.memory !== undefined ? { memory: l.memory } : {}),
    ...(l.memorySwap !== undefined ? { memorySwap: l.memorySwap } : {}),
    ...(l.cpus !== undefined ? { cpus: l.cpus } : {}),
    ...(l.cpus !== undefined && l.cpuPeriod !== undefined ? { cpuPeriod: l.cpuPeriod } : {}),
    ...(l.cpuShares !== undefined ? { cpuShares: l.cpuShares } : {}),
    ...(l.cpusetCpus !== undefined ? { cpusetCpus: l.cpusetCpus } : {}),
    ...(l.cpusetMems !== undefined ? { cpusetMems: l.cpusetMems } : {}),
    ...(l.unified !== undefined ? { unified: l.unified } : {}),
  };
}
