// `podns stats`: what each container of a pod uses, like `docker stats` and `kubectl top`.
//
// Where the numbers come from, per container:
// - its cgroup, when it has one (a container with limits): CPU time (v1 cpuacct.usage, v2 cpu.stat
//   usage_usec), memory (usage minus inactive file pages, as docker counts: page cache the kernel can drop
//   at once is not "used"), the limit, pids.current, block I/O (v1 blkio.throttle.io_service_bytes_recursive,
//   v2 io.stat);
// - otherwise /proc: the processes in the workload's pid AND mount namespace (a shared pod pid namespace
//   holds every container; the mount namespace is each container's own), the watcher left out. CPU time is
//   utime+stime+cutime+cstime (children reaped inside the container keep counting), memory the sum of
//   VmRSS, block I/O the sum of /proc/PID/io read_bytes/write_bytes of the live processes. The limit is
//   unknown there (null): no cgroup, no limit.
// A cgroup made for some controllers only (podns makes the ones the limits need: --memory alone gives no
// cpu cgroup) gives what it has, /proc the rest. Every row says which (`source`, per number `sources`), so
// a /proc estimate is never shown as a cgroup measurement. The cgroup path is config.json's cgroupPath when
// recorded, else the layout's (src/cgroups/layout.ts).
//
// CPU % is computed as docker does: the container's CPU time between two samples over the whole machine's
// CPU time (/proc/stat, all CPUs) between the same samples, times the online CPUs: 100% is one full core.
// Network: the pod's eth0 counters, read over rtnetlink inside the pod's network namespace (every
// container of a pod shares it: each row shows the pod's numbers; the pod total counts them once).
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPaths, defaultCgroupParent, hostCgroups, validateCgroupParent, type CgroupHost } from '../cgroups/index.js';
import { isErrno } from '../errors.js';
import { readContainerStatus, isWorkloadOf } from '../container/status.js';
import { containerNames } from '../container/stop.js';
import { processAlive, procStat } from '../pod/proc.js';
import type { PodRecord } from '../pod/types.js';
import { readInterfaces } from './net.js';
import { paths as statePaths } from '../state/paths.js';
import { nsfsDev, nsOf, nsOfPath, sameNs } from './proc.js';

/** USER_HZ: the unit of /proc/PID/stat times and /proc/stat (100 on every Linux ABI podns runs on) */
const TICK_NS = 10_000_000;
/** v1's memory.limit_in_bytes without a limit is PAGE_COUNTER_MAX pages (0x7FFFFFFFFFFFF000 on 4 KiB pages) */
const V1_UNLIMITED = 2 ** 62;

export type StatsSource = 'cgroup' | 'proc';

/** Where each number of a row came from: a cgroup with only some controllers (a container limited in memory
 * alone has no cpu or pids cgroup) gives those, /proc the rest. */
export interface StatsSources { cpu: StatsSource; memory: StatsSource; pids: StatsSource; blockIO: StatsSource }

/** One reading of one container. */
export interface ContainerSample {
  pod: string;
  container: string;
  /** running, exited, restarting, created; a container not running has no numbers */
  state: string;
  /** 'cgroup' or 'proc' when every number comes from there, 'mixed' otherwise (see sources); null: not running */
  source: StatsSource | 'mixed' | null;
  sources: StatsSources | null;
  /** the cgroup read (absolute directory of its memory controller, or the v2 one) */
  cgroup: string | null;
  cpuNs: number | null;
  memoryUsage: number | null;
  /** bytes; null: no limit (unlimited or no cgroup) */
  memoryLimit: number | null;
  pids: number | null;
  blockRead: number | null;
  blockWrite: number | null;
}

export interface PodSample { pod: string; netRx: number | null; netTx: number | null; containers: ContainerSample[] }

export interface Sample { systemNs: number; onlineCpus: number; pods: PodSample[] }

function readOpt(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH', 'ENODEV', 'EACCES', 'EPERM', 'ENOTDIR')) return undefined;
    throw err;
  }
}

function num(text: string | undefined): number | null {
  if (text === undefined) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

/** "key value" lines (memory.stat, cpu.stat) → map */
function keyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

/** /proc/stat: the machine's CPU time (ns, all CPUs) and the online CPU count. */
export function systemCpu(text: string = readFileSync('/proc/stat', 'utf8')): { systemNs: number; onlineCpus: number } {
  let systemNs = 0;
  let onlineCpus = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) {
      // user nice system idle iowait irq softirq steal (guest time is already inside user)
      systemNs = line.trim().split(/\s+/).slice(1, 9).reduce((s, v) => s + Number(v), 0) * TICK_NS;
    } else if (/^cpu[0-9]+ /.test(line)) onlineCpus++;
  }
  return { systemNs, onlineCpus: Math.max(onlineCpus, 1) };
}

/** v1 blkio.throttle.io_service_bytes(_recursive): "MAJ:MIN Read N" lines summed over devices. */
export function parseBlkioV1(text: string | undefined): { read: number; write: number } | null {
  if (text === undefined) return null;
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue; // the final "Total N"
    if (f[1] === 'Read') read += Number(f[2]);
    else if (f[1] === 'Write') write += Number(f[2]);
  }
  return { read, write };
}

/** v2 io.stat: "MAJ:MIN rbytes=N wbytes=N ..." lines summed over devices. */
export function parseIoStatV2(text: string | undefined): { read: number; write: number } | null {
  if (text === undefined) return null;
  let read = 0;
  let write = 0;
  for (const m of text.matchAll(/\b([rw])bytes=([0-9]+)/g)) {
    if (m[1] === 'r') read += Number(m[2]);
    else write += Number(m[2]);
  }
  return { read, write };
}

type Numbers = Pick<ContainerSample, 'cpuNs' | 'memoryUsage' | 'memoryLimit' | 'pids' | 'blockRead' | 'blockWrite'>;

/** What the CRI's MemoryUsage adds: anonymous memory (v1 total_rss, v2 anon: with transparent huge pages)
 * and the page fault counters (v1 total_pgfault/total_pgmajfault, v2 pgfault/pgmajfault), this cgroup and
 * below; null where the cgroup has no memory.stat. */
export interface MemoryDetail { rss: number | null; pageFaults: number | null; majorPageFaults: number | null }

function memoryDetail(stat: Map<string, number> | undefined, v1: boolean): MemoryDetail {
  const get = (k: string): number | null => stat?.get(v1 ? `total_${k}` : k) ?? null;
  return { rss: get(v1 ? 'rss' : 'anon'), pageFaults: get('pgfault'), majorPageFaults: get('pgmajfault') };
}

/** A container's cgroup numbers, or undefined when it has no cgroup to read. memoryRaw: the usage with the
 * page cache counted (v1 memory.usage_in_bytes, v2 memory.current), as the CRI's usage_bytes is. */
export function fromCgroup(host: CgroupHost, rel: string): (Numbers & { dir: string; memoryRaw: number | null; memory: MemoryDetail }) | undefined {
  if (host.driver === 'v2') {
    const dir = join(host.mountPoint, rel);
    if (!existsSync(dir)) return undefined;
    const cpu = keyed(readOpt(join(dir, 'cpu.stat'))).get('usage_usec');
    const current = num(readOpt(join(dir, 'memory.current')));
    const statText = readOpt(join(dir, 'memory.stat'));
    const stat = statText === undefined ? undefined : keyed(statText);
    const inactive = stat?.get('inactive_file') ?? 0;
    const max = readOpt(join(dir, 'memory.max'))?.trim();
    const io = parseIoStatV2(readOpt(join(dir, 'io.stat')));
    return {
      dir, cpuNs: cpu === undefined ? null : cpu * 1000,
      memoryUsage: current === null ? null : Math.max(current - inactive, 0), memoryRaw: current, memory: memoryDetail(stat, false),
      memoryLimit: max === undefined || max === 'max' ? null : Number(max),
      pids: num(readOpt(join(dir, 'pids.current'))), blockRead: io?.read ?? null, blockWrite: io?.write ?? null,
    };
  }
  if (host.driver !== 'v1') return undefined;
  const at = (c: 'cpuacct' | 'memory' | 'pids' | 'blkio') => (host.mounts[c] === undefined ? undefined : join(host.mounts[c]!, rel));
  const mem = at('memory');
  const cpu = at('cpuacct');
  const memExists = mem !== undefined && existsSync(mem);
  const cpuExists = cpu !== undefined && existsSync(cpu);
  const pidsDir = at('pids');
  const pidsExists = pidsDir !== undefined && existsSync(pidsDir);
  const blkioDir = at('blkio');
  const blkioExists = blkioDir !== undefined && existsSync(blkioDir);
  if (!memExists && !cpuExists && !pidsExists && !blkioExists) return undefined;
  let memoryUsage: number | null = null;
  let memoryLimit: number | null = null;
  let memoryRaw: number | null = null;
  let memory = memoryDetail(undefined, true);
  if (memExists) {
    const usage = num(readOpt(join(mem, 'memory.usage_in_bytes')));
    memoryRaw = usage;
    const statText = readOpt(join(mem, 'memory.stat'));
    const stat = statText === undefined ? undefined : keyed(statText);
    memory = memoryDetail(stat, true);
    // docker's v1 rule: total_inactive_file (this cgroup and below) is cache, not use
    const inactive = stat?.get('total_inactive_file') ?? 0;
    memoryUsage = usage === null ? null : Math.max(usage - inactive, 0);
    const limit = num(readOpt(join(mem, 'memory.limit_in_bytes')));
    memoryLimit = limit === null || limit >= V1_UNLIMITED ? null : limit;
  }
  const pids = pidsExists ? num(readOpt(join(pidsDir, 'pids.current'))) : null;
  const io = !blkioExists ? null
    : parseBlkioV1(readOpt(join(blkioDir, 'blkio.throttle.io_service_bytes_recursive')) ?? readOpt(join(blkioDir, 'blkio.throttle.io_service_bytes')));
  return {
    dir: memExists ? mem : cpuExists ? cpu : pidsExists ? pidsDir : blkioDir!,
    cpuNs: cpuExists ? num(readOpt(join(cpu, 'cpuacct.usage'))) : null,
    memoryUsage, memoryLimit, memoryRaw, memory, pids, blockRead: io?.read ?? null, blockWrite: io?.write ?? null,
  };
}

/** The pids of a container's processes: the workload's pid and mount namespace, the watcher left out. */
export function containerProcesses(workload: number, watcherPid: number): number[] {
  const pidNs = nsOf(workload, 'pid');
  const mnt = nsOf(workload, 'mnt');
  if (pidNs === undefined || mnt === undefined) return [];
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === watcherPid) continue;
    if (sameNs(nsOf(pid, 'pid'), pidNs) && sameNs(nsOf(pid, 'mnt'), mnt)) out.push(pid);
  }
  return out;
}

/** utime+stime+cutime+cstime of /proc/PID/stat in ns, or undefined when gone. */
export function procCpuNs(pid: number): number | undefined {
  const st = procStat(pid);
  return st === undefined ? undefined : st.cpuTicks * TICK_NS;
}

/** VmRSS of /proc/PID/status in bytes (0 for a zombie, undefined when gone). */
export function procRss(pid: number): number | undefined {
  const text = readOpt(`/proc/${pid}/status`);
  if (text === undefined) return undefined;
  const m = /^VmRSS:\s+([0-9]+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

function fromProc(workload: number, watcherPid: number): Numbers {
  let cpuNs = 0;
  let memoryUsage = 0;
  let blockRead = 0;
  let blockWrite = 0;
  let pids = 0;
  for (const pid of containerProcesses(workload, watcherPid)) {
    const cpu = procCpuNs(pid);
    const rss = procRss(pid);
    if (cpu === undefined || rss === undefined) continue; // ended meanwhile
    pids++;
    cpuNs += cpu;
    memoryUsage += rss;
    const io = keyed((readOpt(`/proc/${pid}/io`) ?? '').replace(/:/g, ''));
    blockRead += io.get('read_bytes') ?? 0;
    blockWrite += io.get('write_bytes') ?? 0;
  }
  return { cpuNs, memoryUsage, memoryLimit: null, pids, blockRead, blockWrite };
}

/** The pod's eth0 counters, read inside its network namespace (null: host network, or no namespace left). */
/** The pod's eth0 counters, read over rtnetlink in its network namespace; null for a host-network pod. */
export function podNet(rec: PodRecord): { rx: number; tx: number } | null {
  if (rec.networkMode.kind === 'host') return null;
  const pin = rec.namespaces.find((n) => n.type === 'net');
  let path: string | undefined;
  if (pin !== undefined && nsOfPath(pin.path, nsfsDev())?.ino === pin.ino) path = pin.path;
  else if (rec.pause !== undefined && processAlive(rec.pause.pid, rec.pause.startTime)) path = `/proc/${rec.pause.pid}/ns/net`;
  if (path === undefined) return null;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return null;
    throw err;
  }
  try {
    const eth0 = readInterfaces(fd).find((i) => i.name === 'eth0');
    return eth0?.stats ? { rx: eth0.stats.rxBytes, tx: eth0.stats.txBytes } : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The container's cgroup path inside each hierarchy: the one config.json records (cgroupPath, written before
 * the cgroup is made, and under the parent in effect then), else where podns's layout puts it. A recorded
 * path is checked like a cgroup parent (no '..', no absolute path) before it is joined to a mount.
 */
function cgroupRel(root: string, rec: PodRecord, name: string): string {
  let recorded: unknown;
  try {
    recorded = (JSON.parse(readFileSync(statePaths.containerConfig(root, rec.name, name), 'utf8')) as { cgroupPath?: unknown }).cgroupPath;
  } catch {
    recorded = undefined;
  }
  if (typeof recorded === 'string') {
    try {
      return validateCgroupParent(recorded);
    } catch {
      // a hand-edited record: fall back to the layout
    }
  }
  return cgroupPaths(rec, name, rec.cgroupParent ?? defaultCgroupParent()).container!;
}

/** One reading of these pods' containers. */
export function takeSample(root: string, pods: PodRecord[], host: CgroupHost = hostCgroups()): Sample {
  const out: PodSample[] = [];
  for (const rec of pods) {
    const net = podNet(rec);
    const containers: ContainerSample[] = [];
    for (const name of containerNames(root, rec.name)) {
      const st = readContainerStatus({ root, pod: rec.name, name });
      const base = { pod: rec.name, container: name, cgroup: null, cpuNs: null, memoryUsage: null, memoryLimit: null, pids: null, blockRead: null, blockWrite: null };
      if (st === undefined || st.state !== 'running' || !isWorkloadOf(st.pid, st.watcherPid)) {
        containers.push({ ...base, state: st === undefined ? 'created' : st.state === 'running' ? 'gone' : st.state, source: null, sources: null });
        continue;
      }
      const cg = fromCgroup(host, cgroupRel(root, rec, name));
      if (cg === undefined) {
        const sources: StatsSources = { cpu: 'proc', memory: 'proc', pids: 'proc', blockIO: 'proc' };
        containers.push({ ...base, ...fromProc(st.pid, st.watcherPid), state: 'running', source: 'proc', sources });
        continue;
      }
      // what the cgroup lacks (a controller podns made no cgroup in) comes from /proc, and says so
      const { dir, memoryRaw: _raw, ...n } = cg;
      const sources: StatsSources = {
        cpu: n.cpuNs !== null ? 'cgroup' : 'proc', memory: n.memoryUsage !== null ? 'cgroup' : 'proc',
        pids: n.pids !== null ? 'cgroup' : 'proc', blockIO: n.blockRead !== null ? 'cgroup' : 'proc',
      };
      const all = Object.values(sources);
      const p = all.includes('proc') ? fromProc(st.pid, st.watcherPid) : undefined;
      containers.push({
        ...base, state: 'running', cgroup: dir, sources,
        source: all.every((v) => v === 'cgroup') ? 'cgroup' : 'mixed',
        cpuNs: n.cpuNs ?? p!.cpuNs, memoryUsage: n.memoryUsage ?? p!.memoryUsage,
        // a limit only where the memory cgroup is read
        memoryLimit: n.memoryUsage !== null ? n.memoryLimit : null,
        pids: n.pids ?? p!.pids, blockRead: n.blockRead ?? p!.blockRead, blockWrite: n.blockRead !== null ? n.blockWrite : p!.blockWrite,
      });
    }
    out.push({ pod: rec.name, netRx: net?.rx ?? null, netTx: net?.tx ?? null, containers });
  }
  return { ...systemCpu(), pods: out };
}

// ---- pure: two samples → the numbers shown ----

export interface ContainerStats extends Omit<ContainerSample, 'cgroup'> {
  cgroup: string | null;
  /** 100 = one full CPU; null without two readings */
  cpuPercent: number | null;
  /** CPU time used between the two samples */
  cpuDeltaNs: number | null;
  /** of the limit; without a limit, of the host's memory (as docker shows it) */
  memoryPercent: number | null;
  netRx: number | null;
  netTx: number | null;
}

export interface PodStats {
  pod: string;
  cpuPercent: number | null;
  memoryUsage: number | null;
  pids: number | null;
  netRx: number | null;
  netTx: number | null;
  blockRead: number | null;
  blockWrite: number | null;
}

export interface StatsView {
  /** the machine's CPU time between the samples, per CPU: the interval the percentages are over */
  intervalNs: number;
  onlineCpus: number;
  hostMemory: number;
  containers: ContainerStats[];
  pods: PodStats[];
}

function sum(vals: Array<number | null>): number | null {
  const known = vals.filter((v): v is number => v !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

export function hostMemory(text: string = readFileSync('/proc/meminfo', 'utf8')): number {
  const m = /^MemTotal:\s+([0-9]+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The view from a first and a second sample (the second gives every number but CPU %). */
export function computeStats(a: Sample, b: Sample, memTotal: number): StatsView {
  const sysDelta = b.systemNs - a.systemNs;
  const prev = new Map<string, ContainerSample>();
  for (const p of a.pods) for (const c of p.containers) prev.set(`${p.pod}/${c.container}`, c);
  const containers: ContainerStats[] = [];
  const pods: PodStats[] = [];
  for (const p of b.pods) {
    const rows: ContainerStats[] = [];
    for (const c of p.containers) {
      const before = prev.get(`${p.pod}/${c.container}`);
      const comparable = before !== undefined && before.sources?.cpu === c.sources?.cpu && before.cpuNs !== null && c.cpuNs !== null && sysDelta > 0;
      const cpuDeltaNs = comparable ? Math.max(c.cpuNs! - before!.cpuNs!, 0) : null;
      const cpuPercent = cpuDeltaNs === null ? null : (cpuDeltaNs / sysDelta) * b.onlineCpus * 100;
      const over = c.memoryLimit ?? (memTotal > 0 ? memTotal : null);
      const memoryPercent = c.memoryUsage === null || over === null ? null : (c.memoryUsage / over) * 100;
      const running = c.state === 'running';
      rows.push({ ...c, cpuPercent, cpuDeltaNs, memoryPercent, netRx: running ? p.netRx : null, netTx: running ? p.netTx : null });
    }
    containers.push(...rows);
    pods.push({
      pod: p.pod, cpuPercent: sum(rows.map((r) => r.cpuPercent)), memoryUsage: sum(rows.map((r) => r.memoryUsage)),
      pids: sum(rows.map((r) => r.pids)), netRx: p.netRx, netTx: p.netTx,
      blockRead: sum(rows.map((r) => r.blockRead)), blockWrite: sum(rows.map((r) => r.blockWrite)),
    });
  }
  return { intervalNs: b.onlineCpus > 0 ? sysDelta / b.onlineCpus : sysDelta, onlineCpus: b.onlineCpus, hostMemory: memTotal, containers, pods };
}

// ---- pure: formatting ----

/** Memory as docker prints it: binary units (KiB, MiB, GiB). */
export function binBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(2).replace(/\.?0+$/, '')}${units[i]}`;
}

/** Network and block I/O as docker prints them: decimal units (kB, MB, GB). */
export function decBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(3).replace(/\.?0+$/, '')}${units[i]}`;
}

const dash = '--';
const pct = (v: number | null) => (v === null ? dash : `${v.toFixed(2)}%`);
const pair = (a: number | null, b: number | null, f: (n: number) => string) => (a === null && b === null ? dash : `${a === null ? dash : f(a)} / ${b === null ? dash : f(b)}`);

/** "cgroup", "proc", or for a mixed row the cgroup's part and what /proc gave, e.g. "cgroup (cpu,pids: proc)" */
function sourceCell(c: ContainerStats): string {
  if (c.source !== 'mixed' || c.sources === null) return c.source ?? dash;
  const fromProc = (Object.keys(c.sources) as Array<keyof StatsSources>).filter((k) => c.sources![k] === 'proc');
  return `cgroup (${fromProc.join(',')}: proc)`;
}

export const STATS_HEADERS = ['POD', 'CONTAINER', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS', 'SOURCE'];

/** The table rows (cells as text); a pod of several containers gets a "(pod)" total row. */
export function statsRows(view: StatsView): string[][] {
  const rows: string[][] = [];
  for (const p of view.pods) {
    const cs = view.containers.filter((c) => c.pod === p.pod);
    for (const c of cs) {
      if (c.state !== 'running') {
        rows.push([c.pod, c.container, dash, `(${c.state})`, dash, dash, dash, dash, dash]);
        continue;
      }
      const limit = c.memoryLimit !== null ? binBytes(c.memoryLimit) : c.source === 'cgroup' ? 'unlimited' : 'no limit';
      rows.push([
        c.pod, c.container, pct(c.cpuPercent), `${c.memoryUsage === null ? dash : binBytes(c.memoryUsage)} / ${limit}`, pct(c.memoryPercent),
        pair(c.netRx, c.netTx, decBytes), pair(c.blockRead, c.blockWrite, decBytes), c.pids === null ? dash : String(c.pids), sourceCell(c),
      ]);
    }
    if (cs.length > 1) {
      rows.push([p.pod, '(pod)', pct(p.cpuPercent), p.memoryUsage === null ? dash : binBytes(p.memoryUsage), dash,
        pair(p.netRx, p.netTx, decBytes), pair(p.blockRead, p.blockWrite, decBytes), p.pids === null ? dash : String(p.pids), '']);
    }
  }
  return rows;
}
