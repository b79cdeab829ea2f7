// Limits A/B in one build: create + run with a memory limit (the pod's and the container's, --memory 64m)
// against the same without, interleaved (AB BA AB ...), each pair back to back. Both sides get cgroups (every
// pod and container has them since issue 12): the difference is the limit writes themselves. What a cgroup
// costs at all (on cgroup v1 the first cgroup.procs write of a join waits for an RCU grace period) is the
// run A/B's business (bench/run-ab.ts against a build from before).
import { createPod, deletePod, runContainer } from './api.js';
import { median, since } from './stats.js';
import { WORKLOAD } from './workload.js';

/** The budget: create + run with a memory limit may add this much (median) over the same without. */
export const LIMITS_BUDGET_MS = 0.3;
const MEMORY = 64 * 1024 * 1024;

export interface LimitsTimes {
  createPlain: number[];
  createLimited: number[];
  runPlain: number[];
  runLimited: number[];
  /** (create + run) limited minus plain, per round */
  paired: number[];
}

async function once(root: string, pod: string, limited: boolean): Promise<{ create: number; run: number }> {
  const t0 = process.hrtime.bigint();
  await createPod({ root, name: pod, ...(limited ? { limits: { memory: MEMORY } } : {}) });
  const create = since(t0);
  const t1 = process.hrtime.bigint();
  await runContainer({ root, pod, name: 'c', command: WORKLOAD, ...(limited ? { memory: MEMORY } : {}) });
  const run = since(t1);
  await deletePod({ root, name: pod, grace: 10 });
  return { create, run };
}

export async function measureLimits(root: string, n: number, warmup: number): Promise<LimitsTimes> {
  const t: LimitsTimes = { createPlain: [], createLimited: [], runPlain: [], runLimited: [], paired: [] };
  for (let i = 0; i < warmup + n; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    const r: Record<string, { create: number; run: number }> = {};
    for (const limited of order) r[String(limited)] = await once(root, `lim-${limited ? 'l' : 'p'}-${i}`, limited);
    if (i < warmup) continue;
    const p = r.false!;
    const l = r.true!;
    t.createPlain.push(p.create);
    t.runPlain.push(p.run);
    t.createLimited.push(l.create);
    t.runLimited.push(l.run);
    t.paired.push(l.create + l.run - (p.create + p.run));
  }
  return t;
}

/** Medians: limited minus plain, create + run. */
export function limitsDelta(t: LimitsTimes): { delta: number; pairedMedian: number } {
  const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]!);
  return { delta: median(sum(t.createLimited, t.runLimited)) - median(sum(t.createPlain, t.runPlain)), pairedMedian: median(t.paired) };
}
