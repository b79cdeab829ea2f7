// Scaling: N pods created in a row through the library and kept, then deleted; what each one costs in
// time (and whether that stays flat as the bridge fills up), in memory (PSS: shared pages divided among
// the processes sharing them, so it is what one more pod really costs) and in file descriptors.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createPod, deletePod, NotFoundError, readContainerStatus, readPod, runContainer } from './api.js';
import { mergeStacks, stackSampler, type StackWindow } from './floor.js';
import { PODNS_COMMS, WORKLOAD } from './library.js';
import { cpuProfile, summarizeProfile, type CpuProfile, type ProfileSummary } from './profile.js';
import { since } from './stats.js';
import { fdsOf, memoryOf, topMappings, type MemoryUse } from './system.js';

export interface ScaleRun {
  size: number;
  create: number[];
  delete: number[];
  totalCreateMs: number;
  totalDeleteMs: number;
  /** ports on the pods' bridge at the peak */
  bridgePorts: number;
  /** IPv6 addresses on the host side (bridge + veths) and in one pod at the peak: autoconf left on shows here */
  ipv6AddrsHost: number;
  ipv6AddrsPod: number;
  /** the pauses at the peak (no containers) */
  pause?: { count: number; meanPss: number; meanRss: number; meanFds: number };
}

function ipv6Count(args: string[]): number {
  const r = spawnSync('ip', [...args, '-6', '-o', 'addr', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) return -1;
  return r.stdout.split('\n').filter((l) => l.trim() && !/^\d+: lo /.test(l)).length;
}

/** Cleanup after a run that may have stopped part way: a pod never made is fine, any other error is not. */
async function deleteIfThere(root: string, name: string): Promise<void> {
  try {
    await deletePod({ root, name, grace: 10 });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

function pausePid(root: string, pod: string): number | undefined {
  return readPod({ root, name: pod }).pause?.pid;
}

export interface ScaleProfile {
  window: string;
  cpu: ProfileSummary;
  kernel: StackWindow;
}

/**
 * `size` pods in a row, then their deletes, each timed. With profileRuns, the creates are also profiled,
 * outside the timed series: profileRuns pods made (and deleted again) before it, on an empty bridge, and
 * profileRuns more made at the peak, on a full one; comparing the two says what grows.
 */
export async function scaleOnce(root: string, size: number, prefix: string, profileRuns = 0): Promise<ScaleRun & { profiles?: ScaleProfile[] }> {
  const names = Array.from({ length: size }, (_, i) => `${prefix}-${i}`);
  const create: number[] = [];
  const profiles: ScaleProfile[] = [];
  const sampler = profileRuns > 0 ? await stackSampler(process.pid, { comms: PODNS_COMMS }) : undefined;
  const profiled = async (slice: string[], label: string) => {
    const profs: CpuProfile[] = [];
    const wins: StackWindow[] = [];
    for (const name of slice) {
      const { result, stacks } = await sampler!.window(() => cpuProfile(() => createPod({ root, name })));
      profs.push(result.profile);
      wins.push(stacks);
    }
    profiles.push({ window: label, cpu: summarizeProfile(profs), kernel: mergeStacks(wins) });
  };
  const before = Array.from({ length: profileRuns }, (_, i) => `${prefix}-pre-${i}`);
  const after = Array.from({ length: profileRuns }, (_, i) => `${prefix}-post-${i}`);
  try {
    if (sampler) {
      await profiled(before, `${profileRuns} creates on an empty bridge`);
      for (const name of before) await deletePod({ root, name, grace: 10 });
    }
    const run = await timedRun(root, size, names, create, async () => {
      if (sampler) await profiled(after, `${profileRuns} creates with ${size} pods on the bridge`);
      for (const name of after) await deletePod({ root, name, grace: 10 });
    });
    return profiles.length ? { ...run, profiles } : run;
  } finally {
    await sampler?.close();
    for (const name of [...before, ...after, ...names]) await deleteIfThere(root, name);
  }
}

async function timedRun(root: string, size: number, names: string[], create: number[], atPeak: () => Promise<void>): Promise<ScaleRun> {
  const t0 = process.hrtime.bigint();
  for (const name of names) {
    const s = process.hrtime.bigint();
    await createPod({ root, name });
    create.push(since(s));
  }
  const totalCreateMs = since(t0);

  const first = readPod({ root, name: names[0]! });
  const bridge = first.network?.bridge;
  let bridgePorts = -1;
  if (bridge !== undefined) {
    try {
      bridgePorts = readdirSync(`/sys/class/net/${bridge}/brif`).length;
    } catch {
      // no sysfs view of it
    }
  }
  const pods = first.netnsPath !== undefined ? ['-n', first.name] : [];
  const run: ScaleRun = {
    size, create, delete: [], totalCreateMs, totalDeleteMs: 0, bridgePorts,
    ipv6AddrsHost: ipv6Count([]), ipv6AddrsPod: pods.length ? ipv6Count(pods) : -1,
  };
  const mems: MemoryUse[] = [];
  let fds = 0;
  for (const name of names) {
    const pid = pausePid(root, name);
    const m = pid !== undefined ? memoryOf(pid) : undefined;
    if (m) mems.push(m);
    if (pid !== undefined) fds += fdsOf(pid)?.length ?? 0;
  }
  if (mems.length) {
    run.pause = {
      count: mems.length,
      meanPss: mems.reduce((a, m) => a + m.pss, 0) / mems.length,
      meanRss: mems.reduce((a, m) => a + m.rss, 0) / mems.length,
      meanFds: fds / mems.length,
    };
  }

  await atPeak();
  const t1 = process.hrtime.bigint();
  for (const name of names) {
    const s = process.hrtime.bigint();
    await deletePod({ root, name, grace: 10 });
    run.delete.push(since(s));
  }
  run.totalDeleteMs = since(t1);
  return run;
}

export interface PodMemory {
  pods: number;
  /** per pod: pause + the container's watcher, bytes */
  pss: { mean: number; max: number };
  rss: { mean: number; max: number };
  pause: { meanPss: number; meanRss: number; meanPrivate: number; fds: number; fdList: string[]; top: ReturnType<typeof topMappings> };
  watcher: { meanPss: number; meanRss: number; meanPrivate: number; fds: number; fdList: string[]; top: ReturnType<typeof topMappings> };
}

/** `count` pods with one container each (sleep): the pause's and the watcher's memory and fds. */
export async function podMemory(root: string, count: number): Promise<PodMemory> {
  const names = Array.from({ length: count }, (_, i) => `mem-${i}`);
  try {
    for (const name of names) {
      await createPod({ root, name });
      await runContainer({ root, pod: name, name: 'c', command: WORKLOAD });
    }
    const pauses: Array<{ pid: number; m: MemoryUse; fds: string[] }> = [];
    const watchers: Array<{ pid: number; m: MemoryUse; fds: string[] }> = [];
    for (const name of names) {
      const pp = pausePid(root, name);
      const wp = readContainerStatus({ root, pod: name, name: 'c' })?.watcherPid;
      const pm = pp !== undefined ? memoryOf(pp) : undefined;
      const wm = wp !== undefined ? memoryOf(wp) : undefined;
      if (pp !== undefined && pm) pauses.push({ pid: pp, m: pm, fds: fdsOf(pp) ?? [] });
      if (wp !== undefined && wm) watchers.push({ pid: wp, m: wm, fds: fdsOf(wp) ?? [] });
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const perPod = pauses.map((p, i) => ({ pss: p.m.pss + (watchers[i]?.m.pss ?? 0), rss: p.m.rss + (watchers[i]?.m.rss ?? 0) }));
    const side = (list: typeof pauses) => ({
      meanPss: mean(list.map((x) => x.m.pss)),
      meanRss: mean(list.map((x) => x.m.rss)),
      meanPrivate: mean(list.map((x) => x.m.private)),
      fds: mean(list.map((x) => x.fds.length)),
      fdList: list[0]?.fds ?? [],
      top: list[0] ? topMappings(list[0].pid) : [],
    });
    return {
      pods: perPod.length,
      pss: { mean: mean(perPod.map((p) => p.pss)), max: Math.max(...perPod.map((p) => p.pss)) },
      rss: { mean: mean(perPod.map((p) => p.rss)), max: Math.max(...perPod.map((p) => p.rss)) },
      pause: side(pauses),
      watcher: side(watchers),
    };
  } finally {
    for (const name of names) {
      await deleteIfThere(root, name);
    }
  }
}
