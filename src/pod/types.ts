// The records podns keeps on disk (pods/POD/pod.json). They are the contract between
// the pod, container, view and gc code: change them with docs/DESIGN.md.
import type { NsType } from '../../native/podns-native.js';
import type { CgroupLimits } from '../cgroups/plan.js';

export type NetworkMode =
  | { kind: 'bridge'; network: string }
  | { kind: 'none' }
  | { kind: 'pod'; pod: string }
  | { kind: 'host' };

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface PodNetwork {
  /** bridge name, e.g. podns0 */
  bridge: string;
  /** network name (state dir under networks/) */
  network: string;
  ifname: 'eth0';
  /** e.g. 10.89.0.5 */
  ip: string;
  prefixLength: number;
  gateway: string;
  mac?: string;
  /** host-side veth, at most 15 characters */
  hostVeth: string;
  mtu: number;
}

export interface PinnedNamespace {
  type: NsType;
  ino: number;
  dev: number;
  /** bind mount under the state root */
  path: string;
}

export type PodPhase = 'creating' | 'ready' | 'deleting';

export interface PodRecord {
  apiVersion: 'podns/v1';
  name: string;
  uid: string;
  phase: PodPhase;
  /** pid of the podns process doing create/delete/repair, for gc of crashed runs */
  ownerPid?: number;
  /** that process's start time (field 22 of /proc/PID/stat): a recycled pid is not mistaken for it */
  ownerStartTime?: number;
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostname: string;
  sharePid: boolean;
  networkMode: NetworkMode;
  /** the pause; its start time (from /proc/PID/stat, field 22) guards against pid reuse */
  pause?: { pid: number; startTime: number };
  namespaces: PinnedNamespace[];
  /** /run/netns/POD when pinned there */
  netnsPath?: string;
  network?: PodNetwork;
  ports: PortMapping[];
  /** container names in spec order (configs live in containers/NAME/config.json) */
  containers: string[];
  restartPolicy?: 'Never' | 'OnFailure' | 'Always';
  /** the cgroup parent its cgroups live under (`create --cgroup-parent`; absent in records before it: the default) */
  cgroupParent?: string;
  /** PARENT/POD-UID8: the pod's own cgroup in each hierarchy, recorded before it is made (absent: none) */
  cgroupPath?: string;
  /** the pod's cgroup directories, one per hierarchy (the pause's leaf, _pause, is under each) */
  cgroupDirs?: string[];
  /** the pod's own totals (`create --memory/--cpus/...`) */
  limits?: CgroupLimits;
}

/** Kubernetes compute resources, normalised (src/container/resources.ts): cpu "500m" / "2", memory "128Mi" / "1G". */
export interface ResourceList {
  cpu?: string;
  memory?: string;
}

/** resources.limits / resources.requests; requests defaulted from limits as the API server does */
export interface ContainerResources {
  limits?: ResourceList;
  requests?: ResourceList;
}

/** How mounts below a volume travel between the host and the container (the CRI's MountPropagation). */
export type MountPropagation = 'private' | 'rslave' | 'rshared';

/** A host path mounted into a container (run -v, manifest hostPath/emptyDir, CRI mounts; src/container/mounts.ts). */
export interface VolumeMount {
  /** the host's absolute path (recursive bind) */
  source: string;
  /** a relative path below source (a manifest's subPath): resolved with source as its root, made where missing */
  subPath?: string;
  /** the absolute path in the container, resolved inside its root */
  target: string;
  readOnly?: boolean;
  /** default private */
  propagation?: MountPropagation;
}

export interface ContainerConfig {
  name: string;
  pod: string;
  /** the image's name as given to run (or in the manifest) */
  image?: string;
  /** the image's id (its manifest digest; src/image/records.ts): what image rm and gc look for */
  imageId?: string;
  /** ChainIDs of the image's layers, bottom first: GC roots for the unpacked layers under the overlay */
  imageLayers?: string[];
  /** the root filesystem: an imported image's, --rootfs, or the top layer of an image's overlay */
  rootfs?: string;
  /** the image's other layers below rootfs, top first (overlay lower dirs) */
  lowerDirs?: string[];
  /** the rootfs is the container's own copy of the layers (no overlay here): no upper dir over it */
  rootfsCopy?: boolean;
  /** the argv that runs (after image entrypoint/cmd resolution) */
  argv: string[];
  env: Record<string, string>;
  workingDir?: string;
  uid?: number;
  gid?: number;
  restartPolicy: 'Never' | 'OnFailure' | 'Always';
  /** the CRI log rotates at this many bytes (src/container/log-limits.ts; absent in old records: the default) */
  logMaxSize?: number;
  /** files of the CRI log kept, the previous run's included */
  logMaxFiles?: number;
  /** the log is this one file (shim --log-file; the CRI's log path), rotated by its reader, not current.log */
  logFile?: string;
  createdAt: string;
  /** paths masked / bound read-only instead of runc's defaults (src/container/masks.ts; the CRI's lists) */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** host paths mounted into the container, in mount order (parents first) */
  mounts?: VolumeMount[];
  /** the root filesystem is mounted read-only (/dev, /dev/shm, /proc and the pod's /etc files are not) */
  readOnlyRootFilesystem?: boolean;
  /** the v1 devices cgroup the workload and exec sessions join (src/container/devices.ts); recorded before it is made */
  devicesCgroup?: string;
  // Privileges (src/container/privileges.ts). A record without `capabilities` predates them: its processes
  // run with what the helper had (exec of such a container passes no privilege flags either).
  /** --privileged: every capability, no seccomp filter (rootfs: no masked paths, no devices cgroup) */
  privileged?: boolean;
  /** the capability set (bounding; effective and permitted for uid 0), names without CAP_, by number */
  capabilities?: string[];
  /** a non-root uid's effective/permitted/inheritable/ambient set: the added capabilities (podman's rule) */
  ambientCapabilities?: string[];
  /** prctl(PR_SET_NO_NEW_PRIVS) before exec (allowPrivilegeEscalation: false) */
  noNewPrivileges?: boolean;
  seccomp?: 'RuntimeDefault' | 'Unconfined';
  supplementalGroups?: number[];
  /** recorded and shown (QoS class); its cpu and memory are enforced through `limits` */
  resources?: ContainerResources;
  /** the limits in effect (flags and resources, the default pids limit; src/container/limits.ts); absent: no cgroup (older record, or a host without cgroups) */
  limits?: CgroupLimits;
  /** PARENT/POD-UID8/CONTAINER: the container's cgroup path in each hierarchy; recorded before they are made */
  cgroupPath?: string;
  /** the container's cgroups (one per hierarchy) the workload and exec sessions join */
  cgroupDirs?: string[];
  /** the workload's stdin is a pipe that attach clients write (shim --stdin; run -i, the CRI's stdin) */
  stdin?: boolean;
  /** the first attach session that ends its stdin ends the workload's (src/container/attach.ts) */
  stdinOnce?: boolean;
  /** the workload's stdio is a pty of the container's own devpts (shim --tty; run -t, the CRI's tty) */
  tty?: boolean;
}

export interface ContainerStatus {
  state: 'running' | 'exited' | 'restarting';
  pid: number;
  watcherPid: number;
  startedAt: string;
  finishedAt: string | null;
  exitCode: number | null;
  signal: number | null;
  restartCount: number;
  /** why the last run ended, when the watcher knows: "OOMKilled" (the memory cgroup counted an OOM kill) */
  reason?: 'OOMKilled';
  /** after a restart: how the run before this one ended (kubectl's lastState.terminated) */
  lastState?: { exitCode: number; signal: number | null; finishedAt: string; reason?: 'OOMKilled' };
}
