// Taking a pod apart, resource by resource, in the reverse order of creation. Used by delete, by create
// when a step fails, and by gc for what a crash left. Every step is idempotent: "already gone" (ENOENT,
// ENODEV, ESRCH, NotFoundError) counts as done, so running it again after a crash finishes the job.
// A real failure does not stop the other steps, but the state is kept (and the first error thrown) so
// that nothing is forgotten: the record still says what is left.
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { isErrno, NotFoundError } from '../errors.js';
import { recordedDevicesCgroup, removeDevicesCgroup } from '../container/devices.js';
import { recordedContainerCgroups, removeContainerCgroups } from '../container/limits.js';
import { stopContainers } from '../container/stop.js';
import { hostVethName, releaseIps, removePortMappings, teardownPodNetworkAsync } from '../network/index.js';
import { native } from '../native/index.js';
import { listDir } from '../state/files.js';
import { paths } from '../state/paths.js';
import { inBackground } from '../state/trash.js';
import { isMountPoint } from '../state/root.js';
import { terminate, type ProcRef } from './proc.js';
import { hostCgroups } from '../cgroups/index.js';
import { removePodCgroup, removePodCgroupAsync } from './cgroup.js';
import { readClaim, removeClaim, removePodDir, tryReadPod, updatePod } from './store.js';
import type { PodRecord } from './types.js';

export function isGone(err: unknown): boolean {
  return err instanceof NotFoundError || isErrno(err, 'ENOENT', 'ENODEV', 'ESRCH', 'ENOTFOUND');
}

export interface DestroyOptions {
  /** seconds between SIGTERM and SIGKILL */
  grace: number;
  /** pause processes found by gc's /proc scan that the record does not name */
  extraPauses?: ProcRef[];
  /** the veth and the IPs are being taken apart by another task of this process (releasePodNetwork, started
      by the CRI's StopPodSandbox): not waited for; a crash meanwhile leaves them to gc (unowned) */
  networkElsewhere?: boolean;
  /** the pod's directory (and the namespace pins inside it) removed after the return, on a pool thread,
      once renamed into the trash (state/trash.ts): a crash meanwhile leaves the trash to gc */
  background?: boolean;
}

/** Unpin one namespace file: unmount (propagates to containers' slave copies) and remove. */
export function unpin(path: string): boolean {
  try {
    native.nsUnpin(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/**
 * The pod's pin in the netns dir, removed only when it is provably ours: it holds the net namespace the
 * record (or claim) names. A leftover empty file (a crash between nsPin's create and mount) goes too:
 * the name was free when the pod was recorded (create refuses otherwise).
 */
export function unpinNetns(path: string, id: { dev: number; ino: number } | undefined): boolean {
  const what = netnsPinState(path, id);
  if (what === 'empty') {
    rmSync(path, { force: true });
    return true;
  }
  return what === 'ours' ? unpin(path) : false;
}

/** The pin in the netns dir: 'ours' (mounted, the recorded net namespace), 'empty' (a leftover empty file), or none of ours. */
function netnsPinState(path: string, id: { dev: number; ino: number } | undefined): 'ours' | 'empty' | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  if (!isMountPoint(path)) return st.isFile() && st.size === 0 ? 'empty' : undefined;
  if (id === undefined) return undefined;
  const now = native.nsIdOfPath(path);
  return now.ino === id.ino && now.dev === id.dev ? 'ours' : undefined;
}

type Step = (fn: () => unknown) => Promise<void>;

/** A step runner that carries on past failures: what is already gone is no error; the rest are kept, in order. */
function stepper(): { step: Step; errors: unknown[] } {
  const errors: unknown[] = [];
  const step: Step = async (fn) => {
    try {
      await fn();
    } catch (err) {
      if (!isGone(err)) errors.push(err);
    }
  };
  return { step, errors };
}

/** Steps 3-5 of destroyPod: port mappings, the host veth (explicitly: once the netns goes, the kernel would
    remove it only later, asynchronously), the IPs. Each is idempotent. */
async function networkSteps(root: string, rec: PodRecord, step: Step, done: string[]): Promise<void> {
  if (rec.networkMode.kind !== 'bridge') return;
  const name = rec.name;
  const netName = rec.network?.network ?? rec.networkMode.network;
  if ((rec.ports ?? []).length > 0) {
    await step(async () => {
      if (await removePortMappings(name)) done.push(`port mappings of pod ${name}`);
    });
  }
  const veth = rec.network?.hostVeth ?? hostVethName(name, rec.uid);
  // from a pool thread: the kernel's link delete waits for RCU grace periods, the event loop does not
  await step(async () => {
    if (await teardownPodNetworkAsync(veth)) done.push(`veth ${veth}`);
  });
  await step(() => {
    for (const ip of releaseIps(root, netName, name)) done.push(`IP ${ip} on network ${netName}`);
  });
}

/**
 * A stopped pod's network given back while its record stays (the CRI's StopPodSandbox "reclaims network
 * resources", and kubelet may run the pod's next sandbox, with the same host ports, long before it removes
 * this one): port mappings, veth and IPs as delete takes them, then the record forgets its published ports,
 * so that they are free for another pod. Idempotent; delete later finds nothing of it left. portsOnly: the
 * host ports alone (what must be free at once), the rest left for a later call or for delete.
 */
export async function releasePodNetwork(root: string, rec: PodRecord, o: { portsOnly?: boolean } = {}): Promise<string[]> {
  const done: string[] = [];
  const { step, errors } = stepper();
  if (o.portsOnly === true) {
    if (rec.networkMode.kind === 'bridge' && (rec.ports ?? []).length > 0) {
      await step(async () => {
        if (await removePortMappings(rec.name)) done.push(`port mappings of pod ${rec.name}`);
      });
    }
  } else {
    await networkSteps(root, rec, step, done);
  }
  if (errors.length > 0) throw errors[0];
  if ((rec.ports ?? []).length > 0) {
    await updatePod({ root, name: rec.name, update: (r) => {
      if (r.uid === rec.uid) r.ports = [];
    } });
  }
  return done;
}

export async function destroyPod(root: string, rec: PodRecord, o: DestroyOptions): Promise<string[]> {
  const name = rec.name;
  const done: string[] = [];
  const { step, errors } = stepper();

  // 1. containers (their shims first, so nothing restarts into a pod that is going away)
  await step(async () => {
    if (listDir(paths.containers(root, name)).length > 0) await stopContainers({ root, pod: name, grace: o.grace });
  });

  // 2. the pause, and any the record does not know (a crash between spawn and record)
  const pauses = [...(rec.pause ? [rec.pause] : []), ...(o.extraPauses ?? [])];
  for (const p of pauses) {
    await step(async () => {
      if (await terminate(p, o.grace)) done.push(`pause process ${p.pid}`);
    });
  }

  // 2b. the containers' devices cgroups (config.json names each; their processes are gone by now)
  for (const c of listDir(paths.containers(root, name))) {
    await step(async () => {
      const cg = recordedDevicesCgroup(paths.containerConfig(root, name, c));
      if (await removeDevicesCgroup(cg)) done.push(`devices cgroup ${cg}`);
    });
    // and the container's cgroups: what is still inside is killed first (an exec session, an orphan)
    await step(async () => {
      const lc = recordedContainerCgroups(paths.containerConfig(root, name, c));
      if (await removeContainerCgroups(lc)) done.push(`cgroup ${lc!.cgroupPath}`);
    });
  }

  // 2c. the pod's own cgroup: whatever is still inside it or below (a process that left its container's
  // pid namespace through exec, an orphan the watcher did not see) is killed, frozen first so that
  // nothing forks away; then it is removed. The record names it; the claim too, from before pod.json.
  // In the background: the rmdirs on a pool thread (the claim, which names the cgroup, stays until they are done).
  const later: Array<Promise<void>> = [];
  // (each has a handler at once: it may fail before the awaits below are over; its failure keeps the claim)
  const defer = (w: Promise<void>): void => {
    w.catch(() => undefined);
    later.push(w);
  };
  await step(async () => {
    const cg = rec.cgroupPath !== undefined ? { path: rec.cgroupPath, dirs: rec.cgroupDirs } : readClaim(root, name, rec.uid)?.cgroup;
    if (o.background === true) defer(removePodCgroupAsync(hostCgroups(), cg));
    else if (await removePodCgroup(hostCgroups(), cg)) done.push(`cgroup ${String(cg!.path)}`);
  });

  // 3-5. network: port mappings, the veth, the IP
  if (o.networkElsewhere !== true) await networkSteps(root, rec, step, done);

  // 6. pins: everything under ns/ (in the background: with the directory, step 7), then the one in the netns dir
  for (const entry of o.background === true ? [] : listDir(paths.podNsDir(root, name))) {
    const p = paths.podNs(root, name, entry);
    await step(() => {
      if (unpin(p)) done.push(`pin ${p}`);
    });
  }
  const netId = rec.namespaces.find((n) => n.type === 'net') ?? readClaim(root, name, rec.uid)?.netns;
  const netnsPath = rec.netnsPath;
  if (netnsPath !== undefined) {
    await step(() => {
      // in the background: checked now, unmounted on a pool thread (the claim, which names it, stays until then)
      if (o.background === true && netnsPinState(netnsPath, netId) === 'ours') defer(native.nsUnpinAsync(netnsPath));
      else if (unpinNetns(netnsPath, netId)) done.push(`pin ${netnsPath}`);
    });
  }

  if (errors.length > 0) {
    for (const w of later) inBackground(w); // the claim stays: gc finishes
    throw errors[0];
  }

  // 7. the state itself, last: until here the record says what is left. Read again after the awaits
  // above: a pod made anew under this name meanwhile (after a forced delete took this one) is not ours.
  const now = tryReadPod(root, name);
  if (existsSync(paths.pod(root, name)) && (now === undefined || now.uid === rec.uid)) {
    removePodDir(root, name, { background: o.background === true });
    done.push(`state of pod ${name}`);
  }
  // the claim goes last: until then it names the pod's host-wide things to gc (a failure keeps it)
  if (later.length === 0) removeClaim(root, name, rec.uid);
  else inBackground(Promise.all(later).then(() => removeClaim(root, name, rec.uid)));
  return done;
}
