// createPod: check everything, record the pod, then make each resource — recording it in pod.json
// BEFORE making it, so that a crash (kill -9, or PODNS_FAULT=<step>) at any point leaves a record that
// `podns gc` can follow. When a step fails in-process, everything made so far is undone in reverse
// order and the error is rethrown: nothing half-made remains.
//
// Fault points, in order, each where the state differs from the one before (docs/DESIGN.md lists them):
// after-cgroup, pause-spawning, after-ip, after-record, after-pin, after-veth, after-etc, after-pause,
// after-ports (only with --publish), after-ready.
//
// Two records (and two short lock sections) per pod, each covering every step up to the next:
//   1. phase creating, the pod's name, uid and ports, its namespaces (type, identity, pin path) and its
//      netns-dir pin, its cgroup, and the network it is about to get (IP allocated under the same lock, veth
//      name derived from name+uid); the claim (with the netns identity and the cgroup) is written first in
//      the same section, before anything host-wide exists. The pod's cgroup is made right after the claim,
//      and the pause is spawned into its leaf (src/pod/cgroup.ts). All before the pause exists: gc kills a pause of ours that no record
//      names, unless a live create owns the record of its pod.
//   2. the pause (and eth0's MAC), and phase ready, once everything is made.
// Until record 2 the pause is named by no record: gc knows it by the uid in its environment and leaves it
// alone while the create that owns record 1 lives (a dead create's pause is killed like any stray), and a
// failing create stops it itself (extraPauses). A separate record for the pause alone would cost one more
// lock, read and rewrite of pod.json per create and make nothing safer.
// A crash anywhere leaves "recorded but not made (yet)" at worst, which destroyPod treats as already gone
// (unpin: ENOENT, veth: ENODEV, nft: no chains, IP files: by owner); pins under ns/ are also found by
// listing the directory.
//
// The namespaces are made first, on their own (native.nsCreate: fds, no process in them, the uts one
// already named), so that they can be pinned and the network set up while the pause is being started on
// a pool thread (startPauseAsync): the pause joins them (setns) instead of making them (CLONE_NEW*), and
// the two slowest steps of a create — the clone+exec of the pause and the veth — run side by side. Until
// they are pinned only our fds hold them: if we die first, they go with us (and with the netns, eth0 and
// so the veth pair, which gc also deletes by its recorded name).
// The network itself (bridge, NAT) is ensured before the first record: it is shared by every pod and
// made idempotently step by step (its own record first), so doing it earlier changes nothing for the
// pod's crash safety.
import { closeSync, fstatSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { PodnsError } from '../errors.js';
import { faultPoint } from '../fault.js';
import { allocateIp, ensureNetwork, hostVethName, addPortMappings, POD_NET_SYSCTLS, releaseIps, setupPodNetwork } from '../network/index.js';
import type { NetworkConfig } from '../network/index.js';
import { native, nsTypeFlag, pausePath, executable } from '../native/index.js';
import { NetlinkHandle } from '../network/netlink/handle.js';
import type { NsType } from '../native/index.js';
import { DIR_MODE } from '../state/files.js';
import { withLock } from '../state/lock.js';
import { paths } from '../state/paths.js';
import { ensureNetnsDir, ensureRoot } from '../state/root.js';
import { destroyPod } from './destroy.js';
import { writeEtcFiles } from './etc.js';
import { processAlive, terminate, type ProcRef } from './proc.js';
import { startPauseAsync } from './pause.js';
import { me, podExists, removeClaim, tryReadPod, updatePod, writeClaim, writePod } from './store.js';
import type { PinnedNamespace, PodNetwork, PodRecord } from './types.js';
import { checkPortConflicts, planCreate, type CreatePodOptions } from './validate.js';
import { hostCgroups } from '../cgroups/index.js';
import { makePodCgroup, podCgroupFor, removePodCgroup } from './cgroup.js';

export type { CreatePodOptions } from './validate.js';

export async function createPod(o: CreatePodOptions): Promise<PodRecord> {
  const plan = planCreate(o);
  executable(pausePath);
  const root = await ensureRoot(plan.root);
  const { name, uid, mode } = plan;

  // the network the pod joins (made if needed; a fast check when it exists)
  const net: NetworkConfig | undefined = mode.kind === 'bridge' && plan.net !== undefined ? await ensureNetwork({ root, ...plan.net }) : undefined;
  const netnsPath = mode.kind !== 'host' ? paths.netnsPin(name) : undefined;
  if (netnsPath !== undefined) await ensureNetnsDir(root);

  // The pod's namespaces, as fds the pause will join: new ipc (and uts, with the pod's hostname, and net
  // for bridge and none); pod:OTHER joins that pod's net; host keeps ours for net and uts.
  const types: NsType[] = mode.kind === 'host' ? ['ipc'] : ['net', 'ipc', 'uts'];
  let flags = native.CLONE_NEWIPC;
  if (mode.kind !== 'host') flags |= native.CLONE_NEWUTS;
  if (mode.kind === 'bridge' || mode.kind === 'none') flags |= native.CLONE_NEWNET;
  // (bridge: with a netlink socket inside the new netns, opened while nsCreate is in it anyway)
  // (a new netns: ping_group_range and the like, written inside it: POD_NET_SYSCTLS)
  const made = native.nsCreate(flags, mode.kind !== 'host' ? plan.hostname : null, mode.kind === 'bridge' ? native.NETLINK_ROUTE : null,
    (flags & native.CLONE_NEWNET) !== 0 ? { ...POD_NET_SYSCTLS } : undefined);
  const podNl = made.nl !== undefined ? NetlinkHandle.fromFd(made.nl) : undefined;
  const fds: Partial<Record<NsType, number>> = { ...(made.net !== undefined ? { net: made.net } : {}), ...(made.ipc !== undefined ? { ipc: made.ipc } : {}), ...(made.uts !== undefined ? { uts: made.uts } : {}) };
  let unrecordedPause: ProcRef | undefined;
  try {
    if (plan.join !== undefined) fds.net = openSync(plan.join.netPin, 'r');
    const namespaces: PinnedNamespace[] = types.map((type) => {
      const st = fstatSync(fds[type]!);
      return { type, dev: st.dev, ino: st.ino, path: paths.podNs(root, name, type) };
    });
    const netId = namespaces.find((n) => n.type === 'net');
    const hostVeth = hostVethName(name, uid);
    let network: PodNetwork | undefined;
    let ip: string | undefined = plan.join?.ip;

    // the pod's cgroup (none on a host without cgroups): PARENT/POD-UID8, the pause in its leaf
    const host = hostCgroups();
    const cgroup = podCgroupFor(host, { name, uid }, plan.cgroupParent, plan.limitWrites);
    let cgroupMade = false;

    // --- record 1 (see the top of the file)
    let pausing: Promise<ProcRef> | undefined;
    try {
      await withLock(root, () => {
        // checked again under the lock: another create may have taken the name or port since planCreate
        if (podExists(root, name)) {
          throw new PodnsError('EEXIST', `pod "${name}" already exists; delete it first (podns delete ${name}) or choose another name`);
        }
        checkPortConflicts(root, name, plan.publish);
        mkdirSync(paths.pod(root, name), { mode: DIR_MODE });
        try {
          // made with the pod directory (it is new: plain mkdir), so the pins need no mkdir -p later
          mkdirSync(paths.podNsDir(root, name), { mode: DIR_MODE });
          // the claim records the pod's cgroup before it is made (gc finds it even without pod.json)
          writeClaim(root, {
            name, uid, ...(netId !== undefined ? { netns: { dev: netId.dev, ino: netId.ino } } : {}),
            ...(cgroup !== undefined ? { cgroup: { path: cgroup.path, dirs: cgroup.dirs } } : {}),
          });
          // (marked first: a plan that fails part way leaves directories the undo below must remove)
          cgroupMade = cgroup !== undefined;
          const cgroupProcs = cgroup !== undefined ? makePodCgroup(cgroup) : [];
          if (cgroup !== undefined) faultPoint('after-cgroup'); // the claim and the pod's cgroup, nothing else
          // The pause starts now, on a pool thread (it joins the namespaces, setns; once running, its cgroup
          // leaf), while this record is written: it may exist a moment before the record does, but only
          // while we hold the lock, under which gc judges strays, so gc never sees it unrecorded while we
          // live (and if we die, it finds it by the uid in its environment, like any pause no record names).
          pausing = startPauseAsync({
            root, pod: name, uid, sharePid: plan.sharePid, cloneFlags: 0,
            setns: types.map((type) => ({ fd: fds[type]!, nstype: nsTypeFlag(type) })),
            ...(cgroupProcs.length > 0 ? { cgroupProcs } : {}),
          });
          // a pause that starts while a later step fails must still be found and stopped (catch below)
          pausing.then((p) => { unrecordedPause = p; }, () => undefined);
          // the pause is being spawned (on a pool thread: it may or may not exist yet), nothing is recorded
          faultPoint('pause-spawning');
          if (net !== undefined) {
            // under the lock: gc (which judges allocations under it) never sees a half-written IP file of ours
            ip = allocateIp(root, net, name, plan.ip);
            network = {
              bridge: net.bridge, network: net.name, ifname: 'eth0', ip, prefixLength: Number(net.subnet.split('/')[1]),
              gateway: net.gateway, hostVeth, mtu: net.mtu,
            };
          }
          // the pod's directory, its claim and its IP file exist, its record not yet (a kill here leaves
          // a directory without a record: only ever seen under the lock, since this section holds it)
          faultPoint('after-ip');
          const initial: PodRecord = {
            apiVersion: 'podns/v1',
            name,
            uid,
            phase: 'creating',
            ...me(),
            createdAt: new Date().toISOString(),
            labels: plan.labels,
            annotations: plan.annotations,
            hostname: plan.hostname,
            sharePid: plan.sharePid,
            networkMode: mode,
            namespaces,
            ...(netnsPath !== undefined ? { netnsPath } : {}),
            ...(network !== undefined ? { network } : {}),
            // recorded now, made last: port conflicts between concurrent creates are caught under the lock
            ports: plan.publish,
            containers: [],
            ...(plan.restartPolicy !== undefined ? { restartPolicy: plan.restartPolicy } : {}),
            cgroupParent: plan.cgroupParent,
            ...(cgroup !== undefined ? { cgroupPath: cgroup.path, cgroupDirs: cgroup.dirs } : {}),
            ...(plan.limits !== undefined ? { limits: plan.limits } : {}),
          };
          writePod(root, initial);
        } catch (err) {
          // nothing half-made: no pod directory without a record, no claim or IP without a pod (the
          // cgroup goes once the pause that may be starting in it is gone: below)
          if (net !== undefined) releaseIps(root, net.name, name);
          removeClaim(root, name, uid);
          rmSync(paths.pod(root, name), { recursive: true, force: true });
          throw err;
        }
      });
    } catch (err) {
      // record 1 failed (nothing of it is left): the pause that was starting goes too, then the cgroup
      const p = await pausing?.catch(() => undefined);
      if (p !== undefined) await terminate(p, 0).catch(() => undefined);
      if (cgroupMade) await removePodCgroup(host, cgroup).catch(() => undefined);
      throw err;
    }
    faultPoint('after-record');

    try {
      // --- while the pause starts: the pins, the veth and eth0, the etc files
      try {
        // pins: bind mounts of the namespaces themselves (our fds), so no pid can be mistaken for the pause's
        for (const ns of namespaces) native.nsPin(`/proc/self/fd/${fds[ns.type]!}`, ns.path);
        if (netnsPath !== undefined) native.nsPin(`/proc/self/fd/${fds.net!}`, netnsPath);
        faultPoint('after-pin'); // pins, no veth yet
        if (net !== undefined && network !== undefined) {
          network = { ...network, ...setupPodNetwork({ net, netnsFd: fds.net!, hostVeth, ip: network.ip, ...(podNl !== undefined ? { podHandle: podNl } : {}) }) };
          faultPoint('after-veth'); // veth and eth0, no etc files yet
        }
        writeEtcFiles(root, name, { hostname: plan.hostname, ...(ip !== undefined ? { ip } : {}), mode: mode.kind === 'host' ? 'host' : 'own', ...(plan.dns !== undefined ? { dns: plan.dns } : {}) });
        // all but the pause, which may still be starting (not awaited yet)
        faultPoint('after-etc');
      } catch (err) {
        await pausing!.catch(() => undefined);
        throw err;
      }
      const pause = await pausing!;
      unrecordedPause = pause;
      faultPoint('after-pause'); // the pause runs, in no record yet
      if (net !== undefined && network !== undefined && plan.publish.length > 0) {
        await addPortMappings(name, network.ip, plan.publish, net.subnet);
        faultPoint('after-ports');
      }

      if (!processAlive(pause.pid, pause.startTime)) {
        throw new PodnsError('EPAUSE', `the pause process of pod "${name}" (pid ${pause.pid}) exited while the pod was being created`);
      }
      // --- record 2: the pause (and eth0's MAC), and ready
      const rec = await updatePod({ root, name, update: (r) => {
        r.pause = pause;
        if (network !== undefined) r.network = network;
        r.phase = 'ready';
        delete r.ownerPid;
        delete r.ownerStartTime;
      } });
      unrecordedPause = undefined;
      faultPoint('after-ready'); // record 2: the pod is complete
      return rec;
    } catch (err) {
      const rec = tryReadPod(root, name);
      if (rec !== undefined && rec.uid === uid) {
        try {
          await destroyPod(root, rec, { grace: 0, extraPauses: unrecordedPause ? [unrecordedPause] : [] });
        } catch (undoErr) {
          // The record stays (phase creating, our pid): `podns gc` finishes the job once we are gone.
          if (err instanceof Error) (err as Error & { undoError?: unknown }).undoError = undoErr;
        }
      } else if (unrecordedPause !== undefined) {
        // the record went meanwhile (`delete --force`, which took the rest): the pause it could not know
        await terminate(unrecordedPause, 0).catch(() => undefined);
      }
      throw err;
    }
  } finally {
    podNl?.close();
    for (const fd of Object.values(fds)) closeSync(fd);
  }
}
