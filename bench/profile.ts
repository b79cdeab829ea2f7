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
  /** wall time covered by the profile, per run */
  totalMs: number;
  /** time the samples account for, per run */
  sampledMs: number;
  /** self time by function, largest first ("(idle)": the main thread was waiting) */
  functions: ProfileEntry[];
  /** self time by source file (or by category for V8's pseudo-frames) */
  files: ProfileEntry[];
  /**
   * podns's own functions with their inclusive time (everything they called, natives and syscalls
   * included), largest first: the call tree of an operation, flattened
   */
  inclusive: ProfileEntry[];
  /** self time folded into the nearest podns function up the stack (a syscall counts for its caller) */
  folded: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  let p = url.startsWith('file://') ? url.slice(7) : url;
  if (p.startsWith(packageRoot)) p = path.relative(packageRoot, p);
  return p;
}

/** podns's code: the compiled modules under dist/src, or a bundle of them (dist/podns-cli.*) */
function isOwn(u: string): boolean {
  return u.startsWith('dist/src/') || u.startsWith('dist/podns-cli') || u.startsWith('src/');
}

/** Where the time of one or more profiles went; with several (one per run), ms is per run. */
export function summarizeProfile(profiles: CpuProfile | CpuProfile[], top = 8): ProfileSummary {
  const list = Array.isArray(profiles) ? profiles : [profiles];
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const incl = new Map<string, number>();
  const fold = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
  let totalUs = 0;
  let sampledUs = 0;
  for (const p of list) {
    totalUs += p.endTime - p.startTime;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const keyOf = (n: ProfileNode) => {
      const u = shortUrl(n.callFrame.url);
      const name = n.callFrame.functionName || (u ? '(anonymous)' : '(native)');
      return { key: u ? `${name} ${u}:${n.callFrame.lineNumber + 1}` : name, url: u, name };
    };
    if (!p.samples || !p.timeDeltas) continue;
    for (let i = 0; i < p.samples.length; i++) {
      // the time until the next sample belongs to this sample's node
      const us = p.timeDeltas[i + 1] ?? 0;
      const n = byId.get(p.samples[i]!);
      if (!n) continue;
      sampledUs += us;
      const k = keyOf(n);
      add(fn, k.key, us);
      add(file, k.url ? (k.url.includes('node_modules/') ? k.url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, 'node_modules/$1') : k.url) : k.name, us);
      // up the stack: each podns function once (recursion), the first one takes the folded self time
      const seen = new Set<string>();
      let folded = false;
      for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
        const node = byId.get(id);
        if (!node) break;
        const kk = keyOf(node);
        if (!isOwn(kk.url)) continue;
        if (!folded) {
          add(fold, kk.key, us);
          folded = true;
        }
        if (!seen.has(kk.key)) {
          seen.add(kk.key);
          add(incl, kk.key, us);
        }
      }
      if (!folded) add(fold, k.key, us);
    }
  }
  const runs = Math.max(1, list.length);
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000 / runs, pct: (100 * us) / Math.max(1, sampledUs) }));
  return {
    totalMs: totalUs / 1000 / runs, sampledMs: sampledUs / 1000 / runs,
    functions: sorted(fn), files: sorted(file), inclusive: sorted(incl), folded: sorted(fold),
  };
}

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    s.post(method, params ?? {}, (err: Error | null, res?: unknown) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Runs fn under the V8 CPU profiler of this process (250 µs sampling: finer costs too much in a VM). */
export async function cpuProfile<T>(fn: () => Promise<T>): Promise<{ result: T; profile: CpuProfile }> {
  const s = new Session();
  s.connect();
  try {
    await post(s, 'Profiler.enable');
    await post(s, 'Profiler.setSamplingInterval', { interval: 250 });
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
