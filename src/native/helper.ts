// The command-line contract of podns-helper (native/helper/*.c, docs/DESIGN.md "podns-helper"), in one
// place: the argv of each mode (shim, exec, sandbox), the error line the helper writes when a mode fails
// before its program runs, the shim's ready line, and how a watcher is recognised from its cmdline.
//
// Callers give typed options; only this module spells flags. Adding a flag = one optional field in the
// options interface + one line in the builder (emitted only when the field is set, so an option the
// caller does not use never reaches an older helper). Values are passed as separate argv entries, never
// through a shell. The builders do not validate what the caller's own API checks (names, ids); the
// helper refuses what it cannot parse with an "error EINVAL args: ..." line.

/** argv[0] of every helper process: gc and `podns ns` recognise our processes by it (comm). */
export const HELPER_ARGV0 = 'podns-helper';

/** A namespace to join by file: a pin (ROOT/pods/POD/ns/net), /run/netns/NAME or /proc/PID/ns/TYPE. */
export interface NsPath {
  type: string;
  path: string;
}

export interface ShimArgvOptions {
  /** the container's directory (status.json, current.log); first, see isShimOf */
  dir: string;
  /** fd of the ready pipe in the shim */
  readyFd: number;
  /** fd of a pipe the shim waits on before anything else: one byte = go on, EOF = exit (nothing made) */
  startFd?: number;
  /** the caller detached it (native.spawn detach+setsid, CLONE_NEWPID with newPidNs): no fork of its own */
  detached?: boolean;
  /** joined by the watcher (net, ipc, uts, cgroup) */
  namespaces?: NsPath[];
  /** the pod's pid namespace to join, or 'new' (the watcher is PID 1 of a new one) */
  pidNs?: string | 'new';
  rootfs?: string;
  /** upper/work directory of an overlay on a shared (image) rootfs */
  overlay?: string;
  /** more overlay lower dirs below rootfs, top first (an image's other layers); needs rootfs and overlay */
  lowers?: readonly string[];
  binds?: Array<{ src: string; dst: string }>;
  /** host paths (recursive) on paths resolved in the root, after the binds; opened before the mount ns is made */
  volumes?: Array<{ src: string; sub?: string; dst: string; readonly?: boolean; propagation?: 'private' | 'rslave' | 'rshared' }>;
  hostname?: string;
  uid?: number;
  gid?: number;
  cwd?: string;
  /** K=V\0 entries, read by the shim (values stay out of /proc/PID/cmdline) */
  envFile?: string;
  restart?: string;
  backoffMs?: number;

  // rootfs (issue 10 points 3, 5): masked and read-only paths, read-only rootfs, devices cgroup
  masks?: readonly string[];
  readonlyPaths?: readonly string[];
  readonlyRootfs?: boolean;
  devicesCgroup?: string;
  /** the container's cgroups the workload joins (src/container/limits.ts; made before the shim starts) */
  cgroupDirs?: readonly string[];
  // priv (issue 10 points 2, 4; native/helper/privileges.h): the capability set (bounding; effective and
  // permitted for uid 0), a non-root uid's set, no_new_privs, the seccomp filter, supplementary groups.
  // (ping_group_range is set once per pod netns at create: src/network/pod.ts POD_NET_SYSCTLS.)
  caps?: bigint;
  userCaps?: bigint;
  noNewPrivs?: boolean;
  seccomp?: 'default' | 'unconfined';
  groups?: number[];
  // logs (issue 10 point 7)
  logMaxSize?: number;
  logMaxFiles?: number;
  /** one log file at this absolute path, never rotated by the watcher; SIGUSR1 opens a new one (the CRI) */
  logFile?: string;
  // attach (native/helper/shim_attach.c): an open stdin, a pty; either makes the attach socket
  stdin?: boolean;
  tty?: boolean;

  /** the workload's argv (after --) */
  argv: string[];
}

/** The target of `podns-helper exec`: a pidfd at this fd in the helper, or namespace files. */
export type ExecTarget = { pidfd: number } | { ns: NsPath[] };

export interface ExecArgvOptions {
  target: ExecTarget;
  /** fd on which the helper writes its error line (close-on-exec: EOF = the program was exec'd) */
  errFd?: number;
  tty?: boolean;
  /** with tty: fd on which the helper reads window sizes, lines "COLUMNS ROWS\n" */
  resizeFd?: number;
  uid?: number;
  gid?: number;
  cwd?: string;
  clearEnv?: boolean;
  /** set with --env (visible in /proc/PID/cmdline: containers pass theirs as the helper's environment) */
  env?: Record<string, string>;

  // priv: the same set as the container's main process
  caps?: bigint;
  userCaps?: bigint;
  noNewPrivs?: boolean;
  seccomp?: 'default' | 'unconfined';
  groups?: number[];
  // join these cgroups before exec: the devices cgroup (rootfs), the container's cgroups
  cgroups?: readonly string[];

  argv: string[];
}

function opt(out: string[], flag: string, v: string | number | undefined): void {
  if (v !== undefined) out.push(flag, String(v));
}

function many(out: string[], flag: string, vs: readonly string[] | undefined): void {
  for (const v of vs ?? []) out.push(flag, v);
}

function flag(out: string[], name: string, on: boolean | undefined): void {
  if (on === true) out.push(name);
}

/** The privilege flags shim and exec share (priv's). */
function privilegeArgs(out: string[], o: { caps?: bigint; userCaps?: bigint; noNewPrivs?: boolean; seccomp?: string; groups?: number[] }): void {
  if (o.caps !== undefined) out.push('--caps', o.caps.toString(16));
  if (o.userCaps !== undefined) out.push('--user-caps', o.userCaps.toString(16));
  flag(out, '--no-new-privs', o.noNewPrivs);
  opt(out, '--seccomp', o.seccomp);
  if (o.groups !== undefined && o.groups.length > 0) out.push('--groups', o.groups.join(','));
}

/** `podns-helper shim ...` (without argv[0]). */
export function shimArgv(o: ShimArgvOptions): string[] {
  // '--dir DIR' first: gc and readContainerStatus recognise a watcher by this start of its cmdline
  const out = ['shim', '--dir', o.dir, '--ready-fd', String(o.readyFd)];
  opt(out, '--start-fd', o.startFd);
  flag(out, '--detached', o.detached);
  for (const ns of o.namespaces ?? []) out.push('--ns', `${ns.type}=${ns.path}`);
  if (o.pidNs === 'new') out.push('--new-pid-ns');
  else opt(out, '--pid-ns', o.pidNs);
  opt(out, '--rootfs', o.rootfs);
  opt(out, '--overlay', o.overlay);
  many(out, '--lower', o.lowers);
  for (const b of o.binds ?? []) out.push('--bind', `${b.src}:${b.dst}`);
  for (const v of o.volumes ?? []) {
    out.push('--volume', v.src, '--volume-dst', v.dst);
    if (v.readonly === true || (v.propagation ?? 'private') !== 'private') out.push('--volume-opts', `${v.readonly === true ? 'ro' : 'rw'},${v.propagation ?? 'private'}`);
    opt(out, '--volume-sub', v.sub);
  }
  opt(out, '--hostname', o.hostname);
  opt(out, '--uid', o.uid);
  opt(out, '--gid', o.gid);
  opt(out, '--cwd', o.cwd);
  opt(out, '--env-file', o.envFile);
  opt(out, '--restart', o.restart);
  opt(out, '--backoff-ms', o.backoffMs);
  many(out, '--mask', o.masks);
  many(out, '--readonly-path', o.readonlyPaths);
  flag(out, '--readonly-rootfs', o.readonlyRootfs);
  opt(out, '--devices-cgroup', o.devicesCgroup);
  many(out, '--cgroup-dir', o.cgroupDirs);
  privilegeArgs(out, o);
  opt(out, '--log-max-size', o.logMaxSize);
  opt(out, '--log-max-files', o.logMaxFiles);
  opt(out, '--log-file', o.logFile);
  flag(out, '--stdin', o.stdin);
  flag(out, '--tty', o.tty);
  out.push('--', ...o.argv);
  return out;
}

/** `podns-helper exec ...` (without argv[0]). */
export function execArgv(o: ExecArgvOptions): string[] {
  const out = ['exec'];
  const t = o.target;
  if ('pidfd' in t) out.push('--pidfd', String(t.pidfd));
  else for (const ns of t.ns) out.push('--ns', `${ns.type}=${ns.path}`);
  opt(out, '--errfd', o.errFd);
  flag(out, '--tty', o.tty);
  opt(out, '--resize-fd', o.resizeFd);
  opt(out, '--uid', o.uid);
  opt(out, '--gid', o.gid);
  opt(out, '--cwd', o.cwd);
  flag(out, '--clear-env', o.clearEnv);
  for (const [k, v] of Object.entries(o.env ?? {})) out.push('--env', `${k}=${v}`);
  privilegeArgs(out, o);
  many(out, '--cgroup', o.cgroups);
  out.push('--', ...o.argv);
  return out;
}

/** `podns-helper portforward ...` (without argv[0]): one connection to 127.0.0.1:port in a network namespace. */
export function portForwardArgv(o: { netns: string; port: number }): string[] {
  return ['portforward', '--netns', o.netns, '--port', String(o.port)];
}

/** `podns-helper sandbox -- CMD ARGS...` (without argv[0]). */
export function sandboxArgv(command: string[]): string[] {
  return ['sandbox', '--', ...command];
}

export interface HelperError {
  /** the errno name (ENOENT...), or EINVAL for a usage error */
  code: string;
  /** what failed: "exec", "chdir", "args", "execvp ls", "setns net /run/netns/web"... */
  step: string;
  /** strerror's text, or the helper's own explanation */
  message: string;
}

/**
 * "error <ERRNO> <step>: <message>" (a trailing newline allowed) → its parts; undefined for any other
 * line. The step may hold spaces (exec's "setns net PATH"); it ends at the first ": ".
 */
export function parseHelperError(line: string): HelperError | undefined {
  const m = /^error (E[A-Z0-9]+) (.*?): (.*?)\n?$/.exec(line);
  if (m === null) return undefined;
  return { code: m[1]!, step: m[2]!, message: m[3]! };
}

export interface ShimReady {
  watcherPid: number;
  workloadPid: number;
  startedAt: string;
}

/** The shim's ready line "<watcher pid> <workload pid> <startedAt ISO>"; undefined for any other line. */
export function parseShimReady(line: string): ShimReady | undefined {
  const m = /^(\d+) (\d+) (\S+)\n?$/.exec(line);
  if (m === null) return undefined;
  return { watcherPid: Number(m[1]), workloadPid: Number(m[2]), startedAt: m[3]! };
}

/**
 * The container directory of a watcher, from its /proc/PID/cmdline split at NUL ("podns-helper shim --dir
 * DIR ..."); undefined when the process is not a shim started that way.
 */
export function shimDirOf(cmdline: readonly string[]): string | undefined {
  return cmdline[1] === 'shim' && cmdline[2] === '--dir' ? cmdline[3] : undefined;
}

/** Is this cmdline a shim's (any, with or without --dir)? */
export function isShimCmdline(cmdline: readonly string[]): boolean {
  return cmdline[1] === 'shim';
}

export interface ApplyLayerArgvOptions {
  /** an empty directory: the layer's root */
  dir: string;
  /** lower the helper's byte limit (native/helper/layer.h LAYER_MAX_BYTES); it cannot be raised */
  maxBytes?: number;
  /** lower the helper's entry limit (LAYER_MAX_ENTRIES) */
  maxEntries?: number;
}

/** `podns-helper apply-layer ... DIR` (without argv[0]); the uncompressed tar goes to its stdin. */
export function applyLayerArgv(o: ApplyLayerArgvOptions): string[] {
  const out = ['apply-layer'];
  opt(out, '--max-bytes', o.maxBytes);
  opt(out, '--max-entries', o.maxEntries);
  out.push('--', o.dir);
  return out;
}

export interface ApplyLayerResult {
  /** archive entries written (extension headers not counted) */
  entries: number;
  /** bytes of the stream the helper read, end marker and trailing padding included */
  bytes: number;
  /** the layer has ".wh..wh..opq" at its root: overlayfs ignores opaque on a layer's root, so the layers
   *  below this one must be left out of the stack */
  opaqueRoot: boolean;
}

/** apply-layer's result line "ok ENTRIES BYTES[ opaque-root]"; undefined for any other line (an error line: parseHelperError). */
export function parseApplyLayerResult(line: string): ApplyLayerResult | undefined {
  const m = /^ok (\d+) (\d+)( opaque-root)?\n?$/.exec(line);
  if (m === null) return undefined;
  return { entries: Number(m[1]), bytes: Number(m[2]), opaqueRoot: m[3] !== undefined };
}
