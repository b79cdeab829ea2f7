// Profiles, so that a missed target is explained by measurement rather than by a guess:
// - the Node side: V8's sampling CPU profiler (node:inspector in this process, --cpu-prof for a CLI
//   process), reduced to where the self time goes, by function and by source file;
// - the kernel side: bench/floor.ts stackSampler (where the threads sleep in the kernel).
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import * as path from 'node:path';
import { packageRoot } from '../src/native/index.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  /** wall time covered by the profile */
  totalMs: number;
  /** self time by function, largest first ("(idle)": the main thread was waiting) */
  functions: ProfileEntry[];
  /** self time by source file (or by category for V8's pseudo-frames) */
  files: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  let p = url.startsWith('file://') ? url.slice(7) : url;
  if (p.startsWith(packageRoot)) p = path.relative(packageRoot, p);
  return p;
}

/** Where the self time of one or more profiles went; with several (one per CLI run), ms is per run. */
export function summarizeProfile(profiles: CpuProfile | CpuProfile[], top = 12): ProfileSummary {
  const list = Array.isArray(profiles) ? profiles : [profiles];
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let totalUs = 0;
  for (const p of list) {
    totalUs += p.endTime - p.startTime;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    if (!p.samples || !p.timeDeltas) continue;
    for (let i = 0; i < p.samples.length; i++) {
      // the time until the next sample belongs to this sample's node
      const us = p.timeDeltas[i + 1] ?? 0;
      const n = byId.get(p.samples[i]!);
      if (!n) continue;
      const cf = n.callFrame;
      const u = shortUrl(cf.url);
      const name = cf.functionName || (u ? '(anonymous)' : '(native)');
      const key = u ? `${name} ${u}:${cf.lineNumber + 1}` : name;
      fn.set(key, (fn.get(key) ?? 0) + us);
      const fkey = u ? (u.includes('node_modules/') ? u.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, 'node_modules/$1') : u) : name;
      file.set(fkey, (file.get(fkey) ?? 0) + us);
    }
  }
  const runs = Math.max(1, list.length);
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000 / runs, pct: (100 * us) / Math.max(1, totalUs) }));
  return { totalMs: totalUs / 1000 / runs, functions: sorted(fn), files: sorted(file) };
}

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    s.post(method, params ?? {}, (err: Error | null, res?: unknown) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Runs fn under the V8 CPU profiler of this process (100 µs sampling). */
export async function cpuProfile<T>(fn: () => Promise<T>): Promise<{ result: T; profile: CpuProfile }> {
  const s = new Session();
  s.connect();
  try {
    await post(s, 'Profiler.enable');
    await post(s, 'Profiler.setSamplingInterval', { interval: 100 });
    await post(s, 'Profiler.start');
    const result = await fn();
    const { profile } = await post<{ profile: CpuProfile }>(s, 'Profiler.stop');
    return { result, profile };
  } finally {
    s.disconnect();
  }
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}
