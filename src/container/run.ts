// runContainer: check, record, start the shim (gated), write config.json, the env file and the cgroups,
// let the shim go, wait for its ready line.
//
// The shim (podns-helper shim, native/helper/shim.c) is started with native.spawnAsync — clone(CLONE_VM|
// CLONE_VFORK) and exec on a libuv pool thread, nothing of Node copied — as soon as the container is
// recorded: its clone, exec and start-up run while this thread writes the container's files, and it waits
// on its start pipe (--start-fd) until they exist; it is spawned detached (spawn's own double fork before exec: the shim
// is never our child, and the intermediate is reaped inside spawn), in a session of its own, and without
// a shared pid namespace born as PID 1 of a new one (CLONE_NEWPID). `--detached` tells the shim that it
// is the watcher itself then: it does not fork again. The watcher reports on the ready pipe once the
// workload has exec'd.
import { closeSync, existsSync, mkdirSync, read as fsRead, readSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { promisify } from 'node:util';
import { isErrno, PodnsError, errnoError } from '../errors.js';
import { faultEnv, faultPoint } from '../fault.js';
import { resolveArgv, resolveImage, type ImageConfig } from '../image/index.js';
import { HELPER_ARGV0, parseHelperError, parseShimReady, shimArgv, type NsPath, type ShimArgvOptions } from '../native/helper.js';
import { executable, helperPath, native } from '../native/index.js';
import { ensurePod } from '../pod/ensure.js';
import { deletePod } from '../pod/delete.js';
import { processAlive } from '../pod/proc.js';
import { updatePod } from '../pod/store.js';
import type { ContainerConfig, ContainerResources, ContainerStatus, PodRecord, VolumeMount } from '../pod/types.js';
import { writeFileNew, writeJsonAtomic } from '../state/files.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot } from '../state/paths.js';
import { resolveStore } from '../state/store-root.js';
import { registerRoot } from '../image/records.js';
import { flattenLayers, overlayAvailable } from '../image/flatten.js';
import { imageLayerDirs } from '../image/layer-dirs.js';
import { ensureImage, type EnsureImageOptions } from '../image/pull.js';
import { resolveImageUser } from '../image/user.js';
import { withStoreLock } from '../image/gc.js';
import { LayerStore } from '../image/layers/store.js';
import type { PullPolicy } from '../image/pull-policy.js';
import { validateLogLimits } from './log-limits.js';
import { validateEnv, validateIds, validateRestartPolicy, validateWorkdir, workloadEnv, type RestartPolicy } from './config.js';
import { devicesCgroupFor, removeDevicesCgroup } from './devices.js';
import { containerCgroupsFor, makeContainerCgroups, removeContainerCgroups, resolveLimits } from './limits.js';
import { hostCgroups, limitWrites } from '../cgroups/index.js';
import { protectedPaths } from './masks.js';
import { validateMounts, validateProtectedPaths } from './mounts.js';
import { validateResources } from './resources.js';
import { privilegeOptions, resolvePrivileges, type SeccompMode } from './privileges.js';
import { stopContainers } from './stop.js';

const readAsync = promisify(fsRead);

export interface RunOptions {
  root?: string;
  /** the image store (absent: PODNS_STORE, else /var/lib/podns) */
  store?: string;
  /**
   * The container's log as one file at this absolute path, rotated by its reader (the CRI's
   * log_directory/log_path: kubelet rotates it and asks for a new one, reopenContainerLog); absent:
   * current.log in the container's directory, rotated by the watcher.
   */
  logFile?: string;
  pod: string;
  name: string;
  image?: string;
  /** pull the image first as this policy says (image/pull-policy.ts); absent: never (the store's image as it is) */
  pull?: PullPolicy;
  /** progress, warnings, insecure registries, platform of that pull */
  pullOptions?: Omit<EnsureImageOptions, 'name' | 'policy' | 'store'>;
  rootfs?: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  uid?: number;
  gid?: number;
  restartPolicy?: RestartPolicy;
  /** first restart delay in ms (doubles up to 5 minutes, as kubelet's CrashLoopBackOff); default 1000 */
  backoffMs?: number;
  /** the root filesystem read-only (manifest: securityContext.readOnlyRootFilesystem) */
  readOnlyRootFilesystem?: boolean;
  /** host paths mounted into the container (src/container/mounts.ts); without a root filesystem the targets must exist */
  mounts?: VolumeMount[];
  /** masked and read-only paths instead of runc's defaults (src/container/masks.ts); ignored when privileged */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** every capability and no seccomp filter (src/container/privileges.ts) */
  privileged?: boolean;
  /** capability names (with or without CAP_, any case) or ALL, added to / dropped from the default set */
  capAdd?: string[];
  capDrop?: string[];
  /** no_new_privs: setuid binaries and file capabilities give nothing (allowPrivilegeEscalation: false) */
  noNewPrivileges?: boolean;
  /** RuntimeDefault (the default: Docker's profile) or Unconfined */
  seccomp?: SeccompMode;
  supplementalGroups?: number[];
  /** refuse to start as uid 0 (Kubernetes' runAsNonRoot), before anything is made */
  runAsNonRoot?: boolean;
  /** the CRI log rotates at this many bytes; default 10 MiB (kubelet's containerLogMaxSize) */
  logMaxSize?: number;
  /** files of the CRI log kept, the previous run's included, 2 or more; default 5 (containerLogMaxFiles) */
  logMaxFiles?: number;
  /** Kubernetes cpu/memory limits and requests: recorded (normalised), shown, enforced (src/container/limits.ts) */
  resources?: ContainerResources;
  /** memory limit in bytes (`--memory 32m`: parseMemorySize) */
  memory?: number;
  /** CPU limit as a number of CPUs (`--cpus 0.5`: quota 50000 per 100000 µs) */
  cpus?: number;
  /** the CFS period for cpus in µs (the CRI's cpu_period; default 100000) */
  cpuPeriod?: number;
  /** memory plus swap in bytes (`--memory-swap`; -1: unlimited swap); needs memory */
  memorySwap?: number;
  /** relative CPU weight 2-262144 (`--cpu-shares`; v2: cpu.weight by the kubelet's map) */
  cpuShares?: number;
  /** the CPUs it may run on, such as "0-1,3" (`--cpuset-cpus`) */
  cpusetCpus?: string;
  /** the memory nodes it may use, such as "0" (the CRI's cpuset_mems) */
  cpusetMems?: string;
  /** cgroup v2 files and values written as given (the CRI's unified; refused on v1) */
  unified?: Record<string, string>;
  /** most processes and threads at once (`--pids-limit N`; -1 unlimited; default DEFAULT_PIDS_LIMIT) */
  pidsLimit?: number;
  /** keep the workload's stdin open for attach clients (`run -i`, the CRI's and a manifest's stdin) */
  stdin?: boolean;
  /** with stdin: the first attach session that ends its stdin ends the workload's (stdinOnce) */
  stdinOnce?: boolean;
  /** a pty as the workload's terminal and stdio (`run -t`, tty) */
  tty?: boolean;
}

/** The namespaces a container joins: the pod's pins, and its pid namespace or a new one. */
export function containerNamespaces(rec: PodRecord): Pick<ShimArgvOptions, 'namespaces' | 'pidNs'> {
  const namespaces: NsPath[] = [];
  for (const ns of rec.namespaces) {
    if (ns.type !== 'net' && ns.type !== 'ipc' && ns.type !== 'uts') continue;
    // host network: the pod has no netns of its own and the container stays in ours
    if (ns.type === 'net' && rec.networkMode.kind === 'host') continue;
    namespaces.push({ type: ns.type, path: ns.path });
  }
  if (!rec.sharePid) return { namespaces, pidNs: 'new' };
  const pin = rec.namespaces.find((n) => n.type === 'pid');
  if (pin !== undefined) return { namespaces, pidNs: pin.path };
  if (rec.pause === undefined || !processAlive(rec.pause.pid, rec.pause.startTime)) {
    throw new PodnsError('EPAUSE', `pod "${rec.name}" shares one pid namespace, but its pause process is not running; run 'podns repair ${rec.name}' or delete the pod`);
  }
  return { namespaces, pidNs: `/proc/${rec.pause.pid}/ns/pid` };
}

/** The pod's /etc/hosts, hostname and resolv.conf, bind-mounted into the container. */
function etcBinds(root: string, pod: string): Array<{ src: string; dst: string }> {
  const out: Array<{ src: string; dst: string }> = [];
  for (const f of ['hosts', 'hostname', 'resolv.conf']) {
    const src = `${paths.podEtc(root, pod)}/${f}`;
    if (existsSync(src)) out.push({ src, dst: `/etc/${f}` });
  }
  return out;
}

export function envFile(root: string, pod: string, name: string): string {
  return join(paths.container(root, pod, name), 'env');
}

/**
 * K=V entries separated by NUL bytes, for the shim's --env-file. Written once into the container's new
 * directory before the shim that reads it starts (O_EXCL, no temporary file: nothing reads it earlier,
 * and a run killed part way leaves a container that never started, removed with its pod).
 */
export function writeEnvFile(root: string, rec: PodRecord, config: ContainerConfig): void {
  writeFileNew(envFile(root, rec.name, config.name), workloadEnv(config, rec).map((e) => `${e}\0`).join(''));
}

/** The shim's fds: 3 the ready pipe, 4 the start pipe (launchShim). */
const READY_FD = 3;
const START_FD = 4;

/** The shim's options for this container (spelled as flags by shimArgv). */
export function shimOptions(root: string, rec: PodRecord, config: ContainerConfig, backoffMs?: number): ShimArgvOptions {
  const dir = paths.container(root, rec.name, config.name);
  return {
    dir,
    readyFd: READY_FD,
    detached: true,
    ...containerNamespaces(rec),
    ...(config.rootfs !== undefined ? { rootfs: config.rootfs } : {}),
    // an image's rootfs is shared: the container writes to an overlay upper dir of its own (unless it has a
    // copy of its own: no overlay on this machine)
    ...(config.rootfs !== undefined && config.image !== undefined && config.rootfsCopy !== true ? { overlay: join(dir, 'rootfs') } : {}),
    ...(config.lowerDirs !== undefined && config.lowerDirs.length > 0 ? { lowers: config.lowerDirs } : {}),
    binds: etcBinds(root, rec.name),
    ...(config.mounts !== undefined && config.mounts.length > 0
      ? { volumes: config.mounts.map((m) => ({ src: m.source, ...(m.subPath !== undefined ? { sub: m.subPath } : {}), dst: m.target, ...(m.readOnly === true ? { readonly: true } : {}), ...(m.propagation !== undefined ? { propagation: m.propagation } : {}) })) }
      : {}),
    ...(config.uid !== undefined ? { uid: config.uid } : {}),
    ...(config.gid !== undefined ? { gid: config.gid } : {}),
    ...(config.workingDir !== undefined ? { cwd: config.workingDir } : {}),
    ...privilegeOptions(config),
    // the environment goes in a 0600 file, not in argv: /proc/PID/cmdline is readable by every user
    envFile: envFile(root, rec.name, config.name),
    restart: config.restartPolicy,
    ...(backoffMs !== undefined ? { backoffMs } : {}),
    ...protectedPaths(config),
    ...(config.readOnlyRootFilesystem === true ? { readonlyRootfs: true } : {}),
    // a record from before the limits existed gets the defaults
    ...validateLogLimits(config),
    ...(config.logFile !== undefined ? { logFile: config.logFile } : {}),
    ...(config.devicesCgroup !== undefined ? { devicesCgroup: config.devicesCgroup } : {}),
    ...(config.cgroupDirs !== undefined ? { cgroupDirs: config.cgroupDirs } : {}),
    ...(config.stdin === true ? { stdin: true } : {}),
    ...(config.tty === true ? { tty: true } : {}),
    argv: config.argv,
  };
}

/**
 * How long runContainer waits for the ready line on the JS thread before handing the wait to libuv's
 * pool. A container answers in a few milliseconds (measured: 3–4 ms from spawn to the line); a pool read
 * costs two thread wake-ups on the way back (the pool thread, then the event loop through its eventfd),
 * ~0.5 ms on a VM, an eighth of a whole `run`. A watcher that takes longer (a slow mount, a loaded
 * machine) is waited for asynchronously, so the event loop is held up by this much at most.
 */
const READY_SYNC_WAIT_MS = 20;

/**
 * The watcher's one line from the ready pipe, or what came before EOF. The line is the whole answer
 * (the watcher closes the pipe right after it): waiting for the EOF as well would cost one more wake-up.
 */
async function readReady(fd: number): Promise<string> {
  const buf = Buffer.alloc(1024);
  let text = '';
  // the usual case: the line is there within READY_SYNC_WAIT_MS, in one write (well under PIPE_BUF)
  while (native.pollIn(fd, text === '' ? READY_SYNC_WAIT_MS : 0)) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) return text;
    text += buf.toString('utf8', 0, n);
    if (text.includes('\n')) return text;
  }
  for (;;) {
    const { bytesRead } = await readAsync(fd, buf, 0, buf.length, null);
    if (bytesRead === 0) return text;
    text += buf.toString('utf8', 0, bytesRead);
    if (text.includes('\n')) return text;
  }
}

/** The watcher's answer other than a ready line → an Error shaped like Node's errno errors. */
function shimError(line: string, config: ContainerConfig): Error {
  const e = parseHelperError(line);
  if (e === undefined) return new PodnsError('ESHIM', `the container's watcher failed to start: ${line || 'no answer'}`);
  const { code, step, message: msg } = e;
  if (step === 'exec' && code === 'ENOENT') {
    return new PodnsError('ENOENT', `cannot run "${config.argv[0]}" in container "${config.name}": not found${config.rootfs ? ' in its root filesystem' : ''}; check the command after --`);
  }
  if (step === 'chdir') return new PodnsError(code, `cannot start container "${config.name}": working directory ${msg}; check --workdir`);
  if (step === 'args') return new PodnsError('EINVAL', `cannot start container "${config.name}": ${msg}`);
  const err = errnoError(code, step, msg);
  err.message = `cannot start container "${config.name}": ${step}: ${code} (${msg})`;
  return err;
}

/** A watcher spawned ahead of its container's files: it waits (--start-fd) until go() or cancel(). */
interface LaunchedShim {
  /** The container's directory, env file and cgroups exist: let it run. Resolves once the workload runs;
      throws the shim's error otherwise. */
  go(): Promise<ContainerStatus>;
  /** A step before go() failed: the shim reads EOF and exits without touching anything. */
  cancel(): Promise<void>;
}

/**
 * Spawns the shim on a libuv pool thread (native.spawnAsync: clone and exec of the helper run while the
 * caller writes the container's files and makes its cgroups), gated on the start pipe: it touches nothing
 * before go(). If we die first, the start pipe's write end goes with us and the shim exits on its EOF.
 */
function launchShim(root: string, rec: PodRecord, config: ContainerConfig, backoffMs?: number): LaunchedShim {
  const helper = executable(helperPath);
  const opts = { ...shimOptions(root, rec, config, backoffMs), startFd: START_FD };
  const [r, w] = native.pipe();
  let startR: number | undefined;
  let startW: number | undefined;
  let spawned: Promise<number>;
  try {
    [startR, startW] = native.pipe();
    spawned = native.spawnAsync({
      path: helper,
      argv: [HELPER_ARGV0, ...shimArgv(opts)],
      // the shim's own environment (not the workload's): lets gc tell whose watcher a process is
      env: [`PODNS_ROOT=${root}`, `PODNS_POD=${rec.name}`, `PODNS_CONTAINER=${config.name}`, ...faultEnv()],
      cwd: '/',
      fds: [[READY_FD, w], [START_FD, startR]],
      detach: true,
      setsid: true,
      // --new-pid-ns (a pod without a shared pid namespace): the watcher is PID 1 of the container's own pid
      // namespace
      ...(opts.pidNs === 'new' ? { cloneFlags: native.CLONE_NEWPID } : {}),
    });
  } catch (err) {
    for (const fd of [r, w, startR, startW]) if (fd !== undefined) closeSync(fd);
    throw err;
  }
  // the fds the spawn hands on stay open until it settles; then our copies go (the ready pipe's write end
  // above all: EOF must come if the watcher dies)
  const readR = r;
  const gateW = startW;
  const gateR = startR;
  const done = spawned.finally(() => {
    closeSync(w);
    closeSync(gateR);
  });
  done.catch(() => undefined); // awaited by go() or cancel()
  return {
    async go() {
      try {
        // one byte into an empty pipe: never blocks. EPIPE: the shim is gone already (its answer, if any,
        // is on the ready pipe)
        writeSync(gateW, 'g');
      } catch (err) {
        if (!isErrno(err, 'EPIPE')) {
          closeSync(gateW);
          await done.catch(() => undefined);
          closeSync(readR);
          throw err;
        }
      }
      closeSync(gateW);
      let text: string;
      try {
        await done;
        text = await readReady(readR);
      } finally {
        closeSync(readR);
      }
      const line = text.split('\n')[0]!.trim();
      const ready = parseShimReady(line);
      if (ready === undefined) throw shimError(line, config);
      // what status.json says at this moment (the watcher wrote it just before the line)
      return {
        state: 'running', pid: ready.workloadPid, watcherPid: ready.watcherPid, startedAt: ready.startedAt,
        finishedAt: null, exitCode: null, signal: null, restartCount: 0,
      };
    },
    async cancel() {
      closeSync(gateW);
      await done.catch(() => undefined);
      closeSync(readR);
    },
  };
}

/** An absolute, normalised path whose directory exists (the file itself is made by the watcher). */
function validateLogFile(file: string): string {
  if (typeof file !== 'string' || !isAbsolute(file) || normalize(file) !== file || file.includes('\0') || file.endsWith('/')) {
    throw new PodnsError('EINVAL', `invalid log file "${String(file).slice(0, 120)}": give an absolute, normalised file path`);
  }
  if (!existsSync(dirname(file))) throw new PodnsError('ENOENT', `log file ${file}: its directory does not exist; make it first`);
  return file;
}

function absRootfs(dir: string): string {
  let real: string;
  try {
    real = realpathSync(resolve(dir));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new PodnsError('ENOENT', `--rootfs ${dir}: no such directory; give the directory of a root filesystem`);
    throw err;
  }
  if (!statSync(real).isDirectory()) throw new PodnsError('ENOTDIR', `--rootfs ${dir} is not a directory; give the directory of a root filesystem`);
  return real;
}

/**
 * Start a container in a pod (created first with the default bridge network if it does not exist).
 * Returns once the workload runs (has exec'd), with its config and status.
 */
export async function runContainer(o: RunOptions): Promise<{ config: ContainerConfig; status: ContainerStatus }> {
  const root = resolveRoot(o.root);
  validateName('pod', o.pod);
  validateName('container', o.name);
  const env = validateEnv({ ...(o.env ?? {}) });
  const given = validateIds(o.uid, o.gid);
  // checked now with the user given, again below with the image's USER when none is given
  const nonRoot = (uid: number | undefined, from: string): void => {
    if (o.runAsNonRoot === true && (uid === undefined || uid === 0)) {
      throw new PodnsError('ENONROOT', `container "${o.name}" must not run as root (runAsNonRoot), but its user is ${uid === undefined ? 'the default, uid 0' : `uid 0${from}`}; give a non-zero uid (--user / runAsUser)`);
    }
  };
  if (given.uid !== undefined || o.image === undefined) nonRoot(given.uid, '');
  // checked before a pull; computed again below only when the image's USER changes the uid
  const givenPrivileges = resolvePrivileges(o, given.uid);
  const restartPolicy = validateRestartPolicy(o.restartPolicy);
  validateWorkdir(o.workingDir);
  const logLimits = validateLogLimits(o);
  const mounts = validateMounts(o.mounts);
  const maskedPaths = o.maskedPaths !== undefined ? validateProtectedPaths(o.maskedPaths, 'masked path') : undefined;
  const readonlyPaths = o.readonlyPaths !== undefined ? validateProtectedPaths(o.readonlyPaths, 'read-only path') : undefined;
  const resources = validateResources(o.resources);
  // limits (the default pids limit at least): values and controllers checked, once, before anything is made
  const host = hostCgroups();
  const limits = resolveLimits({ ...o, ...(resources !== undefined ? { resources } : {}) }, host);
  const writes = limits !== undefined ? limitWrites(host, limits) : undefined;
  if (o.backoffMs !== undefined && (!Number.isInteger(o.backoffMs) || o.backoffMs < 1 || o.backoffMs > 300000)) {
    throw new PodnsError('EUSAGE', `invalid restart backoff ${o.backoffMs} ms: use 1 to 300000`);
  }
  if (o.image !== undefined && o.rootfs !== undefined) {
    throw new PodnsError('EUSAGE', 'give either --image or --rootfs, not both');
  }
  let rootfs: string | undefined;
  let image: { ref: string; id: string; config: ImageConfig; lowers: string[]; chainIds?: string[] } | undefined;
  const store = resolveStore(o.store);
  if (o.image !== undefined) {
    // before anything is made: a failed pull leaves no pod and no container
    if (o.pull !== undefined) await ensureImage({ ...o.pullOptions, store, name: o.image, policy: o.pull });
    const img = resolveImage({ store, name: o.image });
    const layers = imageLayerDirs(store, img);
    rootfs = layers.dirs[0];
    image = { ref: img.ref, id: img.id, config: img.config, lowers: layers.dirs.slice(1), ...(layers.chainIds !== undefined ? { chainIds: layers.chainIds } : {}) };
  } else if (o.rootfs !== undefined) {
    rootfs = absRootfs(o.rootfs);
  }
  // the image's USER when no user is given (names from the image's own /etc/passwd and /etc/group)
  const ids = given.uid === undefined && image?.config.user !== undefined
    ? { ...resolveImageUser(image.config.user, [rootfs!, ...image.lowers], `image "${image.ref}"`), ...(given.gid !== undefined ? { gid: given.gid } : {}) }
    : given;
  if (given.uid === undefined && o.image !== undefined) nonRoot(ids.uid, ids.uid === 0 && image?.config.user !== undefined ? ` (the image's user "${image.config.user}")` : '');
  const privileges = ids.uid === given.uid ? givenPrivileges : resolvePrivileges(o, ids.uid);
  const argv = resolveArgv(image?.config ?? {}, o.command, o.args, image?.ref);
  const workingDir = validateWorkdir(o.workingDir ?? image?.config.workingDir);

  // "On a pod that does not exist, podns run first creates it" — or waits while another process does.
  const ensured = await ensurePod(root, o.pod);
  let rec = ensured.rec;
  const createdPod = ensured.created;

  const config: ContainerConfig = {
    name: o.name,
    pod: o.pod,
    ...(image !== undefined ? { image: image.ref, imageId: image.id } : {}),
    ...(image?.chainIds !== undefined ? { imageLayers: image.chainIds } : {}),
    // no overlay on this machine: the container gets a copy of the layers of its own (src/image/flatten.ts)
    ...(rootfs !== undefined && image !== undefined && !overlayAvailable()
      ? { rootfs: join(paths.container(root, o.pod, o.name), 'rootfs', 'copy'), rootfsCopy: true }
      : {
        ...(rootfs !== undefined ? { rootfs } : {}),
        ...(image !== undefined && image.lowers.length > 0 ? { lowerDirs: image.lowers } : {}),
      }),
    argv,
    env: { ...(image?.config.env ?? {}), ...env },
    ...(workingDir !== undefined ? { workingDir } : {}),
    ...ids,
    restartPolicy: restartPolicy ?? rec.restartPolicy ?? 'Never',
    ...logLimits,
    ...(o.logFile !== undefined ? { logFile: validateLogFile(o.logFile) } : {}),
    createdAt: new Date().toISOString(),
    ...(mounts.length > 0 ? { mounts } : {}),
    ...(maskedPaths !== undefined ? { maskedPaths } : {}),
    ...(readonlyPaths !== undefined ? { readonlyPaths } : {}),
    ...(o.readOnlyRootFilesystem === true ? { readOnlyRootFilesystem: true } : {}),
    ...privileges,
    ...(resources !== undefined ? { resources } : {}),
    ...(o.stdin === true ? { stdin: true, ...(o.stdinOnce === true ? { stdinOnce: true } : {}) } : {}),
    ...(o.tty === true ? { tty: true } : {}),
  };
  const devicesCgroup = devicesCgroupFor(rec, o.name, config);
  if (devicesCgroup !== undefined) config.devicesCgroup = devicesCgroup;
  const cgroups = writes !== undefined ? containerCgroupsFor(rec, o.name, writes, host) : undefined;
  if (cgroups !== undefined) Object.assign(config, { limits, cgroupPath: cgroups.path, cgroupDirs: cgroups.dirs });

  // Recorded before it is made (DESIGN: a crash leaves a record that says what may exist).
  rec = await updatePod({ root, name: o.pod, update: (r) => {
    if (r.phase !== 'ready') throw new PodnsError('EPODNOTREADY', `pod "${o.pod}" is being deleted`);
    if (r.containers.includes(o.name)) {
      throw new PodnsError('EEXIST', `container "${o.name}" already exists in pod "${o.pod}"; choose another --name (containers of a pod are fixed: delete the pod to replace it)`);
    }
    r.containers.push(o.name);
  } });
  faultPoint('container-after-record');
  const dir = paths.container(root, o.pod, o.name);
  // the store learns of this root before the config naming its image exists: gc and rm see the container
  if (image !== undefined) registerRoot(store, root);
  // the watcher starts now (it waits for the files below before it touches anything)
  const shim = launchShim(root, rec, config, o.backoffMs);
  let launched = true;
  let started = false;
  try {
    // a directory the record did not list is a leftover of a crash between these two steps
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(paths.containers(root, o.pod), { recursive: true, mode: 0o700 });
    mkdirSync(dir, { mode: 0o700 });
    if (image?.chainIds !== undefined) {
      // under the store lock (shared): an `image prune` ran wholly before (then its layers are checked to be
      // there still) or runs after, and then this config.json is one of its roots
      const chainIds = image.chainIds;
      await withStoreLock(store, 'sh', async () => {
        new LayerStore(store).lowerDirs(chainIds);
        writeJsonAtomic(paths.containerConfig(root, o.pod, o.name), config);
      });
    } else {
      writeJsonAtomic(paths.containerConfig(root, o.pod, o.name), config);
    }
    writeEnvFile(root, rec, config);
    if (config.rootfsCopy === true) {
      mkdirSync(join(dir, 'rootfs'), { mode: 0o700 });
      await flattenLayers([rootfs!, ...image!.lowers], config.rootfs!);
    }
    faultPoint('container-after-config');
    if (cgroups !== undefined) {
      makeContainerCgroups(cgroups);
      faultPoint('container-after-cgroups');
    }
    launched = false;
    const status = await shim.go();
    started = true;
    faultPoint('container-after-start');
    return { config, status };
  } catch (err) {
    // nothing half-made: the container goes, and the pod too when this run made it
    if (launched) await shim.cancel();
    if (started) await stopContainers({ root, pod: o.pod, names: [o.name], grace: 0 }).catch(() => undefined);
    if (createdPod) {
      await deletePod({ root, name: o.pod, grace: 0 }).catch(() => undefined);
    } else {
      // the watcher removes its cgroup when it fails to start; this is for one that died part way
      await removeDevicesCgroup(config.devicesCgroup).catch(() => undefined);
      await removeContainerCgroups(config).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      try {
        await updatePod({ root, name: o.pod, update: (r) => { r.containers = r.containers.filter((c) => c !== o.name); } });
      } catch {
        // pod deleted meanwhile: nothing to undo
      }
    }
    throw err;
  }
}
