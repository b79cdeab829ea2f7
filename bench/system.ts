// What the bench reads from /proc: machine facts for results.json, a "quiet CPU" gate between phases,
// the memory and file descriptors a process holds, and what a cgroup migration costs here.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { defaultCgroupParent, hierarchyMounts, hostCgroups } from '../src/cgroups/index.js';
import { median, since } from './stats.js';

export interface MachineInfo {
  kernel: string;
  cpuModel: string;
  nproc: number;
  memTotalKiB: number;
  node: string;
  date: string;
  /** RCU settings shape how long a link delete takes (rcu_barrier / synchronize_rcu) */
  rcuExpedited?: string;
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  const mem = /MemTotal:\s+(\d+)/.exec(readOr('/proc/meminfo') ?? '');
  const info: MachineInfo = {
    kernel: os.release(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    nproc: os.availableParallelism(),
    memTotalKiB: mem ? Number(mem[1]) : 0,
    node: process.version,
    date: new Date().toISOString(),
  };
  const exp = readOr('/sys/kernel/rcu_expedited');
  if (exp !== undefined) info.rcuExpedited = exp;
  return info;
}

function cpuTimes(): { idle: number; total: number } {
  const line = (readOr('/proc/stat') ?? '').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // idle + iowait
  return { idle: (f[3] ?? 0) + (f[4] ?? 0), total };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Network namespaces the kernel still holds, live or being torn down: the active objects of the
 * net_namespace slab. undefined where /proc/slabinfo cannot be read.
 */
export function netnsAllocated(): number | undefined {
  const line = (readOr('/proc/slabinfo') ?? '').split('\n').find((l) => l.startsWith('net_namespace '));
  const n = line === undefined ? NaN : Number(line.trim().split(/\s+/)[1]);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Waits until the machine is quiet: the kernel tears down a network namespace asynchronously (cleanup_net
 * on a workqueue), so right after a phase that made and dropped hundreds of them the CPUs are still busy
 * for seconds, and the next phase would pay for the previous one. Idle CPUs are not enough: the teardown
 * spends much of its time waiting for RCU grace periods while it holds the RTNL lock, which every veth
 * creation needs, so with netnsMax it also waits until no more than that many namespaces are left
 * (netnsAllocated). Gives up after maxMs and says how idle the CPUs were and how many namespaces were
 * left: numbers taken on a busy machine are flagged as such.
 */
export async function settle(o: { idle?: number; windowMs?: number; maxMs?: number; netnsMax?: number } = {}): Promise<{ waitedMs: number; idle: number; netns?: number }> {
  const want = o.idle ?? 0.9;
  const windowMs = o.windowMs ?? 300;
  const maxMs = o.maxMs ?? 60_000;
  const start = Date.now();
  for (;;) {
    const a = cpuTimes();
    await sleep(windowMs);
    const b = cpuTimes();
    const idle = (b.idle - a.idle) / Math.max(1, b.total - a.total);
    const netns = netnsAllocated();
    const netnsDone = o.netnsMax === undefined || netns === undefined || netns <= o.netnsMax;
    if ((idle >= want && netnsDone) || Date.now() - start > maxMs) {
      return { waitedMs: Date.now() - start, idle, ...(netns !== undefined ? { netns } : {}) };
    }
  }
}

export interface MemoryUse {
  /** bytes, from /proc/PID/smaps_rollup: shared pages divided among the processes that map them */
  pss: number;
  rss: number;
  /** private (dirty + clean) bytes: what this process alone costs */
  private: number;
}

export function memoryOf(pid: number): MemoryUse | undefined {
  const text = readOr(`/proc/${pid}/smaps_rollup`);
  if (text === undefined) return undefined;
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { pss: kib('Pss'), rss: kib('Rss'), private: kib('Private_Clean') + kib('Private_Dirty') };
}

/** The mappings of a process that cost it the most PSS (for a memory note that says where it goes). */
export function topMappings(pid: number, count = 8): Array<{ mapping: string; pssKiB: number; rssKiB: number }> {
  const text = readOr(`/proc/${pid}/smaps`);
  if (text === undefined) return [];
  const out = new Map<string, { pssKiB: number; rssKiB: number }>();
  let current = '';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = head[1] || '[anon]';
      if (!out.has(current)) out.set(current, { pssKiB: 0, rssKiB: 0 });
      continue;
    }
    const m = /^(Pss|Rss):\s+(\d+) kB/.exec(line);
    if (m && current) {
      const e = out.get(current)!;
      if (m[1] === 'Pss') e.pssKiB += Number(m[2]);
      else e.rssKiB += Number(m[2]);
    }
  }
  return [...out.entries()].map(([mapping, v]) => ({ mapping, ...v }))
    .sort((a, b) => b.pssKiB - a.pssKiB).slice(0, count);
}

/** Open file descriptors of a process, with what they point to. */
export function fdsOf(pid: number): string[] | undefined {
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const n of names) {
    try {
      out.push(`${n} -> ${readlinkSafe(`/proc/${pid}/fd/${n}`)}`);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '?';
  }
}

export function commOf(pid: number): string | undefined {
  return readOr(`/proc/${pid}/comm`);
}

export interface MigrationCost {
  /** the hierarchy the process was moved in, and the driver */
  hierarchy: string;
  driver: 'v1' | 'v2';
  /** each cgroup.procs write, ms */
  writesMs: number[];
  medianMs: number;
  verdict: string;
}

/** Below this a move did not wait for an RCU grace period (one is ~2-20 ms). */
const NO_GRACE_PERIOD_MS = 0.5;

/**
 * What moving a process into a cgroup costs on this machine: a sleeping child is moved back and forth between
 * two scratch cgroups under the run's cgroup parent, each cgroup.procs write timed. A write takes
 * cgroup_threadgroup_rwsem for writing, which waits an RCU grace period unless the kernel runs it in
 * favordynmods mode (a v1 mount option; on a v1 host it stays on until reboot once any mount asked for it;
 * a v2 mount option). Undefined when there is no cgroup hierarchy to write in.
 */
export async function migrationCost(moves = 21): Promise<MigrationCost | undefined> {
  const host = hostCgroups();
  if (host.driver === 'none') return undefined;
  const mount = host.driver === 'v2' ? host.mountPoint : hierarchyMounts(host)[0];
  if (mount === undefined) return undefined;
  const dirs = ['a', 'b'].map((x) => join(mount, defaultCgroupParent(), `bench-migrate-${process.pid}-${x}`));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const writesMs: number[] = [];
  try {
    await new Promise<void>((res, rej) => { child.once('spawn', res); child.once('error', rej); });
    for (let i = 0; i < moves; i++) {
      const t0 = process.hrtime.bigint();
      writeFileSync(join(dirs[i % 2]!, 'cgroup.procs'), String(child.pid));
      writesMs.push(since(t0));
    }
  } finally {
    const gone = new Promise((res) => child.once('close', res));
    child.kill('SIGKILL');
    await gone;
    for (const d of dirs) {
      try {
        rmdirSync(d);
      } catch {
        // the run's own cleanup sweeps its cgroup parent
      }
    }
  }
  const med = median(writesMs);
  const verdict = med < NO_GRACE_PERIOD_MS
    ? 'favordynmods in effect: a move does not wait for an RCU grace period (machines without it pay ~2-20 ms per move, on both runtimes)'
    : 'each move waits an RCU grace period (no favordynmods)';
  return { hierarchy: mount, driver: host.driver, writesMs, medianMs: med, verdict };
}
