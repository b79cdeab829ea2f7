// inspectPod: the record joined with the kernel's view — what `podns inspect` prints.
import { hostCgroups } from '../cgroups/detect.js';
import type { CgroupLimits } from '../cgroups/plan.js';
import { devicesSummary } from '../container/devices.js';
import { protectedPaths } from '../container/masks.js';
import { privilegeSummary } from '../container/privileges.js';
import { readContainerConfig, readContainerStatus } from '../container/status.js';
import { limitsSummary } from '../container/limits.js';
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';
import type { NsType } from '../native/index.js';
import { oomScoreAdj } from './proc.js';
import { podQos } from './qos.js';
import { podState, type PodState } from './state.js';
import { readPod } from './store.js';
import type { ContainerConfig, ContainerStatus, PortMapping } from './types.js';
import { podIp } from './validate.js';
import { resolveRoot, type RootOption } from '../state/paths.js';

export interface NamespaceView {
  type: NsType;
  inode: number;
  /** the bind mount under the state root; null for a namespace that is not pinned (pid) */
  pinned: string | null;
  /** /run/netns/POD for net */
  netnsPath?: string;
  /** does the pause (when alive) still run in this namespace? */
  pauseInside?: boolean;
}

/**
 * One container's settings as `podns inspect` shows them. Each concern adds its own fields in
 * containerInspect() below: privileges (capabilities, seccomp, no_new_privs, user and groups); the rootfs
 * adds its masked paths, the log writer its limits.
 */
export interface ContainerInspect {
  name: string;
  image: string | null;
  /** the capability set (bounding); null for a container recorded before podns set one */
  capabilities: string[] | null;
  /** what its main process starts with: the set for uid 0, the added capabilities for another uid */
  effective: string[] | null;
  seccomp: 'RuntimeDefault' | 'Unconfined' | null;
  noNewPrivileges: boolean;
  privileged: boolean;
  user: { uid: number; gid: number | null; supplementalGroups: number[] };
  /** the CRI log's rotation (src/container/log-limits.ts): at most maxSize x maxFiles bytes on disk;
      null for a container recorded before podns rotated logs */
  log: { maxSize: number; maxFiles: number } | null;
  /** /proc and /sys paths masked / made read-only for it (src/container/masks.ts); empty when privileged */
  maskedPaths: readonly string[];
  readonlyPaths: readonly string[];
  readOnlyRootFilesystem: boolean;
  /** the devices cgroup it is confined to (null: none), and what that means */
  devices: { cgroup: string | null; access: string };
  /** the limits in effect and the cgroups that enforce them (src/container/limits.ts); none: no cgroup */
  limits: { memory: number | null; cpus: number | null; cpuShares: number | null; pids: number | null; cgroups: string[]; summary: string };
  /** why the last run ended, when known: "OOMKilled" (its memory cgroup counted an OOM kill); else null */
  reason: string | null;
  /** after a restart: how the run before ended (exit code, signal, time, reason); else null */
  lastState: ContainerStatus['lastState'] | null;
  restartCount: number;
  /** its stdin is open to attach sessions (stdinOnce: the first one's end of input ends it), it has a tty */
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
}

function containerInspect(config: ContainerConfig, st: ContainerStatus | undefined): ContainerInspect {
  const reason = st?.reason;
  const p = privilegeSummary(config);
  const masks = protectedPaths(config);
  return {
    name: config.name,
    image: config.image ?? null,
    capabilities: p.capabilities,
    effective: p.effective,
    seccomp: p.seccomp,
    noNewPrivileges: p.noNewPrivileges,
    privileged: p.privileged,
    user: { uid: config.uid ?? 0, gid: config.gid ?? null, supplementalGroups: p.supplementalGroups },
    log: config.logMaxSize !== undefined && config.logMaxFiles !== undefined ? { maxSize: config.logMaxSize, maxFiles: config.logMaxFiles } : null,
    maskedPaths: masks.masks,
    readonlyPaths: masks.readonlyPaths,
    readOnlyRootFilesystem: config.readOnlyRootFilesystem === true,
    devices: { cgroup: config.devicesCgroup ?? null, access: devicesSummary(config) },
    limits: {
      memory: config.limits?.memory ?? null, cpus: config.limits?.cpus ?? null, cpuShares: config.limits?.cpuShares ?? null,
      pids: config.limits?.pids ?? null, cgroups: config.cgroupDirs ?? [], summary: limitsSummary(config),
    },
    reason: reason ?? null,
    lastState: st?.lastState ?? null,
    restartCount: st?.restartCount ?? 0,
    stdin: config.stdin === true,
    stdinOnce: config.stdinOnce === true,
    tty: config.tty === true,
  };
}

export interface PodInspect {
  name: string;
  uid: string;
  phase: string;
  status: PodState['status'];
  /** Guaranteed, Burstable or BestEffort (src/pod/qos.ts); null if a recorded quantity is unreadable */
  qosClass: ReturnType<typeof podQos>;
  containers: { ready: number; total: number; names: string[]; details: ContainerInspect[] };
  pause: { pid: number | null; alive: boolean; startTime: number | null; oomScoreAdj: number | null };
  hostname: string;
  sharePid: boolean;
  networkMode: string;
  namespaces: NamespaceView[];
  /** the cgroup driver that applies on this host (src/cgroups/detect.ts) and the controllers it offers;
      `reason` when there is none */
  cgroups: { driver: 'v1' | 'v2' | 'none'; controllers: string[]; reason?: string; parent?: string; path?: string; dirs?: string[]; limits?: CgroupLimits };
  network: {
    ifname: 'eth0'; ip: string; prefixLength: number; cidr: string; mac: string | null; gateway: string;
    hostVeth: string; bridge: string; network: string; mtu: number;
  } | { joined: string; ip: string | null } | null;
  ports: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt: string;
}

function pinnedInode(path: string): number | undefined {
  try {
    return native.nsIdOfPath(path).ino;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export function inspectPod(o: RootOption & { name: string }): PodInspect {
  const abs = resolveRoot(o.root);
  const rec = readPod({ root: abs, name: o.name });
  const st = podState({ root: abs, record: rec });
  const pid = st.pauseAlive ? rec.pause!.pid : undefined;
  const namespaces: NamespaceView[] = rec.namespaces.map((ns) => {
    const v: NamespaceView = { type: ns.type, inode: pinnedInode(ns.path) ?? ns.ino, pinned: ns.path };
    if (ns.type === 'net' && rec.netnsPath !== undefined) v.netnsPath = rec.netnsPath;
    if (pid !== undefined) v.pauseInside = native.nsId(pid, ns.type).ino === v.inode;
    return v;
  });
  if (rec.sharePid && pid !== undefined) {
    namespaces.push({ type: 'pid', inode: readPidNsInode(pid), pinned: null });
  }
  let network: PodInspect['network'] = null;
  if (rec.network !== undefined) {
    const n = rec.network;
    network = {
      ifname: 'eth0', ip: n.ip, prefixLength: n.prefixLength, cidr: `${n.ip}/${n.prefixLength}`, mac: n.mac ?? null,
      gateway: n.gateway, hostVeth: n.hostVeth, bridge: n.bridge, network: n.network, mtu: n.mtu,
    };
  } else if (rec.networkMode.kind === 'pod') {
    network = { joined: rec.networkMode.pod, ip: podIp({ root: abs, record: rec }) ?? null };
  }
  return {
    name: rec.name,
    uid: rec.uid,
    phase: rec.phase,
    status: st.status,
    qosClass: podQos({ root: abs, record: rec }),
    containers: {
      ready: st.ready, total: st.total, names: rec.containers,
      // a container whose config.json is not written yet (a run in progress) is left out
      details: rec.containers.map((c) => readContainerConfig({ root: abs, pod: rec.name, name: c })).filter((c): c is ContainerConfig => c !== undefined)
        .map((c) => containerInspect(c, readContainerStatus({ root: abs, pod: rec.name, name: c.name }))),
    },
    pause: {
      pid: rec.pause?.pid ?? null,
      alive: st.pauseAlive,
      startTime: rec.pause?.startTime ?? null,
      // pause asks for -998; without CAP_SYS_RESOURCE the kernel refuses and it stays at 0
      oomScoreAdj: pid !== undefined ? oomScoreAdj(pid) ?? null : null,
    },
    hostname: rec.hostname,
    sharePid: rec.sharePid,
    networkMode: rec.networkMode.kind === 'pod' ? `pod:${rec.networkMode.pod}` : rec.networkMode.kind,
    namespaces,
    cgroups: {
      ...cgroupsView(),
      ...(rec.cgroupParent !== undefined ? { parent: rec.cgroupParent } : {}),
      ...(rec.cgroupPath !== undefined ? { path: rec.cgroupPath, dirs: rec.cgroupDirs ?? [] } : {}),
      ...(rec.limits !== undefined ? { limits: rec.limits } : {}),
    },
    network,
    ports: rec.ports,
    labels: rec.labels,
    annotations: rec.annotations,
    createdAt: rec.createdAt,
  };
}

function cgroupsView(): PodInspect['cgroups'] {
  const h = hostCgroups();
  return h.driver === 'none' ? { driver: 'none', controllers: [], reason: h.reason } : { driver: h.driver, controllers: [...h.controllers] };
}

function readPidNsInode(pid: number): number {
  // pid_for_children would differ only before the first fork; the pause is the namespace's init.
  return native.nsId(pid, 'pid').ino;
}

