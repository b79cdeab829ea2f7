// The podns library, measured in this process: create of a bridge pod, run of a container (until its
// process has exec'd), exec of `true` in it, delete. Then the same operations once more under the
// CPU profiler and the kernel stack sampler, so a slow step comes with the evidence of where it goes.
import { createPod, deletePod, execInContainer, runContainer } from './api.js';
import { mergeStacks, stackSampler, type StackWindow } from './floor.js';
import { cpuProfile, summarizeProfile, type CpuProfile, type ProfileSummary } from './profile.js';
import { since } from './stats.js';
import { PODNS_COMMS, WORKLOAD } from './workload.js';

export const OPS = ['create', 'run', 'exec', 'delete'] as const;
export type Op = (typeof OPS)[number];

export interface LibraryTimes {
  create: number[];
  run: number[];
  exec: number[];
  delete: number[];
}

export { PODNS_COMMS, WORKLOAD } from './workload.js';

async function step(op: Op, root: string, pod: string): Promise<void> {
  switch (op) {
    case 'create':
      await createPod({ root, name: pod });
      return;
    case 'run':
      await runContainer({ root, pod, name: 'c', command: WORKLOAD });
      return;
    case 'exec': {
      const code = await execInContainer({ root, pod, container: 'c', argv: ['/bin/true'] });
      if (code !== 0) throw new Error(`exec of /bin/true in pod ${pod} exited ${code}`);
      return;
    }
    case 'delete':
      // sleep ends on SIGTERM at once; grace 0 would measure SIGKILL instead of the normal path
      await deletePod({ root, name: pod, grace: 10 });
      return;
  }
}

export async function measureLibrary(root: string, n: number, warmup: number, onProgress?: (i: number) => void): Promise<LibraryTimes> {
  const t: LibraryTimes = { create: [], run: [], exec: [], delete: [] };
  for (let i = 0; i < warmup + n; i++) {
    const pod = `lib-${i}`;
    for (const op of OPS) {
      const start = process.hrtime.bigint();
      await step(op, root, pod);
      const ms = since(start);
      if (i >= warmup) t[op].push(ms);
    }
    onProgress?.(i);
  }
  return t;
}

export interface OpProfile {
  /** V8 CPU profile of this process during the operation; self time per run */
  cpu: ProfileSummary;
  /** where this process and the podns processes it started slept in the kernel meanwhile */
  kernel: StackWindow;
}

/**
 * Runs the four operations `runs` more times, each one alone under the V8 profiler and the kernel
 * stack sampler (both switched on just before and off just after it; none of these runs is in the table).
 */
export async function profileLibrary(root: string, runs: number): Promise<Record<Op, OpProfile>> {
  const profiles: Record<Op, CpuProfile[]> = { create: [], run: [], exec: [], delete: [] };
  const windows: Record<Op, StackWindow[]> = { create: [], run: [], exec: [], delete: [] };
  const sampler = await stackSampler(process.pid, { comms: PODNS_COMMS });
  try {
    for (let i = 0; i < runs; i++) {
      const pod = `prof-${i}`;
      for (const op of OPS) {
        const { result, stacks } = await sampler.window(() => cpuProfile(() => step(op, root, pod)));
        profiles[op].push(result.profile);
        windows[op].push(stacks);
      }
    }
  } finally {
    await sampler.close();
  }
  const out = {} as Record<Op, OpProfile>;
  for (const op of OPS) out[op] = { cpu: summarizeProfile(profiles[op]), kernel: mergeStacks(windows[op]) };
  return out;
}
