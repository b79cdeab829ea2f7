// The native addon (build/Release/podns_native.node), declare-only.
// Load it through src/native/index.ts, never directly.
//
// Every kernel failure is thrown as an Error with:
//   code    errno name ('EPERM', 'EINVAL', 'ENOENT', ...)
//   errno   positive errno number
//   syscall the failing call ('setns', 'mount', ...)
//   path    the path or argument involved, when there is one
// A bad argument (wrong type, unknown namespace name) throws a TypeError.

export type NsType = 'net' | 'ipc' | 'uts' | 'pid' | 'mnt' | 'cgroup' | 'user' | 'time';

export interface NsId {
  dev: number;
  ino: number;
}

export interface WaitStatus {
  /** false when WNOHANG was asked and the child is still running */
  exited: boolean;
  /** exit code when it exited normally, else null */
  code: number | null;
  /** signal number when it was killed by a signal, else null */
  signal: number | null;
}

export interface SpawnOptions {
  /** absolute path of the program to execve */
  path: string;
  argv: string[];
  /** 'K=V' strings; default: the current environment */
  env?: string[];
  /**
   * CLONE_NEW* flags for clone(2): the child is born in new namespaces. Other bits: TypeError.
   * CLONE_NEWTIME does not fit clone(2)'s flags; the child does unshare(CLONE_NEWTIME) before execve instead.
   */
  cloneFlags?: number;
  /**
   * namespaces the child joins (setns) before exec, in this order; fd from fs.openSync or pidfdOpen.
   * A pid namespace applies to the program's children only; a time namespace fails (EUSERS): use podns-helper.
   */
  setns?: Array<{ fd: number; nstype: number }>;
  /** sethostname in the child: needs CLONE_NEWUTS in cloneFlags or a setns entry with nstype CLONE_NEWUTS (else TypeError) */
  hostname?: string;
  cwd?: string;
  /** child fd -> parent fd; the child's 0,1,2 default to /dev/null. Listed fds are dup2'd (so lose O_CLOEXEC). */
  fds?: Array<[child: number, parent: number]>;
  /** setsid() in the child */
  setsid?: boolean;
  /**
   * Start the program as a grandchild: spawn's child (the intermediate) clones it, waits for its exec and
   * exits; spawn reaps the intermediate and returns the program's pid. The program is never our child
   * (it is reparented to the nearest subreaper or init): do not waitpid it. cloneFlags apply to it.
   */
  detach?: boolean;
  /** signals that stay blocked across execve (default: the program starts with none blocked); not SIGKILL/SIGSTOP */
  blockSignals?: number[];
}

export const CLONE_NEWNS: number;
export const CLONE_NEWUTS: number;
export const CLONE_NEWIPC: number;
export const CLONE_NEWNET: number;
export const CLONE_NEWPID: number;
export const CLONE_NEWCGROUP: number;
export const CLONE_NEWUSER: number;
export const CLONE_NEWTIME: number;

export const MS_RDONLY: number;
export const MS_NOSUID: number;
export const MS_NODEV: number;
export const MS_NOEXEC: number;
export const MS_BIND: number;
export const MS_REC: number;
export const MS_PRIVATE: number;
export const MS_SLAVE: number;
export const MS_SHARED: number;
export const MNT_DETACH: number;

export const NETLINK_ROUTE: number;

/**
 * unshare(2) on the calling thread. Node is multithreaded: user fails with EINVAL; mnt succeeds but moves only
 * the calling thread (libuv's threadpool, which runs async fs calls, keeps the old mounts): never in Node.
 * setns of mnt/user from Node fails with EINVAL; join them in spawn() (mnt, user) or podns-helper. See src/namespaces.
 */
export function unshare(flags: number): void;
/** setns(2) on the calling thread. fd, or a path opened O_CLOEXEC and closed again. */
export function setns(fdOrPath: number | string, nstype: number): void;
/** stat(/proc/PID/ns/TYPE): what `readlink /proc/PID/ns/net` shows as net:[ino]. pid 'self' allowed. */
export function nsId(pid: number | 'self', type: NsType): NsId;
/** stat of any namespace file (a pin, /proc/PID/ns/x) */
export function nsIdOfPath(path: string): NsId;
/**
 * Creates an empty file at target (mode 0600, O_EXCL: EEXIST when present) and bind-mounts `source`
 * (e.g. /proc/PID/ns/net) onto it. A failed mount removes the file again; its error has path=source, dest=target.
 */
export function nsPin(source: string, target: string): void;
/** umount2(target, MNT_DETACH) then unlink(target). ENOENT when target is missing; a file that is not a mount is just removed. */
export function nsUnpin(target: string): void;

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
export function umount(target: string, flags?: number): void;
/** statx(STATX_MNT_ID): the id of the mount `path` is on (as in /proc/self/mountinfo); undefined before Linux 5.8 */
export function mountId(path: string): number | undefined;
/** lgetxattr(2): the attribute of the path itself (not a symlink's target); undefined when absent (ENODATA). */
export function lgetxattr(path: string, name: string): Buffer | undefined;
/** lsetxattr(2), flags 0 (create or replace). */
export function lsetxattr(path: string, name: string, value: Buffer): void;
/** lremovexattr(2); an absent attribute is no error. */
export function lremovexattr(path: string, name: string): void;

export function sethostname(name: string): void;

/** pidfd_open(pid, 0); the fd is O_CLOEXEC. Close with fs.closeSync. */
export function pidfdOpen(pid: number): number;
/** pidfd_send_signal(fd, sig, NULL, 0) */
export function pidfdSendSignal(pidfd: number, signal: number): void;
/** flock(2). op 'sh' | 'ex' | 'un'. nonblock → EWOULDBLOCK as code 'EAGAIN' when held. */
export function flock(fd: number, op: 'sh' | 'ex' | 'un', nonblock?: boolean): void;
/** flock(fd, LOCK_SH|LOCK_EX) on a libuv pool thread: settles once the lock is taken (or with its errno). */
export function flockAsync(fd: number, op: 'sh' | 'ex'): Promise<void>;
/**
 * rm -rf of dir (absolute) on a libuv pool thread, detaching (MNT_DETACH) every mount met inside it first:
 * a mount is told by its mount id (statx), so the walk never descends into one. Resolves once dir is gone
 * (also when it was gone already); rejects with the errno error of the step that failed (path: that entry).
 * ENOSYS: Linux < 5.8 (no mount ids).
 */
export function removeTreeAsync(dir: string): Promise<void>;
/** removeTreeAsync on the calling thread (gc); throws the errno error. */
export function removeTree(dir: string): void;
/** rmdir of each dir in order on a pool thread; ENOENT counts as done; rejects at the first other failure (path: that dir). */
export function rmdirsAsync(dirs: string[]): Promise<void>;
/** nsUnpin on a pool thread (umount2 MNT_DETACH, then unlink; a file that is not a mount is just removed). */
export function nsUnpinAsync(target: string): Promise<void>;
/**
 * Resolves true once the process of pidfd has exited (zombie or reaped), false after timeoutMs (-1: never).
 * Watched by the event loop (uv_poll on a dup of the pidfd): no thread, no /proc polling; the caller may
 * close pidfd meanwhile.
 */
export function pidfdWait(pidfd: number, timeoutMs: number): Promise<boolean>;
/** pipe2(O_CLOEXEC) → [readFd, writeFd] */
export function pipe(): [number, number];
/**
 * poll(fd, POLLIN, timeoutMs) on the calling thread (it blocks: keep timeouts short). true when fd can be
 * read without blocking (data, or EOF/hang-up), false when the time ran out.
 */
export function pollIn(fd: number, timeoutMs: number): boolean;
/** isatty(3): fd is a terminal (without loading Node's tty module and its streams). */
export function isatty(fd: number): boolean;

/**
 * clone(CLONE_VM|CLONE_VFORK|SIGCHLD|cloneFlags) + the child setup above + execve.
 * Returns once the child has exec'd (or throws the child's errno, with syscall naming the step that failed).
 * The pid is NOT known to libuv: reap it with waitpid(pid) — never waitpid(-1). (detach: nothing to reap.)
 */
export function spawn(opts: SpawnOptions): number;
/**
 * spawn() on a libuv pool thread: the JS thread goes on while the program is cloned and exec'd. Settles once
 * it has exec'd (resolves with the pid) or failed (rejects with the same errors spawn throws; a bad option
 * still throws a TypeError at once). Every fd named in opts (setns, fds) must stay open until it settles.
 */
export function spawnAsync(opts: SpawnOptions): Promise<number>;
/** waitpid(pid, flags) for a pid returned by spawn(). nohang → WNOHANG. */
export function waitpid(pid: number, nohang?: boolean): WaitStatus;

/**
 * socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, protocol), bound, with SO_RCVBUF raised.
 * With netnsFd, the calling thread switches into that netns for the socket() call only and back again
 * before returning: a netlink socket stays bound to the netns it was opened in.
 */
export function nlOpen(protocol: number, netnsFd?: number): number;
/**
 * New, empty namespaces (flags: CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS, any of them) as O_CLOEXEC fds, with
 * no process in them; hostname (needs CLONE_NEWUTS) names the new uts namespace; netlinkProtocol (needs
 * CLONE_NEWNET) also opens a netlink socket inside the new netns, as nlOpen(protocol, netFd) would (`nl`).
 * The calling thread unshares them and goes back to its own within the call. Each namespace lives while
 * something holds it (its fd, a process that joined it, a pin). Close the fds with fs.closeSync.
 * netSysctls (needs CLONE_NEWNET): net.* sysctls written inside the new netns, e.g. {'net.ipv4.ping_group_range': '0 1'}.
 */
export function nsCreate(flags: number, hostname?: string | null, netlinkProtocol?: number | null, netSysctls?: Record<string, string>): { net?: number; ipc?: number; uts?: number; nl?: number };
export function nlSend(fd: number, msg: Buffer): void;
/**
 * nlSend on a libuv pool thread: settles once the kernel has run the request (a link delete waits there for
 * RCU grace periods); its answer is then in the socket for nlRecv. Use a socket no one else reads meanwhile.
 */
export function nlSendAsync(fd: number, msg: Buffer): Promise<void>;
/**
 * One datagram from the kernel into buf; returns its length. Waits at most timeoutMs (then ETIMEDOUT).
 * Datagrams from any other sender (nl_pid != 0) are dropped unread. A datagram larger than buf: EMSGSIZE.
 */
export function nlRecv(fd: number, buf: Buffer, timeoutMs: number): number;
