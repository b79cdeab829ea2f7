// The baselines measured by build/Release/podns-floor (native/bench/floor.c): the kernel floor for a pod,
// for fork+setns+exec, the shell path (unshare + ip + nsenter), and N pods kept alive for scaling.
import { spawn, spawnSync } from 'node:child_process';
import { executable, floorPath, pausePath } from '../src/native/index.js';

export interface FloorPod {
  mode: 'pod' | 'scale' | 'shell';
  n: number;
  ipv6: boolean;
  pause: boolean;
  create_ns: number[];
  delete_ns: number[];
  step_clone_ns?: number[];
  step_socket_ns?: number[];
  step_veth_ns?: number[];
  step_inpod_ns?: number[];
  total_create_ns?: number;
  total_delete_ns?: number;
}

export interface FloorExec {
  mode: 'exec';
  n: number;
  prog: string;
  exec_ns: number[];
  full_ns: number[];
}

export interface FloorOptions {
  ipv6?: boolean;
  /** the pod holder execs the podns pause instead of sleeping in pause(2) */
  pause?: boolean;
  prog?: string;
  /** scale: delete all veths with one RTM_DELLINK of their group (no per-pod delete times) */
  bulkDelete?: boolean;
}

function args(o: FloorOptions): string[] {
  const a: string[] = [];
  if (o.ipv6 !== undefined) a.push('--ipv6', o.ipv6 ? 'on' : 'off');
  if (o.pause) a.push('--pause', executable(pausePath));
  if (o.prog !== undefined) a.push('--prog', o.prog);
  if (o.bulkDelete !== undefined) a.push('--bulk-delete', o.bulkDelete ? 'on' : 'off');
  return a;
}

function run<T>(argv: string[]): T {
  const r = spawnSync(executable(floorPath), argv, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`podns-floor ${argv.join(' ')} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim().split('\n').pop()}`);
  }
  return JSON.parse(r.stdout) as T;
}

export function floorPod(n: number, o: FloorOptions = {}): FloorPod {
  return run<FloorPod>(['pod', String(n), ...args(o)]);
}

export function floorScale(n: number, o: FloorOptions = {}): FloorPod {
  return run<FloorPod>(['scale', String(n), ...args(o)]);
}

export function floorShell(n: number, o: FloorOptions = {}): FloorPod {
  return run<FloorPod>(['shell', String(n), ...args(o)]);
}

export function floorExec(n: number, o: FloorOptions = {}): FloorExec {
  return run<FloorExec>(['exec', String(n), ...args(o)]);
}

export interface StackSample {
  count: number;
  stack: string;
}

export interface StackWindow {
  samples: number;
  stacks: StackSample[];
}

/**
 * A kernel-side wall-clock profiler (podns-floor stacks): while a window is open it samples, every
 * intervalUs, where the threads of `pid` and of every process named in `comms` sleep in the kernel.
 * `window(fn)` measures fn alone; the sampler runs paused in between.
 */
export interface StackSampler {
  window<T>(fn: () => Promise<T>): Promise<{ result: T; stacks: StackWindow }>;
  close(): Promise<void>;
}

export async function stackSampler(pid: number, o: { intervalUs?: number; comms?: string[] } = {}): Promise<StackSampler> {
  const argv = ['stacks', String(pid), '--paused', '--interval', String(o.intervalUs ?? 1000), '--frames', '3'];
  for (const c of o.comms ?? []) argv.push('--comm', c);
  const child = spawn(executable(floorPath), argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const nextLine = () => new Promise<string>((resolve, reject) => {
    const l = lines.shift();
    if (l !== undefined) return resolve(l);
    waiters.push(resolve);
    void closed.then(() => reject(new Error('podns-floor stacks ended early')));
  });
  await nextLine(); // {"ready":true}
  return {
    async window<T>(fn: () => Promise<T>) {
      child.kill('SIGUSR1');
      let result: T;
      try {
        result = await fn();
      } finally {
        child.kill('SIGUSR2');
      }
      const j = JSON.parse(await nextLine()) as StackWindow;
      return { result, stacks: { samples: j.samples, stacks: j.stacks } };
    },
    async close() {
      child.kill('SIGTERM');
      await closed;
    },
  };
}

/** Adds windows together (several runs of the same operation). */
export function mergeStacks(list: StackWindow[], top = 12): StackWindow {
  const m = new Map<string, number>();
  let samples = 0;
  for (const w of list) {
    samples += w.samples;
    for (const s of w.stacks) m.set(s.stack, (m.get(s.stack) ?? 0) + s.count);
  }
  return {
    samples,
    stacks: [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([stack, count]) => ({ stack, count })),
  };
}
