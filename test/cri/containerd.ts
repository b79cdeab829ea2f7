// containerd's CRI, started for a test file (or the bench) inside the test sandbox, as a second CRI endpoint:
// the CRI tests run against it too, to show that they describe the contract and not podns's habits.
//
// Everything it has is under one directory of the caller's (root, state, runc state, socket, config, CNI
// config and IPAM data, logs); it runs in a mount namespace of its own (a holder process made with
// unshare(1)) with a tmpfs over /var/lib, because libcni writes its cache to /var/lib/cni and nothing of a
// test may reach the machine's disk; its overlay mounts and netns pins vanish with that namespace. Its network
// is a CNI bridge conf list written here (the bridge, IPAM host-local, portmap) on a subnet of the caller's,
// in the sandbox's network namespace. Sandboxes get the cgroup parent given (under the run's own parent, so
// the runner's leak check sees what is left), and the sandbox image is podns's static pause, packed as a
// docker archive and loaded with `ctr images import`. stop() removes every sandbox through the CRI, stops
// containerd, kills what is left in its cgroups and mount namespace, deletes the bridge and the cgroups, and
// removes the directory. The machine's /var/lib/containerd and /run/containerd are never used. Its registry
// config_path is a certs.d directory of its own: plainHttpRegistry(HOST) writes HOST/hosts.toml there (server
// http://HOST), read at each pull, so that the pull tests reach their loopback registry over plain HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { detectCgroups, hierarchyMounts } from '../../src/cgroups/index.js';
import { pausePath } from '../../src/native/index.js';
import { processAlive } from '../../src/pod/proc.js';
import { cmdlineOf } from '../../src/views/proc.js';
import { makePauseRootfs, writeDockerArchive } from '../helpers/docker-archive.js';
import { criClient, type CriClient, type Msg } from './client.js';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
const NEEDED = [CONTAINERD, CTR, '/usr/bin/containerd-shim-runc-v2', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local',
  '/usr/lib/cni/portmap', '/usr/lib/cni/loopback', '/usr/bin/unshare', '/usr/bin/nsenter'];
export const CNI_BIN_DIR = '/usr/lib/cni';
/** the sandbox image's name in containerd */
export const PAUSE_IMAGE = 'podns.test/pause:1';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why containerd's CRI cannot run here, or undefined when it can. */
export function containerdMissing(): string | undefined {
  const gone = NEEDED.filter((f) => !existsSync(f));
  if (gone.length === 0) return undefined;
  return `containerd's CRI is not installed (${gone.join(', ')} missing): apt-get install containerd runc containernetworking-plugins`;
}

export interface ContainerdOptions {
  /** a directory of the caller's, empty or missing; everything containerd makes goes under it */
  dir: string;
  /** the pods' subnet, e.g. 10.241.128.0/24 (must not clash with another network of the sandbox) */
  subnet: string;
  /** the CNI bridge's name (at most 15 characters) */
  bridge: string;
  /** cgroupfs parent for the sandboxes, absolute (e.g. /podns-test-TOKEN/ctrd-runtime) */
  cgroupParent: string;
  /** docker archives to load into the k8s.io namespace besides the pause image */
  images?: string[];
}

export interface Containerd {
  /** the CRI socket (a plain path) */
  socket: string;
  dir: string;
  subnet: string;
  bridge: string;
  cgroupParent: string;
  snapshotter: 'overlayfs' | 'native';
  /** `ctr -a SOCKET -n k8s.io ARGS` */
  ctr(args: string[]): Promise<string>;
  /** the daemon's pid (changes on restart) */
  pid(): number;
  /** pids of its runc shims */
  shims(): number[];
  /** lets its CRI pull from HOST ("127.0.0.1:PORT", a test's registry) over plain HTTP: a hosts.toml in the
   * registry config_path (read at each pull, so it may come after the start) */
  plainHttpRegistry(host: string): void;
  /** SIGTERM to containerd and a new one on the same state: containers keep running meanwhile */
  restart(): Promise<void>;
  /** everything removed (see the top of the file); safe to call twice */
  stop(): Promise<void>;
}

function config(o: ContainerdOptions, snapshotter: string): string {
  const d = o.dir;
  const q = (s: string) => JSON.stringify(s);
  return `# containerd for a podns test (test/cri/containerd.ts)
version = 2
root = ${q(join(d, 'root'))}
state = ${q(join(d, 'state'))}
oom_score = 0
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(join(d, 'containerd.sock'))}

[ttrpc]
  address = ${q(join(d, 'containerd.sock.ttrpc'))}

[debug]
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(PAUSE_IMAGE)}
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = ${q(snapshotter)}
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = ${q(join(d, 'runc'))}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${q(join(d, 'certs.d'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(CNI_BIN_DIR)}
    conf_dir = ${q(join(d, 'cni'))}
    max_conf_num = 1
`;
}

function cniConf(o: ContainerdOptions): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: `podns-test-${o.bridge}`,
    plugins: [
      {
        type: 'bridge', bridge: o.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: o.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(o.dir, 'ipam') },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  }, null, 2);
}

function nsOf(pid: number, type: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${type}`);
  } catch {
    return undefined;
  }
}

function pidsWhere(pred: (pid: number) => boolean): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if (processAlive(Number(e)) && pred(Number(e))) out.push(Number(e));
  }
  return out;
}

/** The cgroup parent's directory in every hierarchy. */
function cgroupDirs(parent: string): string[] {
  let mounts: string[] = [];
  try {
    const host = detectCgroups();
    mounts = hierarchyMounts(host);
    if (host.driver === 'v1') {
      for (const extra of ['/sys/fs/cgroup/devices', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']) if (existsSync(extra) && !mounts.includes(extra)) mounts.push(extra);
    }
  } catch {
    // no cgroups: nothing to look at
  }
  return mounts.map((m) => join(m, parent));
}

function procsUnder(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim() !== '') out.push(Number(l));
    } catch {
      // gone meanwhile
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(dir);
  return out;
}

function rmCgroupTree(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) rmCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // still busy: the runner's leak check reports it
  }
}

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (pids.some((pid) => processAlive(pid))) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

export async function startContainerd(o: ContainerdOptions): Promise<Containerd> {
  const missing = containerdMissing();
  if (missing !== undefined) throw new Error(missing);
  const d = o.dir;
  for (const sub of ['', 'root', 'state', 'runc', 'cni', 'ipam', 'images', 'certs.d']) mkdirSync(join(d, sub), { recursive: true, mode: 0o711 });
  const socket = join(d, 'containerd.sock');
  const env = { PATH, ...(process.env.PODNS_TEST_RUN ? { PODNS_TEST_RUN: process.env.PODNS_TEST_RUN } : {}) };
  const logFile = join(d, 'containerd.log');

  // the mount namespace: a holder in a private copy of ours, with a tmpfs over /var/lib
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sleep', 'infinity'], { stdio: 'ignore', env });
  const holderPid = holder.pid;
  if (holderPid === undefined) throw new Error('cannot start unshare(1) for containerd\'s mount namespace');
  const ownMnt = nsOf(process.pid, 'mnt');
  for (let i = 0; i < 500 && (nsOf(holderPid, 'mnt') === ownMnt || !cmdlineOf(holderPid).includes('sleep')); i++) await sleep(5);
  const mnt = nsOf(holderPid, 'mnt');
  if (mnt === undefined || mnt === ownMnt) {
    kill(holderPid, 'SIGKILL');
    throw new Error('unshare --mount did not make a mount namespace for containerd');
  }
  const inNs = (args: string[]) => execa('nsenter', ['-t', String(holderPid), '-m', '--', ...args], { env, reject: false });
  const tmp = await inNs(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/var/lib']);
  if (tmp.exitCode !== 0) {
    kill(holderPid, 'SIGKILL');
    throw new Error(`tmpfs over /var/lib in containerd's mount namespace: ${tmp.stderr}`);
  }

  // overlayfs where the kernel mounts it on this filesystem, else the native (copying) snapshotter
  const probe = join(d, 'probe');
  for (const s of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(probe, s), { recursive: true });
  const ov = await inNs(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${join(probe, 'lower')},upperdir=${join(probe, 'upper')},workdir=${join(probe, 'work')}`, join(probe, 'merged')]);
  const snapshotter = ov.exitCode === 0 ? 'overlayfs' : 'native';
  if (ov.exitCode === 0) await inNs(['umount', join(probe, 'merged')]);
  rmSync(probe, { recursive: true, force: true });

  writeFileSync(join(d, 'config.toml'), config(o, snapshotter));
  writeFileSync(join(d, 'cni', '10-podns-test.conflist'), cniConf(o));

  let daemon: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    daemon = spawn('nsenter', ['-t', String(holderPid), '-m', '--', CONTAINERD, '--config', join(d, 'config.toml')], { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    const c = criClient(socket);
    try {
      const end = Date.now() + 30_000;
      for (;;) {
        if (daemon.exitCode !== null) throw new Error(`containerd exited (${daemon.exitCode}): ${readFileSync(logFile, 'utf8').split('\n').slice(-8).join(' | ')}`);
        try {
          const st = (await c.rt('Status', {})) as Msg;
          const net = (st.status?.conditions ?? []).find((x: Msg) => x.type === 'NetworkReady');
          if (net?.status === true) break;
        } catch {
          // not up yet
        }
        if (Date.now() > end) throw new Error(`containerd's CRI was not ready within 30 s: ${readFileSync(logFile, 'utf8').split('\n').slice(-8).join(' | ')}`);
        await sleep(50);
      }
    } finally {
      c.close();
    }
  };
  const stopDaemon = async (): Promise<void> => {
    const p = daemon;
    if (p === undefined || p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((res) => p.once('close', () => res()));
    p.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!done) {
      p.kill('SIGKILL');
      await exited;
    }
  };
  const ctr = async (args: string[]): Promise<string> => {
    const r = await execa(CTR, ['-a', socket, '-n', 'k8s.io', ...args], { env, reject: false });
    if (r.exitCode !== 0) throw new Error(`ctr ${args.join(' ')}: ${String(r.stderr).trim()}`);
    return String(r.stdout);
  };
  const shims = () => pidsWhere((pid) => {
    const a = cmdlineOf(pid);
    return a[0] !== undefined && a[0].endsWith('containerd-shim-runc-v2') && a.includes(socket);
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // through the CRI first: containers and pauses stopped, CNI DEL (veths, IPs, portmap rules), shims exit
    if (daemon?.exitCode === null) {
      const c = criClient(socket);
      try {
        const items = ((await c.rt('ListPodSandbox', {})) as Msg).items as Msg[];
        for (const s of items) {
          await c.rt('StopPodSandbox', { pod_sandbox_id: s.id }).catch(() => undefined);
          await c.rt('RemovePodSandbox', { pod_sandbox_id: s.id }).catch(() => undefined);
        }
      } catch {
        // the daemon is not answering: the kills below do it
      } finally {
        c.close();
      }
    }
    await stopDaemon();
    // what is left: processes in the sandboxes' cgroups (workloads, pauses), then the shims and the holder
    const cg = cgroupDirs(o.cgroupParent);
    const inCgroups = [...new Set(cg.flatMap(procsUnder))];
    for (const pid of inCgroups) kill(pid, 'SIGKILL');
    const rest = [...shims(), ...pidsWhere((pid) => nsOf(pid, 'mnt') === mnt && pid !== holderPid)];
    for (const pid of rest) kill(pid, 'SIGKILL');
    kill(holderPid, 'SIGKILL');
    await waitGone([...inCgroups, ...rest, holderPid], 10_000);
    for (const dir of cg) rmCgroupTree(dir);
    await execa('ip', ['link', 'del', o.bridge], { reject: false });
    rmSync(d, { recursive: true, force: true });
  };

  try {
    await launch();
    const pauseArchive = writeDockerArchive({ rootfs: makePauseRootfs(join(d, 'images', 'pause-rootfs'), pausePath), work: join(d, 'images'),
      archive: join(d, 'images', 'pause.tar'), tags: [PAUSE_IMAGE], config: { entrypoint: ['/pause'] } });
    for (const a of [pauseArchive, ...(o.images ?? [])]) await ctr(['images', 'import', '--snapshotter', snapshotter, a]);
  } catch (err) {
    await stop();
    throw err;
  }
  holder.unref();
  return {
    socket, dir: d, subnet: o.subnet, bridge: o.bridge, cgroupParent: o.cgroupParent, snapshotter,
    ctr,
    plainHttpRegistry: (host: string) => {
      if (!/^127\.0\.0\.1:\d{1,5}$/.test(host)) throw new Error(`plainHttpRegistry: ${host} is not a loopback registry`);
      mkdirSync(join(d, 'certs.d', host), { recursive: true });
      writeFileSync(join(d, 'certs.d', host, 'hosts.toml'), `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`);
    },
    pid: () => daemon?.pid ?? 0,
    shims,
    restart: async () => {
      await stopDaemon();
      await launch();
    },
    stop,
  };
}
