// What the CRI keeps beside podns's own state, so that a restarted server serves the same ids and states
// from the state root:
//   a sandbox: the pod annotation "podns.io/cri-sandbox" (JSON), written with the pod's first record, so a
//     podns pod and its CRI identity are made (and removed) together;
//   a container: ROOT/pods/POD/cri/ID.json, written at CreateContainer (before podns has a container: the
//     CRI's "created" state), updated at StartContainer; removed with the container or the pod.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listPods, updatePod } from '../pod/store.js';
import type { PodRecord, VolumeMount } from '../pod/types.js';
import { DIR_MODE, readJsonIfExists, writeJsonAtomic } from '../state/files.js';
import { paths } from '../state/paths.js';

export const SANDBOX_ANNOTATION = 'podns.io/cri-sandbox';

export interface SandboxMeta { name: string; uid: string; namespace: string; attempt: number }

export interface SandboxRecord {
  id: string;
  metadata: SandboxMeta;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** nanoseconds since the epoch */
  createdAt: string;
  logDirectory: string;
  hostNetwork: boolean;
  runtimeHandler: string;
  cgroupParent: string;
  /** StopPodSandbox ran: NOTREADY from then on */
  stopped?: boolean;
}

export interface Sandbox { pod: PodRecord; cri: SandboxRecord }

export function sandboxOf(pod: PodRecord): SandboxRecord | undefined {
  const text = pod.annotations[SANDBOX_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as SandboxRecord;
    return typeof v.id === 'string' && /^[0-9a-f]{64}$/.test(v.id) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function listSandboxes(root: string): Sandbox[] {
  const out: Sandbox[] = [];
  for (const pod of listPods({ root })) {
    const cri = sandboxOf(pod);
    if (cri !== undefined) out.push({ pod, cri });
  }
  return out;
}

/** The sandbox with this id (or unique id prefix). */
export function findSandbox(root: string, id: string): Sandbox | undefined {
  if (id === '') return undefined;
  const hits = listSandboxes(root).filter((s) => s.cri.id.startsWith(id));
  return hits.length === 1 ? hits[0] : hits.find((s) => s.cri.id === id);
}

export async function markSandboxStopped(root: string, pod: string): Promise<void> {
  await updatePod({ root, name: pod, update: (r) => {
    const cri = sandboxOf(r);
    if (cri === undefined) return;
    cri.stopped = true;
    r.annotations[SANDBOX_ANNOTATION] = JSON.stringify(cri);
  } });
}

export interface ContainerSpec {
  image: string;
  command: string[];
  args: string[];
  env: Record<string, string>;
  workingDir?: string;
  uid?: number;
  gid?: number;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  seccomp?: 'RuntimeDefault' | 'Unconfined';
  supplementalGroups?: number[];
  readOnlyRootFilesystem?: boolean;
  memory?: number;
  /** memory + swap (-1: unlimited swap) */
  memorySwap?: number;
  cpus?: number;
  /** the CFS period of cpus in µs (absent: 100000) */
  cpuPeriod?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** cgroup v2 files (v2 only) */
  unified?: Record<string, string>;
  /** the CRI's mounts as podns volumes (src/container/mounts.ts) */
  mounts?: VolumeMount[];
  /** linux.security_context masked_paths / readonly_paths (absent: runc's defaults) */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** ContainerConfig stdin, stdin_once, tty (Attach: src/cri/streaming/attach.ts) */
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  /** the podns pod and the podns container name */
  pod: string;
  name: string;
  metadata: { name: string; attempt: number };
  image: { image: string; annotations: Record<string, string>; user_specified_image: string };
  imageRef: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** absolute, or '' (no log_directory/log_path given) */
  logPath: string;
  /** as the CRI gave them (echoed in ContainerStatus) */
  mounts: Array<{ container_path: string; host_path: string; readonly: boolean; propagation?: string }>;
  createdAt: string;
  /** StartContainer ran (the podns container exists from then on) */
  started?: boolean;
  spec: ContainerSpec;
  /** LinuxContainerResources as last given (CreateContainer, UpdateContainerResources): ContainerStatus echoes it */
  resources?: Record<string, unknown>;
}

function criDir(root: string, pod: string): string {
  return join(paths.pod(root, pod), 'cri');
}

export function writeContainer(root: string, c: ContainerRecord): void {
  mkdirSync(criDir(root, c.pod), { recursive: true, mode: DIR_MODE });
  writeJsonAtomic(join(criDir(root, c.pod), `${c.id}.json`), c);
}

export function removeContainerRecord(root: string, c: ContainerRecord): void {
  rmSync(join(criDir(root, c.pod), `${c.id}.json`), { force: true });
}

export function listContainers(root: string, sandboxes = listSandboxes(root)): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  for (const s of sandboxes) {
    let names: string[];
    try {
      names = readdirSync(criDir(root, s.pod.name));
    } catch {
      continue;
    }
    for (const n of names) {
      if (!/^[0-9a-f]{64}\.json$/.test(n)) continue;
      const c = readJsonIfExists<ContainerRecord>(join(criDir(root, s.pod.name), n));
      if (c !== undefined) out.push(c);
    }
  }
  return out;
}

export function findContainer(root: string, id: string): ContainerRecord | undefined {
  if (id === '') return undefined;
  const hits = listContainers(root).filter((c) => c.id.startsWith(id));
  return hits.length === 1 ? hits[0] : hits.find((c) => c.id === id);
}
