// RuntimeService: containers. CreateContainer records the CRI container (state CREATED: podns has no
// container yet); StartContainer runs it as a podns container (runContainer) with restart policy Never —
// restarts belong to the kubelet — and its log in the CRI's log path; its status comes from the watcher's
// status.json: exit code, finished_at, reason Completed / Error / OOMKilled.
import { status } from '@grpc/grpc-js';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { execCapture, readContainerStatus, removeContainer, reopenContainerLog, runContainer, stopContainers } from '../container/index.js';
import { validateMounts, validateMountTarget, validateProtectedPaths } from '../container/mounts.js';
import { oneLine } from '../errors.js';
import type { MountPropagation, VolumeMount } from '../pod/types.js';
import { validateName } from '../state/names.js';
import type { CriContext } from './context.js';
import { criError, isoToNs, matchId, matchLabels, newId, nowNs } from './convert.js';
import { dropUnnamedImages, lookupImage } from './images.js';
import { limitsOf, specLimits } from './stats.js';
import { hostCgroups, limitWrites } from '../cgroups/index.js';
import { findContainer, findSandbox, listContainers, removeContainerRecord, writeContainer, type ContainerRecord, type ContainerSpec } from './records.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

/** The podns name of a CRI container: its name and attempt (kubelet keeps an old attempt beside a new one). */
function podnsContainerName(name: string, attempt: number): string {
  const suffix = `-${attempt}`;
  return validateName('container', name.slice(0, 63 - suffix.length) + suffix);
}

function logPathOf(dir: string, rel: string): string {
  if (dir === '' || rel === '') return '';
  const full = normalize(isAbsolute(rel) ? rel : join(dir, rel));
  if (!isAbsolute(dir) || (!isAbsolute(rel) && !full.startsWith(normalize(dir) + '/'))) {
    throw criError(status.INVALID_ARGUMENT, `log path "${rel}" leaves the sandbox's log directory "${dir}"`);
  }
  return full;
}

const PROPAGATION: Record<string, MountPropagation> = {
  PROPAGATION_PRIVATE: 'private',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

/**
 * The CRI's mounts as podns volumes, checked (INVALID_ARGUMENT naming the mount). A missing host path is
 * made as a directory, as containerd and dockershim do (kubelet's hostPath type "" relies on it).
 * selinux_relabel is ignored (no SELinux here); image volumes and id-mapped mounts are refused.
 */
function criMounts(list: Msg[] | undefined): VolumeMount[] {
  const out: VolumeMount[] = [];
  for (const m of list ?? []) {
    const where = `mount ${JSON.stringify(m.host_path ?? '')} → ${JSON.stringify(m.container_path ?? '')}`;
    if (m.image?.image) throw criError(status.INVALID_ARGUMENT, `${where}: image volumes are not supported by podns`);
    if ((m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0) throw criError(status.INVALID_ARGUMENT, `${where}: id-mapped mounts are not supported by podns`);
    if (m.recursive_read_only === true && m.readonly !== true) throw criError(status.INVALID_ARGUMENT, `${where}: recursive_read_only needs readonly`);
    const propagation = PROPAGATION[m.propagation ?? 'PROPAGATION_PRIVATE'];
    if (propagation === undefined) throw criError(status.INVALID_ARGUMENT, `${where}: unknown propagation ${String(m.propagation)}`);
    const source = String(m.host_path ?? '');
    try {
      validateMountTarget(m.container_path);
    } catch (err) {
      throw criError(status.INVALID_ARGUMENT, oneLine(err));
    }
    if (isAbsolute(source) && !source.includes('\0') && !existsSync(source)) mkdirSync(source, { recursive: true, mode: 0o755 });
    out.push({ source, target: String(m.container_path ?? ''), ...(m.readonly === true ? { readOnly: true } : {}), ...(propagation !== 'private' ? { propagation } : {}) });
  }
  try {
    return validateMounts(out);
  } catch (err) {
    throw criError(status.INVALID_ARGUMENT, oneLine(err));
  }
}

function protectedList(list: Msg[] | undefined, what: string): string[] | undefined {
  if (list === undefined || list === null || list.length === 0) return undefined; // runc's defaults
  try {
    return validateProtectedPaths(list.map(String), what);
  } catch (err) {
    throw criError(status.INVALID_ARGUMENT, oneLine(err));
  }
}

function specOf(config: Msg, image: string): ContainerSpec {
  const sc = config.linux?.security_context ?? {};
  const env: Record<string, string> = {};
  for (const kv of config.envs ?? []) env[kv.key] = Buffer.isBuffer(kv.value) ? kv.value.toString('utf8') : String(kv.value ?? '');
  const spec: ContainerSpec = { image, command: [...(config.command ?? [])], args: [...(config.args ?? [])], env };
  if (config.working_dir) spec.workingDir = config.working_dir;
  if (sc.run_as_user !== null && sc.run_as_user !== undefined) spec.uid = Number(sc.run_as_user.value);
  if (sc.run_as_group !== null && sc.run_as_group !== undefined) spec.gid = Number(sc.run_as_group.value);
  if (sc.privileged) spec.privileged = true;
  if (sc.capabilities?.add_capabilities?.length) spec.capAdd = [...sc.capabilities.add_capabilities];
  if (sc.capabilities?.drop_capabilities?.length) spec.capDrop = [...sc.capabilities.drop_capabilities];
  if (sc.no_new_privs) spec.noNewPrivileges = true;
  if (sc.readonly_rootfs) spec.readOnlyRootFilesystem = true;
  if (sc.supplemental_groups?.length) spec.supplementalGroups = sc.supplemental_groups.map(Number);
  const seccomp = sc.seccomp?.profile_type;
  if (seccomp === 'Localhost') throw criError(status.INVALID_ARGUMENT, 'seccomp profile Localhost: podns has RuntimeDefault and Unconfined only');
  if (seccomp === 'Unconfined') spec.seccomp = 'Unconfined';
  const mounts = criMounts(config.mounts);
  if (mounts.length > 0) spec.mounts = mounts;
  const masked = protectedList(sc.masked_paths, 'masked path');
  if (masked !== undefined) spec.maskedPaths = masked;
  const ro = protectedList(sc.readonly_paths, 'read-only path');
  if (ro !== undefined) spec.readonlyPaths = ro;
  // the workload's stdin open for Attach (stdin_once: the first session's end of input ends it), its pty
  if (config.stdin === true) spec.stdin = true;
  if (config.stdin === true && config.stdin_once === true) spec.stdinOnce = true;
  if (config.tty === true) spec.tty = true;
  const res = config.linux?.resources;
  if (res) {
    const host = hostCgroups();
    const limits = limitsOf(res, host);
    try {
      limitWrites(host, limits); // checked now: a bad value is this RPC's INVALID_ARGUMENT, not StartContainer's failure
    } catch (err) {
      throw criError(status.INVALID_ARGUMENT, `CreateContainer: linux.resources: ${oneLine(err)}`);
    }
    Object.assign(spec, specLimits(limits));
  }
  return spec;
}

export function createContainer(ctx: CriContext, req: Msg): Msg {
  const s = findSandbox(ctx.root, req.pod_sandbox_id ?? '');
  if (s === undefined) throw criError(status.NOT_FOUND, `pod sandbox "${req.pod_sandbox_id}" not found`);
  if (s.cri.stopped) throw criError(status.FAILED_PRECONDITION, `pod sandbox "${s.cri.id}" is stopped; run a new one`);
  const config = req.config;
  const meta = config?.metadata;
  if (!meta?.name) throw criError(status.INVALID_ARGUMENT, 'CreateContainer: config.metadata.name is required');
  const attempt = Number(meta.attempt ?? 0);
  const name = podnsContainerName(meta.name, attempt);
  const existing = listContainers(ctx.root, [s]);
  if (existing.some((c) => c.name === name)) {
    throw criError(status.ALREADY_EXISTS, `container "${meta.name}" attempt ${attempt} already exists in sandbox ${s.cri.id}; remove it first`);
  }
  const imageName = config.image?.image ?? '';
  const image = lookupImage(ctx, imageName);
  if (image === undefined) throw criError(status.NOT_FOUND, `image "${imageName}" not found in the podns image store; import it (podns image import NAME FILE) or pull it`);
  const logPath = logPathOf(s.cri.logDirectory, config.log_path ?? '');
  const c: ContainerRecord = {
    id: newId(),
    sandboxId: s.cri.id,
    pod: s.pod.name,
    name,
    metadata: { name: meta.name, attempt },
    image: { image: imageName, annotations: { ...(config.image?.annotations ?? {}) }, user_specified_image: config.image?.user_specified_image ?? '' },
    imageRef: image.id,
    labels: { ...(config.labels ?? {}) },
    annotations: { ...(config.annotations ?? {}) },
    logPath,
    mounts: (config.mounts ?? []).map((m: Msg) => ({ container_path: m.container_path, host_path: m.host_path, readonly: m.readonly === true, propagation: m.propagation ?? 'PROPAGATION_PRIVATE' })),
    createdAt: nowNs(),
    spec: specOf(config, image.ref),
    ...(config.linux?.resources ? { resources: { ...config.linux.resources } } : {}),
  };
  writeContainer(ctx.root, c);
  return { container_id: c.id };
}

export async function startContainer(ctx: CriContext, req: Msg): Promise<Msg> {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  if (c.started) throw criError(status.FAILED_PRECONDITION, `container ${c.id} was started already (a CRI container runs once)`);
  if (c.logPath !== '') mkdirSync(dirname(c.logPath), { recursive: true, mode: 0o755 });
  const sp = c.spec;
  await runContainer({
    root: ctx.root,
    ...(ctx.store !== undefined ? { store: ctx.store } : {}),
    pod: c.pod,
    name: c.name,
    image: sp.image,
    ...(sp.command.length > 0 ? { command: sp.command } : {}),
    ...(sp.args.length > 0 ? { args: sp.args } : {}),
    env: sp.env,
    ...(sp.workingDir !== undefined ? { workingDir: sp.workingDir } : {}),
    ...(sp.uid !== undefined ? { uid: sp.uid } : {}),
    ...(sp.gid !== undefined ? { gid: sp.gid } : {}),
    restartPolicy: 'Never',
    ...(sp.privileged ? { privileged: true } : {}),
    ...(sp.capAdd ? { capAdd: sp.capAdd } : {}),
    ...(sp.capDrop ? { capDrop: sp.capDrop } : {}),
    ...(sp.noNewPrivileges ? { noNewPrivileges: true } : {}),
    ...(sp.seccomp ? { seccomp: sp.seccomp } : {}),
    ...(sp.supplementalGroups ? { supplementalGroups: sp.supplementalGroups } : {}),
    ...(sp.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    ...specLimits(sp),
    ...(c.logPath !== '' ? { logFile: c.logPath } : {}),
    ...(sp.mounts !== undefined ? { mounts: sp.mounts } : {}),
    ...(sp.maskedPaths !== undefined ? { maskedPaths: sp.maskedPaths } : {}),
    ...(sp.readonlyPaths !== undefined ? { readonlyPaths: sp.readonlyPaths } : {}),
    ...(sp.stdin === true ? { stdin: true, ...(sp.stdinOnce === true ? { stdinOnce: true } : {}) } : {}),
    ...(sp.tty === true ? { tty: true } : {}),
  });
  writeContainer(ctx.root, { ...c, started: true });
  return {};
}

export async function stopContainer(ctx: CriContext, req: Msg): Promise<Msg> {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined || !c.started) return {};
  // its cgroups go after the answer, on a pool thread (RemoveContainer, or the pod's removal, finishes them otherwise)
  await stopContainers({ root: ctx.root, pod: c.pod, names: [c.name], grace: Math.max(0, Number(req.timeout ?? 0)), background: true });
  return {};
}

export async function removeCriContainer(ctx: CriContext, req: Msg): Promise<Msg> {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) return {};
  if (c.started) await removeContainer({ root: ctx.root, pod: c.pod, name: c.name, background: true });
  removeContainerRecord(ctx.root, c);
  await dropUnnamedImages(ctx, [c.imageRef]);
  return {};
}

type CriState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

function stateOf(ctx: CriContext, c: ContainerRecord): { state: CriState; st: ReturnType<typeof readContainerStatus> } {
  if (!c.started) return { state: 'CONTAINER_CREATED', st: undefined };
  const st = readContainerStatus({ root: ctx.root, pod: c.pod, name: c.name });
  if (st === undefined) return { state: 'CONTAINER_EXITED', st };
  return { state: st.state === 'exited' ? 'CONTAINER_EXITED' : 'CONTAINER_RUNNING', st };
}

function item(ctx: CriContext, c: ContainerRecord): Msg {
  return {
    id: c.id,
    pod_sandbox_id: c.sandboxId,
    metadata: c.metadata,
    image: c.image,
    image_ref: c.imageRef,
    image_id: c.imageRef,
    state: stateOf(ctx, c).state,
    created_at: c.createdAt,
    labels: c.labels,
    annotations: c.annotations,
  };
}

export function containerStatusOf(ctx: CriContext, c: ContainerRecord): Msg {
  const { state, st } = stateOf(ctx, c);
  let reason = '';
  let message = '';
  let exitCode = 0;
  if (state === 'CONTAINER_EXITED') {
    // no code recorded: the watcher died with its workload (a stop's SIGKILL reaches both): killed, 137
    exitCode = st?.exitCode ?? 137;
    if (st === undefined) {
      reason = 'Error';
      message = 'the container\'s state is gone (its directory was removed)';
    } else if (st.reason === 'OOMKilled') reason = 'OOMKilled';
    else reason = exitCode === 0 ? 'Completed' : 'Error';
    if (st?.signal !== null && st?.signal !== undefined) message = `killed by signal ${st.signal}`;
  }
  return {
    id: c.id,
    metadata: c.metadata,
    state,
    created_at: c.createdAt,
    started_at: st !== undefined ? isoToNs(st.startedAt) : '0',
    finished_at: state === 'CONTAINER_EXITED' ? isoToNs(st?.finishedAt) : '0',
    exit_code: exitCode,
    image: c.image,
    image_ref: c.imageRef,
    image_id: c.imageRef,
    reason,
    message,
    labels: c.labels,
    annotations: c.annotations,
    mounts: c.mounts.map((m) => ({ selinux_relabel: false, ...m, propagation: m.propagation ?? 'PROPAGATION_PRIVATE' })),
    log_path: c.logPath,
    resources: c.resources !== undefined ? { linux: c.resources } : null,
  };
}

export function containerStatus(ctx: CriContext, req: Msg): Msg {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  return { status: containerStatusOf(ctx, c), info: req.verbose ? { podns: JSON.stringify({ pod: c.pod, container: c.name }) } : {} };
}

export function listCriContainers(ctx: CriContext, req: Msg): Msg {
  const f = req.filter ?? {};
  const containers = listContainers(ctx.root).map((c) => item(ctx, c)).filter((i: Msg) =>
    matchId(i.id, f.id) && matchId(i.pod_sandbox_id, f.pod_sandbox_id) &&
    (f.state === null || f.state === undefined || f.state.state === i.state) && matchLabels(i.labels, f.label_selector));
  return { containers };
}

export function reopenLog(ctx: CriContext, req: Msg): Msg {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  if (!c.started || !reopenContainerLog({ root: ctx.root, pod: c.pod, name: c.name })) {
    throw criError(status.FAILED_PRECONDITION, `container ${c.id} is not running: no log to reopen`);
  }
  return {};
}

export async function execSync(ctx: CriContext, req: Msg): Promise<Msg> {
  const c = findContainer(ctx.root, req.container_id ?? '');
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${req.container_id}" not found`);
  const timeoutSec = Number(req.timeout ?? 0);
  const r = await execCapture({ root: ctx.root, pod: c.pod, container: c.name, argv: [...(req.cmd ?? [])], timeoutMs: timeoutSec > 0 ? timeoutSec * 1000 : 0 });
  if (r.timedOut) throw criError(status.DEADLINE_EXCEEDED, `ExecSync: command ${JSON.stringify(req.cmd)} timed out after ${timeoutSec} s`);
  return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
}
