// Which cgroup driver applies on this host: v2 (the unified hierarchy) or v1 (one hierarchy per
// controller), and which controllers it offers. Parsed from /proc/self/mountinfo (where each hierarchy
// is mounted) and, for v2, the unified root's cgroup.controllers (a v2 controller that a v1 hierarchy
// holds is not offered there: a controller lives in one hierarchy at a time).
//
// A hybrid host (systemd's "hybrid" mode, this VM) mounts the controllers on v1 and an empty or nearly
// empty cgroup2 at /sys/fs/cgroup/unified: limits can be set only on v1, so the driver is v1. A host
// whose cgroup2 holds the memory controller, or that has no v1 controller at all, is v2.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The v1 controllers podns uses (each its own hierarchy, or co-mounted such as cpu,cpuacct). */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'] as const;
export type V1Controller = typeof V1_CONTROLLERS[number];

export interface CgroupMount {
  /** where it is mounted */
  mountPoint: string;
  /** the mount's root inside its hierarchy (field 4: "/" unless a sub-tree is bind-mounted, as in a container) */
  root: string;
  type: 'cgroup' | 'cgroup2';
  /** v1: the controllers of this hierarchy (from the super options); v2: empty */
  controllers: string[];
}

export type CgroupHost =
  | { driver: 'v2'; mountPoint: string; controllers: string[] }
  | { driver: 'v1'; controllers: string[]; mounts: Partial<Record<V1Controller, string>>; unified: string | null }
  | { driver: 'none'; controllers: []; reason: string };

// mountinfo escapes space, tab, newline and backslash in paths as \ooo
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The cgroup mounts of a mountinfo text, in order. Line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"; the optional fields vary in number, so the " - " separator
 * is found first.
 */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    const type = f[sep + 1];
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    const superOpts = (f[sep + 3] ?? '').split(',');
    out.push({
      mountPoint: unescape(f[4]!),
      root: unescape(f[3]!),
      type,
      controllers: type === 'cgroup' ? superOpts.filter((o) => (V1_CONTROLLERS as readonly string[]).includes(o)) : [],
    });
  }
  return out;
}

/** /proc/PID/cgroup: "ID:CONTROLLERS:PATH" lines → controller (or "" for v2, "name=systemd") → path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const path = line.slice(b + 1);
    const ctrls = line.slice(a + 1, b);
    if (ctrls === '') out.set('', path);
    else for (const c of ctrls.split(',')) out.set(c, path);
  }
  return out;
}

/**
 * Decides the driver from the mounts; `v2Controllers` reads a cgroup2 mount's cgroup.controllers
 * (space-separated; undefined when unreadable).
 */
export function decideDriver(mounts: CgroupMount[], v2Controllers: (mountPoint: string) => string | undefined): CgroupHost {
  const v1: Partial<Record<V1Controller, string>> = {};
  for (const m of mounts) {
    if (m.type !== 'cgroup') continue;
    for (const c of m.controllers as V1Controller[]) v1[c] ??= m.mountPoint; // the first mount of a hierarchy
  }
  const unifiedMount = mounts.find((m) => m.type === 'cgroup2');
  const v2 = unifiedMount === undefined ? [] : (v2Controllers(unifiedMount.mountPoint) ?? '').split(/\s+/).filter(Boolean);
  const v1Names = V1_CONTROLLERS.filter((c) => v1[c] !== undefined);
  if (unifiedMount !== undefined && (v2.includes('memory') || v1Names.length === 0)) {
    return { driver: 'v2', mountPoint: unifiedMount.mountPoint, controllers: v2 };
  }
  if (v1Names.length > 0) {
    return { driver: 'v1', controllers: [...v1Names], mounts: v1, unified: unifiedMount?.mountPoint ?? null };
  }
  return { driver: 'none', controllers: [], reason: 'no cgroup filesystem is mounted (neither cgroup2 nor a v1 controller hierarchy)' };
}

/** Detection from given texts/paths (tests) or this process's own view. */
export function detectCgroups(input: { mountinfo?: string; readController?: (mountPoint: string) => string | undefined } = {}): CgroupHost {
  const text = input.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8');
  const read = input.readController ?? ((mp: string) => {
    try {
      return readFileSync(join(mp, 'cgroup.controllers'), 'utf8');
    } catch {
      return undefined;
    }
  });
  return decideDriver(parseMountinfo(text), read);
}

let cached: CgroupHost | undefined;

/** This host's driver, detected once per process (inspect; later the run path reads it from here). */
export function hostCgroups(): CgroupHost {
  cached ??= detectCgroups();
  return cached;
}

/**
 * Whether memory+swap limits can be set here: v1 needs swap accounting (memory.memsw.* files, absent when the
 * kernel runs with swapaccount=0 or without CONFIG_MEMCG_SWAP); v2 has memory.swap.max wherever the memory
 * controller is. (The CRI skips a swap limit where it cannot be set, as containerd does.)
 */
export function swapLimitAvailable(host: CgroupHost = hostCgroups()): boolean {
  if (host.driver === 'v1') return host.mounts.memory !== undefined && existsSync(join(host.mounts.memory, 'memory.memsw.limit_in_bytes'));
  return host.driver === 'v2' && host.controllers.includes('memory');
}
