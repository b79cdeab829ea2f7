// The image sections of the bench (issue 11), inside the bench sandbox:
//
// pull:  pull + unpack of a 3-layer image of 97 MB of random data (bench/image-fixture.ts, gzip layers) from
//        Debian's docker-registry on 127.0.0.1, by
//          podns    the library's pull in a process of its own (bench/image-pull-worker.ts), a fresh store;
//          podns CLI `podns image pull -q`, a fresh store;
//          skopeo   `skopeo copy docker://… oci:DIR` then `umoci unpack`, a fresh DIR;
//          podman   `podman pull` with a fresh --root/--runroot (only where podman is installed).
//        Every iteration starts each contender cold (a fresh store or directory), the contenders take turns in
//        a rotating order, and before each one the bench's file system is synced, so no one pays for the
//        writeback of another. Whole processes are timed (spawn to exit) for all; podns's own call is shown too.
//        The podns worker also reports its peak RSS (VmHWM) during the pull: a pull streams, so its growth is a
//        constant (PULL_RSS_BUDGET), not a share of the image.
// image-run: time to a running container for an image in the store: the pulled layered image (an overlay of
//        its 3 layers) against the same files imported as a rootfs image (`run` as it was before layers),
//        interleaved, each in a bridge pod made before and deleted after the timing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importImage, pullImage } from '../src/image/index.js';
import { packageRoot } from '../src/native/index.js';
import { processAlive } from '../src/pod/proc.js';
import { createPod, deletePod, runContainer } from './api.js';
import { skopeoCopy, startRegistry, type RunningRegistry } from '../test/helpers/registry.js';
import { BIG_IMAGE_RANDOM_BYTES, makeBigImage, type BigImage } from './image-fixture.js';
import { fmtMs, median, since } from './stats.js';

export const PULL_CONTENDERS = ['podns', 'podns CLI', 'skopeo+umoci', 'podman'] as const;
export type PullContender = (typeof PULL_CONTENDERS)[number];

export interface ImageEnv {
  work: string;
  registry: RunningRegistry;
  image: BigImage;
  /** "127.0.0.1:PORT/bench/big:latest" */
  ref: string;
  /** why podman is not measured, when it is not */
  podmanSkipped?: string;
  close(): Promise<void>;
}

export interface PullTimes {
  /** whole processes, ms, per contender (skopeo+umoci: both, back to back) */
  total: Record<PullContender, number[]>;
  /** the parts: podns's pull call inside its process; skopeo copy; umoci unpack */
  podnsCall: number[];
  skopeoCopy: number[];
  umociUnpack: number[];
  /** the podns worker: RSS once loaded, and peak RSS during the pull (KiB) */
  podnsRssBeforeKiB: number[];
  podnsHwmKiB: number[];
}

/** Unrecorded first rounds: the registry's blobs reach the page cache, the tools their caches of code. */
export const PULL_WARMUP = 1;

/**
 * What a pull may add to its process's peak RSS: a constant, not a share of the image. Measured: +42 MiB for
 * this image and the same for one 3 times as large (layers of 151, 100 and 50 MB): socket and zlib buffers
 * that V8 frees lazily (it collects external memory after tens of MB), never a layer.
 */
export const PULL_RSS_BUDGET = 64 * 1024 * 1024;

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'image-pull-worker.js');
const PODMAN = '/usr/bin/podman';

/** Where the bench writes stores: a disk (STORE is on disk, /var/lib/podns), not the sandbox's /run tmpfs. */
function workBase(): string {
  return process.env.PODNS_BENCH_DIR || '/var/tmp';
}

const WORK_PREFIX = 'podns-bench-image-';

/** What an interrupted run (^C, kill) left in the work base: directories named after a pid that is gone. */
function removeDeadWorkDirs(log: (s: string) => void): void {
  for (const e of readdirSync(workBase())) {
    const m = new RegExp(`^${WORK_PREFIX}(\\d+)-`).exec(e);
    if (m === null || processAlive(Number(m[1]))) continue;
    const dir = path.join(workBase(), e);
    removeTree(dir);
    log(`image: removed ${dir}, left by an interrupted run`);
  }
}

/** Starts the registry, writes the image and pushes it. */
export async function setupImageEnv(log: (s: string) => void, randomBytes = BIG_IMAGE_RANDOM_BYTES): Promise<ImageEnv> {
  removeDeadWorkDirs(log);
  const work = mkdtempSync(path.join(workBase(), `${WORK_PREFIX}${process.pid}-`));
  let registry: RunningRegistry | undefined;
  try {
    const t0 = process.hrtime.bigint();
    const image = makeBigImage(path.join(work, 'fixture'), randomBytes);
    log(`image: fixture written in ${(since(t0) / 1000).toFixed(1)} s: ${image.layers.length} layers, ` +
      `${image.layers.map((l) => `${(l.blobBytes / 1e6).toFixed(1)} MB (${l.files} files)`).join(' + ')}`);
    registry = await startRegistry(path.join(work, 'registry'));
    const ref = `${registry.host}/bench/big:${image.tag}`;
    await skopeoCopy(`oci:${image.layout}:${image.tag}`, `docker://${ref}`, ['--dest-tls-verify=false']);
    const reg = registry;
    return {
      work, registry, image, ref,
      ...(existsSync(PODMAN) ? {} : { podmanSkipped: `${PODMAN} is not installed (apt-get install podman)` }),
      close: async () => {
        await reg.stop();
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

interface Ran {
  ms: number;
  stdout: string;
}

/** Runs ARGV to its end; its wall time. Fails with its stderr's first line when it fails. */
function timed(argv: string[], env?: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { if (stdout.length < 65536) stdout += s; });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { if (stderr.length < 8192) stderr += s; });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      const ms = since(t0);
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`${path.basename(argv[0]!)} ${argv[1] ?? ''} failed (${code ?? sig}): ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`));
    });
  });
}

/** Unmounts whatever a contender left mounted under DIR (podman's overlay driver), then removes DIR. */
function removeTree(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSyncQuiet(['umount', '-l', m]);
  rmSync(dir, { recursive: true, force: true });
}

function spawnSyncQuiet(argv: string[]): void {
  spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
}

/** Writes back the bench file system's dirty pages: the next contender does not pay for the last one's. */
function syncWork(dir: string): void {
  spawnSyncQuiet(['sync', '-f', dir]);
}

async function pullPodns(env: ImageEnv, dir: string, t: PullTimes): Promise<number> {
  const r = await timed([process.execPath, WORKER, path.join(dir, 'store'), env.ref]);
  const line = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ms?: number; rssBeforeKiB?: number; hwmKiB?: number; error?: string };
  if (line.error !== undefined || line.ms === undefined) throw new Error(`podns pull: ${line.error ?? 'no answer'}`);
  t.podnsCall.push(line.ms);
  t.podnsRssBeforeKiB.push(line.rssBeforeKiB ?? NaN);
  t.podnsHwmKiB.push(line.hwmKiB ?? NaN);
  return r.ms;
}

/** `podns image pull -q`, the command a user types (bin/podns.cjs: the bundled CLI). */
async function pullCli(env: ImageEnv, dir: string): Promise<number> {
  const r = await timed([process.execPath, path.join(packageRoot, 'bin', 'podns.cjs'), 'image', 'pull', '--store', path.join(dir, 'store'), '-q', env.ref]);
  if (!/^sha256:[0-9a-f]{64}$/.test(r.stdout.trim())) throw new Error(`podns image pull printed "${r.stdout.trim().slice(0, 200)}", not the digest`);
  return r.ms;
}

async function pullSkopeo(env: ImageEnv, dir: string, t: PullTimes): Promise<number> {
  // skopeo's big blobs go through TMPDIR: the iteration's own directory
  const e = { ...process.env, TMPDIR: dir };
  const a = await timed(['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${env.ref}`, `oci:${path.join(dir, 'oci')}:latest`], e);
  const b = await timed(['umoci', 'unpack', '--image', `${path.join(dir, 'oci')}:latest`, path.join(dir, 'bundle')], e);
  t.skopeoCopy.push(a.ms);
  t.umociUnpack.push(b.ms);
  return a.ms + b.ms;
}

async function pullPodman(env: ImageEnv, dir: string): Promise<number> {
  // its run root must be short (podman refuses more than 50 characters): on /run, a tmpfs, as podman's own is
  const runroot = mkdtempSync('/run/podns-bench-podman-');
  try {
    const r = await timed([PODMAN, '--root', path.join(dir, 'root'), '--runroot', runroot, '--tmpdir', path.join(runroot, 'tmp'),
      '--storage-driver', 'overlay', '--events-backend', 'file', '--cgroup-manager', 'cgroupfs',
      'pull', '--quiet', '--tls-verify=false', env.ref], { ...process.env, TMPDIR: dir });
    return r.ms;
  } finally {
    removeTree(runroot);
  }
}

function emptyPullTimes(): PullTimes {
  return {
    total: { podns: [], 'podns CLI': [], 'skopeo+umoci': [], podman: [] },
    podnsCall: [], skopeoCopy: [], umociUnpack: [], podnsRssBeforeKiB: [], podnsHwmKiB: [],
  };
}

/** N iterations (after WARMUP unrecorded ones), each contender once per iteration, in a rotating order. */
export async function measurePull(env: ImageEnv, n: number, warmup: number, log: (s: string) => void): Promise<PullTimes> {
  const t = emptyPullTimes();
  const who = PULL_CONTENDERS.filter((c) => c !== 'podman' || env.podmanSkipped === undefined);
  for (let i = 0; i < warmup + n; i++) {
    const order = who.map((_, k) => who[(i + k) % who.length]!);
    const scratch = emptyPullTimes();
    const into = i < warmup ? scratch : t;
    const took: string[] = [];
    for (const c of order) {
      const dir = path.join(env.work, `it${i}-${c.replace(/[^a-z]/g, '')}`);
      mkdirSync(dir);
      syncWork(env.work);
      try {
        const ms = c === 'podns' ? await pullPodns(env, dir, into) : c === 'podns CLI' ? await pullCli(env, dir) : c === 'skopeo+umoci' ? await pullSkopeo(env, dir, into) : await pullPodman(env, dir);
        into.total[c].push(ms);
        took.push(`${c} ${(ms / 1000).toFixed(2)} s`);
      } finally {
        removeTree(dir);
      }
    }
    log(`image pull: ${i < warmup ? 'warm-up' : `round ${i - warmup + 1}/${n}`}: ${took.join(', ')}`);
  }
  syncWork(env.work);
  return t;
}

/** podns (the library's worker process, or the CLI) against the fastest baseline, by medians. */
export function pullVerdict(t: PullTimes, who: 'podns' | 'podns CLI' = 'podns'): { fastest: PullContender; ratio: number; line: string } {
  const med = (xs: number[]) => median(xs);
  const bases = (['skopeo+umoci', 'podman'] as const).filter((c) => t.total[c].length > 0);
  const fastest = bases.reduce((a, b) => (med(t.total[b]) < med(t.total[a]) ? b : a));
  const spread = (xs: number[]) => `${fmtMs(med(xs))} (${fmtMs(Math.min(...xs))}-${fmtMs(Math.max(...xs))})`;
  return {
    fastest, ratio: med(t.total[who]) / med(t.total[fastest]),
    line: `podns ${spread(t.total.podns)} (its pull call ${spread(t.podnsCall)}); podns CLI ${spread(t.total['podns CLI'])}; ` +
      bases.map((b) => `${b} ${spread(t.total[b])}`).join('; ') + `; median (min-max), n ${t.total.podns.length}`,
  };
}

// ---- image-run: time to a running container from a stored image ------------------------------------------

export interface ImageRunTimes {
  /** the pulled image: an overlay of its 3 unpacked layers */
  layers: number[];
  /** the same files imported as one rootfs (`image import`, as `run --image` worked before layers) */
  rootfs: number[];
  /** layers minus rootfs, per round (back to back) */
  paired: number[];
}

export interface ImageRunSetup {
  store: string;
  layered: string;
  imported: string;
  /** the pull into this store (ms): a warm registry, a cold store */
  pullMs: number;
}

/** A store of its own holding the pulled image and the same tree imported as a rootfs image. */
export async function prepareImageRun(env: ImageEnv, root: string): Promise<ImageRunSetup> {
  const store = path.join(env.work, 'run-store');
  const t0 = process.hrtime.bigint();
  const pulled = await pullImage({ ref: env.ref, store });
  const pullMs = since(t0);
  const imported = 'bench/big-rootfs:latest';
  await importImage({ root, store, name: imported, source: env.image.rootfs, config: { cmd: env.image.cmd } });
  return { store, layered: pulled.ref, imported, pullMs };
}

async function runOnce(root: string, store: string, pod: string, image: string): Promise<number> {
  await createPod({ root, name: pod });
  try {
    const t0 = process.hrtime.bigint();
    // the image's own command (its config's Cmd: /bin/sleep 3600, the bench's WORKLOAD)
    await runContainer({ root, store, pod, name: 'c', image });
    return since(t0);
  } finally {
    await deletePod({ root, name: pod, grace: 10, force: true });
  }
}

export const IMAGE_RUN_WARMUP = 3;
/**
 * The verdict's noise budget: a run from the layered image may take this much longer than from the rootfs image
 * (median of the per-round differences), the run A/B's budget. Both are overlays (a container never writes to an
 * image); the layered one has 3 lower dirs instead of 1.
 */
export const IMAGE_RUN_BUDGET_MS = 0.5;

/** N rounds (after WARMUP), the two images in turn (AB BA ...), each in a fresh bridge pod. */
export async function measureImageRun(root: string, s: ImageRunSetup, n: number, warmup: number): Promise<ImageRunTimes> {
  const t: ImageRunTimes = { layers: [], rootfs: [], paired: [] };
  for (let i = 0; i < warmup + n; i++) {
    const order = i % 2 === 0 ? (['rootfs', 'layers'] as const) : (['layers', 'rootfs'] as const);
    const r: Record<string, number> = {};
    for (const kind of order) r[kind] = await runOnce(root, s.store, `img-${kind}-${i}`, kind === 'layers' ? s.layered : s.imported);
    if (i < warmup) continue;
    t.layers.push(r.layers!);
    t.rootfs.push(r.rootfs!);
    t.paired.push(r.layers! - r.rootfs!);
  }
  return t;
}
