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
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { applyPlan, hostCgroups, limitWrites, ourCgroup, placeWrites, type CgroupLimits } from '../cgroups/index.js';
import { readContainerConfig, readContainerStatus } from '../container/index.js';
import { oneLine } from '../errors.js';
import { diskUsage } from '../util/disk-usage.js';
import { paths } from '../state/paths.js';
import { fromCgroup, podNet } from '../views/stats.js';
import type { CriContext } from './context.js';
import { criError, matchId, matchLabels, nowNs } from './convert.js';
import { findContainer, findSandbox, listContainers, listSandboxes, writeContainer, type ContainerRecord, type Sandbox } from './records.js';

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
  const all = listContainers(ctx.root);
  // readings of containers that are gone are forgotten (the map stays as large as the node's containers)
  const ids = new Set([...all.map((c) => c.id), ...listSandboxes(ctx.root).map((s) => `sandbox:${s.cri.id}`)]);
  for (const id of lastCpu.keys()) if (!ids.has(id)) lastCpu.delete(id);
  const stats = all.filter((c) => matchId(c.id, f.id) && matchId(c.sandboxId, f.pod_sandbox_id) && matchLabels(c.labels, f.label_selector))
    .map((c) => statsOf(ctx, c));
  return { stats };
}

/** LinuxContainerResources → podns's limits (0 / '' fields: left as they are). */
export function limitsOf(linux: Msg): CgroupLimits {
  const out: CgroupLimits = {};
  const int = (v: unknown): number => Number(v ?? 0);
  if (int(linux?.memory_limit_in_bytes) > 0) out.memory = int(linux.memory_limit_in_bytes);
  if (int(linux?.cpu_quota) > 0) {
    const period = int(linux.cpu_period) > 0 ? int(linux.cpu_period) : 100_000;
    out.cpus = int(linux.cpu_quota) / period;
    out.cpuPeriod = period;
  }
  if (int(linux?.cpu_shares) > 0) out.cpuShares = int(linux.cpu_shares);
  if (typeof linux?.cpuset_cpus === 'string' && linux.cpuset_cpus !== '') out.cpusetCpus = linux.cpuset_cpus;
  return out;
}

export function updateContainerResources(ctx: CriContext, req: Msg): Msg {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  const limits = limitsOf(req.linux ?? {});
  const host = hostCgroups();
  let writes;
  try {
    writes = limitWrites(host, limits);
  } catch (err) {
    throw criError(status.INVALID_ARGUMENT, `UpdateContainerResources: ${oneLine(err)}`);
  }
  // a container not started yet takes them when it starts; a running one gets them now
  const rel = running(ctx, c) ? cgroupOf(ctx, c) : undefined;
  if (rel !== undefined) {
    try {
      applyPlan(placeWrites(host, rel, writes));
    } catch (err) {
      throw criError(status.FAILED_PRECONDITION, `UpdateContainerResources: ${oneLine(err)}`);
    }
  }
  const spec = { ...c.spec };
  if (limits.memory !== undefined) spec.memory = limits.memory;
  if (limits.cpus !== undefined) spec.cpus = limits.cpus;
  if (limits.cpuShares !== undefined) spec.cpuShares = limits.cpuShares;
  if (limits.cpusetCpus !== undefined) spec.cpusetCpus = limits.cpusetCpus;
  writeContainer(ctx.root, { ...c, spec, resources: { ...(c.resources ?? {}), ...(req.linux ?? {}) } });
  return {};
}
