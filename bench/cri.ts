// The CRI section of `npm run bench`: podns's CRI server against containerd's (Debian containerd 1.6 + runc
// + the CNI bridge, started in the bench sandbox by test/cri/containerd.ts), in one run, with the same
// clients, interleaved (podns first in even rounds, containerd first in odd ones).
//
//   up:   RunPodSandbox + CreateContainer + StartContainer, then ContainerStatus says RUNNING
//   down: StopContainer (timeout 0) + StopPodSandbox + RemoveContainer + RemovePodSandbox (kubelet's order)
//
// Timed in the steady state a kubelet keeps a runtime in: first kubelet's polling (poll: ListPodSandbox,
// ListContainers, Status, Version) to both runtimes from both clients, then warm-up rounds, then the timed ones.
//
// Two clients drive both runtimes, by pairs of rounds (lean for two rounds, grpc-js for two: each client sees
// both orders of the runtimes; a runtime's round right after the other's teardown pays for what that
// teardown left running): the lean one (test/cri/lean-client.ts: node:http2 and the protobuf codec, ~0.1-0.3
// ms per call above the HTTP/2 exchange, as kubelet's grpc-go client) gives the headline ratio; the
// @grpc/grpc-js one (test/cri/client.ts, ~0.2-0.4 ms more per call on either runtime) is reported beside it.
// Each client's no-op floor on each runtime (Version, interleaved) is reported too: it is in every RPC of
// both sides, and it is the client's, not the runtime's.
//
// The machine's v1 cgroup migration cost is measured and reported (migrationCost): moving a process into a
// v1 cgroup waits an RCU grace period (cgroup_threadgroup_rwsem) unless the kernel runs that rwsem in
// favordynmods mode; both runtimes move processes (the workload and pause; runc, the shim), so it shifts
// both sides' numbers.
//
// Both serve the same busybox image (podns imports the rootfs; containerd loads a docker archive of it) and
// run `sleep 3600` in it; containerd's sandbox image is podns's own static pause, so the pauses cost the same
// and the difference per pod is the watcher against the shim. podns's server runs as its own process
// (`podns cri serve`, the CLI bundle), as containerd does.
//
// Memory per pod, with MEMORY_PODS pods of one container each on each runtime: PSS from /proc/PID/smaps_rollup
// (pages shared between processes divided among them; RSS counts them in full for each), of the processes each
// pod adds (podns: pause + watcher; containerd: pause + containerd-shim-runc-v2, one shim per sandbox), and the
// daemon's share: (its PSS with the pods - its PSS before) / pods. The workload (sleep) is left out on both sides.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { importImage } from '../src/image/index.js';
import { listPods, readContainerStatus } from './api.js';
import { native, packageRoot } from '../src/native/index.js';
import { makeBusyboxRootfs } from '../test/helpers/busybox.js';
import { writeDockerArchive } from '../test/helpers/docker-archive.js';
import { criClient, type CriClient, type Msg } from '../test/cri/client.js';
import { leanCriClient } from '../test/cri/lean-client.js';
import { containerdMissing, startContainerd, type Containerd } from '../test/cri/containerd.js';
import { since } from './stats.js';
import { memoryOf, migrationCost, type MemoryUse, type MigrationCost } from './system.js';

export type CriSide = 'podns' | 'containerd';
export const CRI_SIDES: readonly CriSide[] = ['podns', 'containerd'];
/** lean: node:http2 + protobuf (test/cri/lean-client.ts), the headline; grpc-js: @grpc/grpc-js (test/cri/client.ts) */
export type CriClientKind = 'lean' | 'grpc-js';
export const CRI_CLIENTS: readonly CriClientKind[] = ['lean', 'grpc-js'];

export interface CriTimes {
  /** run + create + start + status, per round (ms) */
  up: number[];
  down: number[];
  /** up + down */
  total: number[];
  steps: Record<'run' | 'create' | 'start' | 'status' | 'stopContainer' | 'stopSandbox' | 'removeContainer' | 'removeSandbox', number[]>;
}

export interface CriMemorySide {
  pods: number;
  /** bytes per pod, PSS: the pod's own processes (pause + watcher | pause + shim) */
  perPodPss: number;
  perPodRss: number;
  pausePss: number;
  helperPss: number;
  helperRss: number;
  /** the daemon's PSS growth divided by the pods, and its PSS before and with them */
  daemonSharePss: number;
  daemonPssBefore: number;
  daemonPssWith: number;
  helperName: string;
}

export interface CriBench {
  /** rounds per client and runtime */
  n: number;
  snapshotter: string;
  /** per client: the lean one is the headline */
  times: Record<CriClientKind, Record<CriSide, CriTimes>>;
  /** Version (a no-op RPC) per client and runtime, ms, interleaved */
  floor: Record<CriClientKind, Record<CriSide, number[]>>;
  migration?: MigrationCost;
  memory?: Record<CriSide, CriMemorySide>;
}

const SUBNET_PODNS = '10.214.0.0/24';
const SUBNET_CONTAINERD = '10.214.128.0/24';
const WORKLOAD = ['sleep', '3600'];
const FLOOR_CALLS = 200;
const FLOOR_WARMUP = 20;

interface Side {
  kind: CriSide;
  c: CriClient;
  clients: Record<CriClientKind, CriClient>;
  daemonPid(): number;
  sandboxConfig(name: string): Msg;
}

let seq = 0;

function sandboxConfig(name: string, cgroupParent?: string): Msg {
  seq++;
  return {
    metadata: { name, namespace: 'bench', uid: `uid-${name}-${seq}`, attempt: 0 },
    hostname: name, log_directory: '', labels: { bench: 'cri' }, annotations: {},
    linux: cgroupParent !== undefined ? { cgroup_parent: cgroupParent } : {},
  };
}

function emptyTimes(): CriTimes {
  return { up: [], down: [], total: [], steps: { run: [], create: [], start: [], status: [], stopContainer: [], stopSandbox: [], removeContainer: [], removeSandbox: [] } };
}

async function timed<T>(into: number[] | undefined, fn: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  into?.push(since(t0));
  return r;
}

/** One pod with one running container: its ids, and the time of each step when `t` is given. */
async function up(s: Side, name: string, t?: CriTimes): Promise<{ pod: string; ctr: string; ms: number }> {
  const t0 = process.hrtime.bigint();
  const sb = s.sandboxConfig(name);
  const { pod_sandbox_id: pod } = await timed(t?.steps.run, () => s.c.rt('RunPodSandbox', { config: sb }));
  const { container_id: ctr } = await timed(t?.steps.create, () => s.c.rt('CreateContainer', {
    pod_sandbox_id: pod, sandbox_config: sb, config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: WORKLOAD, labels: {} },
  }));
  await timed(t?.steps.start, () => s.c.rt('StartContainer', { container_id: ctr }));
  const st = await timed(t?.steps.status, () => s.c.rt('ContainerStatus', { container_id: ctr }));
  if (st.status.state !== 'CONTAINER_RUNNING') throw new Error(`${s.kind}: container ${ctr} is ${st.status.state} after StartContainer`);
  return { pod, ctr, ms: since(t0) };
}

async function down(s: Side, pod: string, ctr: string, t?: CriTimes): Promise<number> {
  const t0 = process.hrtime.bigint();
  await timed(t?.steps.stopContainer, () => s.c.rt('StopContainer', { container_id: ctr, timeout: 0 }));
  await timed(t?.steps.stopSandbox, () => s.c.rt('StopPodSandbox', { pod_sandbox_id: pod }));
  await timed(t?.steps.removeContainer, () => s.c.rt('RemoveContainer', { container_id: ctr }));
  await timed(t?.steps.removeSandbox, () => s.c.rt('RemovePodSandbox', { pod_sandbox_id: pod }));
  return since(t0);
}

function pidsWhere(pred: (pid: number) => boolean): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) if (/^\d+$/.test(e) && pred(Number(e))) out.push(Number(e));
  return out;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function podnsServer(dir: string, log: (s: string) => void): Promise<{ proc: ChildProcess; socket: string; root: string }> {
  const root = join(dir, 'root');
  const store = join(dir, 'store');
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  await importImage({ root, store, name: 'busybox', source: makeBusyboxRootfs(join(work, 'rootfs')), config: { cmd: ['sh'] } });
  const socket = join(dir, 'cri.sock');
  const env = { ...process.env, PODNS_ROOT: root, PODNS_STORE: store, PODNS_NETNS_DIR: join(dir, 'netns') };
  const proc = spawn(process.execPath, [join(packageRoot, 'bin', 'podns.cjs'), 'cri', 'serve', '--listen', `unix://${socket}`, '--log-level', 'error',
    '--bridge', 'pbcri', '--subnet', SUBNET_PODNS], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const c = criClient(socket);
  try {
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`podns cri serve exited (${proc.exitCode})`);
      if (existsSync(socket)) {
        try {
          await c.rt('Version', {});
          break;
        } catch {
          // not yet
        }
      }
      if (i > 400) throw new Error('podns cri serve did not answer within 20 s');
      await sleep(50);
    }
  } catch (err) {
    // benchCri's clean-up never sees a server that did not come up: stop it here, not leave it running
    if (proc.exitCode === null) proc.kill('SIGKILL');
    throw err;
  } finally {
    c.close();
  }
  log(`cri: podns cri serve up (pid ${proc.pid})`);
  return { proc, socket, root };
}

/** Pause and watcher pids of podns's CRI pods. */
function podnsPodPids(root: string): Array<{ pause?: number; helper?: number }> {
  return listPods({ root }).map((p) => ({
    ...(p.pause ? { pause: p.pause.pid } : {}),
    ...((): { helper?: number } => {
      const name = p.containers[0];
      const st = name !== undefined ? readContainerStatus({ root, pod: p.name, name }) : undefined;
      return st?.watcherPid !== undefined ? { helper: st.watcherPid } : {};
    })(),
  }));
}

/** Pause and shim pids of containerd's pods (one shim per sandbox). */
function containerdPodPids(ct: Containerd): Array<{ pause?: number; helper?: number }> {
  const shims = ct.shims();
  const pauses = pidsWhere((pid) => readOr(`/proc/${pid}/comm`).trim() === 'pause' && readOr(`/proc/${pid}/cgroup`).includes(ct.cgroupParent + '/'));
  const out: Array<{ pause?: number; helper?: number }> = [];
  for (let i = 0; i < Math.max(shims.length, pauses.length); i++) out.push({ ...(pauses[i] ? { pause: pauses[i] } : {}), ...(shims[i] ? { helper: shims[i] } : {}) });
  return out;
}

async function memorySide(s: Side, pods: number, pids: () => Array<{ pause?: number; helper?: number }>, helperName: string): Promise<CriMemorySide> {
  await sleep(300);
  const before = memoryOf(s.daemonPid())?.pss ?? 0;
  const made: Array<{ pod: string; ctr: string }> = [];
  try {
    for (let i = 0; i < pods; i++) made.push(await up(s, `mem-${s.kind.slice(0, 4)}-${i}`));
    await sleep(500); // let the daemons settle (Go's and V8's collectors)
    const with_ = memoryOf(s.daemonPid())?.pss ?? 0;
    const list = pids();
    const mem = (pid: number | undefined): MemoryUse => (pid !== undefined ? memoryOf(pid) : undefined) ?? { pss: 0, rss: 0, private: 0 };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const pauses = list.map((x) => mem(x.pause));
    const helpers = list.map((x) => mem(x.helper));
    return {
      pods: list.length,
      perPodPss: mean(pauses.map((p, i) => p.pss + helpers[i]!.pss)),
      perPodRss: mean(pauses.map((p, i) => p.rss + helpers[i]!.rss)),
      pausePss: mean(pauses.map((p) => p.pss)),
      helperPss: mean(helpers.map((p) => p.pss)),
      helperRss: mean(helpers.map((p) => p.rss)),
      daemonSharePss: (with_ - before) / Math.max(1, pods),
      daemonPssBefore: before,
      daemonPssWith: with_,
      helperName,
    };
  } finally {
    for (const m of made) await down(s, m.pod, m.ctr).catch(() => undefined);
  }
}

/**
 * What a kubelet asks every runtime all the time (PLEG relists sandboxes and containers every second, the
 * status and version checks), sent to both runtimes by both clients, interleaved, before anything is timed.
 * A runtime under a kubelet is in this steady state; a runtime or client that compiles its code as it runs
 * (V8: podns's server and both Node clients) reaches its optimised code only after a few thousand calls,
 * and a timed round before that would measure the compiler. containerd gets the same calls.
 */
const POLL_RPCS = ['ListPodSandbox', 'ListContainers', 'Status', 'Version'] as const;

async function poll(sides: Record<CriSide, Side>, polls: number): Promise<void> {
  for (let j = 0; j < polls; j++) {
    const rpc = POLL_RPCS[j % POLL_RPCS.length]!;
    for (const client of j % 2 === 0 ? CRI_CLIENTS : [...CRI_CLIENTS].reverse()) {
      for (const k of j % 4 < 2 ? CRI_SIDES : [...CRI_SIDES].reverse()) await sides[k].clients[client].rt(rpc, {});
    }
  }
}

export async function benchCri(o: { n: number; warmup: number; polls: number; memoryPods: number; log: (s: string) => void }): Promise<CriBench | { skipped: string }> {
  const missing = containerdMissing();
  if (missing !== undefined) return { skipped: missing };
  const dir = '/run/podns-bench-cri';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let server: { proc: ChildProcess; socket: string; root: string } | undefined;
  let ct: Containerd | undefined;
  const clients: CriClient[] = [];
  try {
    server = await podnsServer(join(dir, 'podns'), o.log);
    const work = join(dir, 'podns', 'work');
    const archive = writeDockerArchive({ rootfs: join(work, 'rootfs'), work, archive: join(work, 'busybox.tar'), tags: ['busybox:latest'], config: { cmd: ['sh'] } });
    const cgroupParent = `/${process.env.PODNS_CGROUP_PARENT || 'podns-bench'}/ctrd-bench`;
    ct = await startContainerd({ dir: join(dir, 'containerd'), subnet: SUBNET_CONTAINERD, bridge: 'ctbench', cgroupParent, images: [archive] });
    o.log(`cri: containerd up (pid ${ct.pid()}, snapshotter ${ct.snapshotter})`);
    const srv = server;
    const ctd = ct;
    const connect = (socket: string): Record<CriClientKind, CriClient> => {
      const cs = { lean: leanCriClient(socket), 'grpc-js': criClient(socket) };
      clients.push(cs.lean, cs['grpc-js']);
      return cs;
    };
    const pcs = connect(srv.socket);
    const ccs = connect(ctd.socket);
    const sides: Record<CriSide, Side> = {
      podns: { kind: 'podns', c: pcs.lean, clients: pcs, daemonPid: () => srv.proc.pid ?? 0, sandboxConfig: (n) => sandboxConfig(n) },
      containerd: { kind: 'containerd', c: ccs.lean, clients: ccs, daemonPid: () => ctd.pid(), sandboxConfig: (n) => sandboxConfig(n, cgroupParent) },
    };
    const times = { lean: { podns: emptyTimes(), containerd: emptyTimes() }, 'grpc-js': { podns: emptyTimes(), containerd: emptyTimes() } };
    o.log(`cri: steady state first: kubelet's polling (${POLL_RPCS.join(', ')}) x${o.polls} per client and runtime, interleaved`);
    await poll(sides, o.polls);
    o.log(`cri: up + down on podns and containerd in turn, x${o.n} each per client (lean, grpc-js) (+${o.warmup} warm-up)`);
    // round i: runtimes in order i % 2, client by pairs of rounds ((i >> 1) % 2): every (client, order) once in 4
    for (let i = 0; i < o.warmup + 2 * o.n; i++) {
      const order: CriSide[] = i % 2 === 0 ? ['podns', 'containerd'] : ['containerd', 'podns'];
      const client = CRI_CLIENTS[(i >> 1) % 2]!;
      for (const k of order) {
        const t = i < o.warmup ? undefined : times[client][k];
        const side = { ...sides[k], c: sides[k].clients[client] };
        const u = await up(side, `b${i}`, t);
        const d = await down(side, u.pod, u.ctr, t);
        if (t) {
          t.up.push(u.ms);
          t.down.push(d);
          t.total.push(u.ms + d);
        }
      }
    }
    o.log(`cri: the no-op floor: Version x${FLOOR_CALLS} per client and runtime, interleaved`);
    const floor = { lean: { podns: [] as number[], containerd: [] as number[] }, 'grpc-js': { podns: [] as number[], containerd: [] as number[] } };
    for (let j = 0; j < FLOOR_WARMUP + FLOOR_CALLS; j++) {
      for (const client of j % 2 === 0 ? CRI_CLIENTS : [...CRI_CLIENTS].reverse()) {
        for (const k of j % 4 < 2 ? CRI_SIDES : [...CRI_SIDES].reverse()) {
          await timed(j < FLOOR_WARMUP ? undefined : floor[client][k], () => sides[k].clients[client].rt('Version', {}));
        }
      }
    }
    const migration = await migrationCost();
    if (migration) o.log(`cri: v1 cgroup migration (cgroup.procs write of a sleeping process): ${migration.medianMs.toFixed(3)} ms median, ${migration.verdict}`);
    const result: CriBench = { n: o.n, snapshotter: ctd.snapshotter, times, floor, ...(migration ? { migration } : {}) };
    if (o.memoryPods > 0) {
      o.log(`cri: memory, ${o.memoryPods} pods with one container on each`);
      result.memory = {
        podns: await memorySide(sides.podns, o.memoryPods, () => podnsPodPids(srv.root), 'watcher (podns-helper shim)'),
        containerd: await memorySide(sides.containerd, o.memoryPods, () => containerdPodPids(ctd), 'containerd-shim-runc-v2'),
      };
    }
    return result;
  } finally {
    for (const c of clients) c.close();
    if (ct) await ct.stop();
    if (server) {
      const p = server.proc;
      const c = criClient(server.socket);
      try {
        for (const s of ((await c.rt('ListPodSandbox', {})) as Msg).items as Msg[]) await c.rt('RemovePodSandbox', { pod_sandbox_id: s.id }).catch(() => undefined);
      } catch {
        // the server is gone: the bench's own cleanup deletes what is left
      } finally {
        c.close();
      }
      if (p.exitCode === null) {
        const exited = new Promise((res) => p.once('close', res));
        p.kill('SIGTERM');
        await exited;
      }
    }
    await execa('ip', ['link', 'del', 'pbcri'], { reject: false });
    for (const m of [join(dir, 'podns', 'root', 'pods'), join(dir, 'podns', 'netns')]) {
      try {
        native.umount(m, native.MNT_DETACH);
      } catch {
        // not mounted
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
