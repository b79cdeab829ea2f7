// What the CRI keeps beside podns's own state, so that a restarted server serves the same ids and states
// from the state root:
//   a sandbox: the pod annotation "podns.io/cri-sandbox" (JSON), written with the pod's first record, so a
//     podns pod and its CRI identity are made (and removed) together;
//   a container: ROOT/pods/POD/cri/ID.json, written at CreateContainer (before podns has a container: the
//     CRI's "created" state), updated at StartContainer; removed with the container or the pod.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listPods, tryReadPod, updatePod } from '../pod/store.js';
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

// Where an id was last seen, per state root: sandbox id → podns pod, container id → podns pod. A hint
// only, never trusted: a find by full id reads that one record and checks it (another process may have
// removed or replaced the pod meanwhile); a hint that does not check out, or no hint, means a scan of
// every record, which renews the hints. So a find costs one or two record reads, not one per pod.
const sandboxHints = new Map<string, Map<string, string>>();
const containerHints = new Map<string, Map<string, string>>();

function hints(all: Map<string, Map<string, string>>, root: string): Map<string, string> {
  let m = all.get(root);
  if (m === undefined) {
    m = new Map();
    all.set(root, m);
  }
  return m;
}

const FULL_ID = /^[0-9a-f]{64}$/;

export function listSandboxes(root: string): Sandbox[] {
  const out: Sandbox[] = [];
  const seen = new Map<string, string>();
  for (const pod of listPods({ root })) {
    const cri = sandboxOf(pod);
    if (cri === undefined) continue;
    out.push({ pod, cri });
    seen.set(cri.id, pod.name);
  }
  sandboxHints.set(root, seen);
  return out;
}

/** The sandbox of the pod named by a hint, if it still is the one with this id. */
function hintedSandbox(root: string, id: string): Sandbox | undefined {
  const name = sandboxHints.get(root)?.get(id);
  if (name === undefined) return undefined;
  const pod = tryReadPod(root, name);
  const cri = pod !== undefined ? sandboxOf(pod) : undefined;
  return pod !== undefined && cri?.id === id ? { pod, cri } : undefined;
}

/** The sandbox with this id (or unique id prefix). */
export function findSandbox(root: string, id: string): Sandbox | undefined {
  if (id === '') return undefined;
  if (FULL_ID.test(id)) {
    const hit = hintedSandbox(root, id);
    if (hit !== undefined) return hit;
  }
  const hits = listSandboxes(root).filter((s) => s.cri.id.startsWith(id));
  return hits.length === 1 ? hits[0] : hits.find((s) => s.cri.id === id);
}

/** A new sandbox's pod (RunPodSandbox): its first find needs no scan. */
export function noteSandbox(root: string, id: string, pod: string): void {
  hints(sandboxHints, root).set(id, pod);
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
  hints(containerHints, root).set(c.id, c.pod);
}

export function removeContainerRecord(root: string, c: ContainerRecord): void {
  rmSync(join(criDir(root, c.pod), `${c.id}.json`), { force: true });
}

export function listContainers(root: string, sandboxes?: Sandbox[]): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  const all = sandboxes === undefined;
  const seen = new Map<string, string>();
  for (const s of sandboxes ?? listSandboxes(root)) {
    let names: string[];
    try {
      names = readdirSync(criDir(root, s.pod.name));
    } catch {
      continue;
    }
    for (const n of names) {
      if (!/^[0-9a-f]{64}\.json$/.test(n)) continue;
      const c = readJsonIfExists<ContainerRecord>(join(criDir(root, s.pod.name), n));
      if (c === undefined) continue;
      out.push(c);
      seen.set(c.id, s.pod.name);
    }
  }
  if (all) containerHints.set(root, seen);
  return out;
}

/**
 * The container record a hint points at, if it still is this id's, in a pod that still is a sandbox (as a
 * scan would find it: a cri record left in a pod whose record is gone is not found).
 */
function hintedContainer(root: string, id: string): ContainerRecord | undefined {
  const pod = containerHints.get(root)?.get(id);
  if (pod === undefined) return undefined;
  const c = readJsonIfExists<ContainerRecord>(join(criDir(root, pod), `${id}.json`));
  if (c?.id !== id) return undefined;
  const rec = tryReadPod(root, pod);
  return rec !== undefined && sandboxOf(rec) !== undefined ? c : undefined;
}

export function findContainer(root: string, id: string): ContainerRecord | undefined {
  if (id === '') return undefined;
  if (FULL_ID.test(id)) {
    const hit = hintedContainer(root, id);
    if (hit !== undefined) return hit;
  }
  const hits = listContainers(root).filter((c) => c.id.startsWith(id));
  return hits.length === 1 ? hits[0] : hits.find((c) => c.id === id);
}
