// repairPod: a Degraded pod (pause gone, pins alive) gets a new pause that JOINS the pinned net, ipc and
// uts namespaces (setns, no new ones): same network namespace inode, same eth0, same IP; containers are
// not touched. The hostname lives in the uts namespace, so it is kept too.
//
// The pid namespace cannot be repaired: a pid namespace ends when its init (the old pause, with
// --share-pid) dies, and the kernel kills every process in it — there is nothing to pin or rejoin.
// A --share-pid pod therefore gets a fresh pid namespace with the new pause as its init, and its old
// containers are gone (docs: README "repair"). We repair rather than refuse: the network, IP and
// hostname are what other pods and port mappings depend on, and they survive.
import { closeSync, openSync } from 'node:fs';
import { PodnsError } from '../errors.js';
import { faultPoint } from '../fault.js';
import { executable, native, nsTypeFlag, pausePath } from '../native/index.js';
import { withLock } from '../state/lock.js';
import { validateName } from '../state/names.js';
import { pinAlive } from '../state/root.js';
import { startPause } from './pause.js';
import { hostCgroups } from '../cgroups/index.js';
import { reopenPodCgroup } from './cgroup.js';
import { processAlive, terminate, type ProcRef } from './proc.js';
import { pauseAlive } from './state.js';
import { me, ownerAlive, readPod, tryReadPod, updatePod, writePod } from './store.js';
import type { PodRecord } from './types.js';
import { resolveRoot, type RootOption } from '../state/paths.js';

/** Gives a Degraded pod a new pause in its pinned namespaces. */
export async function repairPod(o: RootOption & { name: string }): Promise<PodRecord> {
  const abs = resolveRoot(o.root);
  const name = validateName('pod', o.name);
  executable(pausePath);
  const rec = await withLock(abs, () => {
    const r = readPod({ root: abs, name });
    if (r.phase !== 'ready') {
      throw new PodnsError('EBUSY', `pod "${name}" is ${r.phase === 'creating' ? 'being created' : 'being deleted'}; only a created pod can be repaired`);
    }
    if (ownerAlive(r)) throw new PodnsError('EBUSY', `pod "${name}" is being repaired by podns process ${r.ownerPid}`);
    if (pauseAlive(r)) {
      throw new PodnsError('ERUNNING', `pod "${name}" is Running (pause pid ${r.pause!.pid}); there is nothing to repair`);
    }
    const lost = r.namespaces.filter((ns) => !pinAlive(ns.path, ns));
    if (r.namespaces.length === 0 || lost.length > 0) {
      const what = lost.length > 0 ? `its ${lost.map((n) => n.type).join(', ')} namespace pin is gone` : 'it has no pinned namespaces';
      throw new PodnsError('EUNREPAIRABLE', `pod "${name}" cannot be repaired: ${what}; delete it (podns delete --force ${name}) and create it again`);
    }
    Object.assign(r, me());
    writePod(abs, r);
    return r;
  });

  let spawned: ProcRef | undefined;
  try {
    const fds: number[] = [];
    try {
      const setns = rec.namespaces.map((ns) => {
        const fd = openSync(ns.path, 'r');
        fds.push(fd);
        return { fd, nstype: nsTypeFlag(ns.type) };
      });
      // into the pod's cgroup leaf, as at create
      const cgroupProcs = reopenPodCgroup(hostCgroups(), rec);
      spawned = startPause({ root: abs, pod: name, uid: rec.uid, sharePid: rec.sharePid, cloneFlags: 0, setns,
        ...(cgroupProcs.length > 0 ? { cgroupProcs } : {}) });
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    const pause = spawned;
    // Kernel truth: the new pause must be in exactly the pinned namespaces.
    for (const ns of rec.namespaces) {
      const id = native.nsId(pause.pid, ns.type);
      if (id.ino !== ns.ino || id.dev !== ns.dev) {
        throw new PodnsError('EREPAIR', `the new pause of pod "${name}" is not in the pinned ${ns.type} namespace (inode ${id.ino}, want ${ns.ino})`);
      }
    }
    if (!processAlive(pause.pid, pause.startTime)) throw new PodnsError('EPAUSE', `the new pause of pod "${name}" exited right away`);
    faultPoint('repair-after-pause');
    const out = await updatePod({ root: abs, name, update: (r) => {
      r.pause = pause;
      delete r.ownerPid;
      delete r.ownerStartTime;
    } });
    spawned = undefined;
    return out;
  } catch (err) {
    if (spawned !== undefined) await terminate(spawned, 0).catch(() => undefined);
    const now = tryReadPod(abs, name);
    if (now !== undefined && now.uid === rec.uid && now.ownerPid === process.pid) {
      await updatePod({ root: abs, name, update: (r) => {
        delete r.ownerPid;
        delete r.ownerStartTime;
      } });
    }
    throw err;
  }
}
