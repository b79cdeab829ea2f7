// createPod: check everything, record the pod, then make each resource — recording it in pod.json
// BEFORE making it, so that a crash (kill -9, or PODNS_FAULT=<step>) at any point leaves a record that
// `podns gc` can follow. When a step fails in-process, everything made so far is undone in reverse
// order and the error is rethrown: nothing half-made remains.
//
// Fault points, in order (docs/DESIGN.md lists them): after-record, after-pause, after-pause-record,
// after-pin, after-ip, after-veth, after-ports (only with --publish), after-etc, after-ready.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { PodnsError } from '../errors.js';
import { faultPoint } from '../fault.js';
import { allocateIp, ensureNetwork, hostVethName, addPortMappings, setupPodNetwork } from '../network/index.js';
import { native, pausePath, executable } from '../native/index.js';
import type { NsType } from '../native/index.js';
import { ensureDir } from '../state/files.js';
import { withLock } from '../state/lock.js';
import { paths } from '../state/paths.js';
import { ensureNetnsDir, ensureRoot } from '../state/root.js';
import { destroyPod } from './destroy.js';
import { writeEtcFiles } from './etc.js';
import { processAlive, type ProcRef } from './proc.js';
import { startPause } from './pause.js';
import { me, podExists, tryReadPod, updatePod, writeClaim, writePod } from './store.js';
import type { PinnedNamespace, PodRecord } from './types.js';
import { checkPortConflicts, planCreate, type CreatePodOptions } from './validate.js';

export type { CreatePodOptions } from './validate.js';

export async function createPod(o: CreatePodOptions): Promise<PodRecord> {
  const plan = planCreate(o);
  executable(pausePath);
  const root = ensureRoot(plan.root);
  const { name, uid, mode } = plan;

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
    namespaces: [],
    // recorded now, made last: port conflicts between concurrent creates are caught under the lock
    ports: plan.publish,
    containers: [],
    ...(plan.restartPolicy !== undefined ? { restartPolicy: plan.restartPolicy } : {}),
  };
  withLock(root, () => {
    // checked again under the lock: another create may have taken the name or port since planCreate
    if (podExists(root, name)) {
      throw new PodnsError('EEXIST', `pod "${name}" already exists; delete it first (podns delete ${name}) or choose another name`);
    }
    checkPortConflicts(root, name, plan.publish);
    mkdirSync(paths.pod(root, name), { mode: 0o700 });
    writeClaim(root, { name, uid });
    writePod(root, initial);
  });
  faultPoint('after-record');

  let unrecordedPause: ProcRef | undefined;
  try {
    // --- the pause, in new ipc+uts (and net, unless joining another pod's or the host's) namespaces
    let joinFd: number | undefined;
    let pause: ProcRef;
    try {
      let cloneFlags = native.CLONE_NEWIPC;
      if (mode.kind !== 'host') cloneFlags |= native.CLONE_NEWUTS;
      if (mode.kind === 'bridge' || mode.kind === 'none') cloneFlags |= native.CLONE_NEWNET;
      const setns: Array<{ fd: number; nstype: number }> = [];
      if (plan.join !== undefined) {
        joinFd = openSync(plan.join.netPin, 'r');
        setns.push({ fd: joinFd, nstype: native.CLONE_NEWNET });
      }
      pause = startPause({
        root, pod: name, uid, sharePid: plan.sharePid, cloneFlags, setns,
        ...(mode.kind !== 'host' ? { hostname: plan.hostname } : {}),
      });
    } finally {
      if (joinFd !== undefined) closeSync(joinFd);
    }
    unrecordedPause = pause;
    faultPoint('after-pause');
    updatePod(root, name, (r) => { r.pause = pause; });
    unrecordedPause = undefined;
    faultPoint('after-pause-record');

    // --- pins: recorded (type, identity, path) first, then bind-mounted
    const types: NsType[] = mode.kind === 'host' ? ['ipc'] : ['net', 'ipc', 'uts'];
    const namespaces: PinnedNamespace[] = types.map((type) => {
      const id = native.nsId(pause.pid, type);
      return { type, dev: id.dev, ino: id.ino, path: paths.podNs(root, name, type) };
    });
    const netnsPath = mode.kind !== 'host' ? paths.netnsPin(name) : undefined;
    if (netnsPath !== undefined) ensureNetnsDir(root);
    const netId = namespaces.find((n) => n.type === 'net');
    withLock(root, () => {
      writeClaim(root, { name, uid, ...(netId ? { netns: { dev: netId.dev, ino: netId.ino } } : {}) });
      updatePod(root, name, (r) => {
        r.namespaces = namespaces;
        if (netnsPath !== undefined) r.netnsPath = netnsPath;
      });
    });
    ensureDir(paths.podNsDir(root, name));
    for (const ns of namespaces) native.nsPin(`/proc/${pause.pid}/ns/${ns.type}`, ns.path);
    if (netnsPath !== undefined) native.nsPin(`/proc/${pause.pid}/ns/net`, netnsPath);
    // The pins name the pause's namespaces only if it is still the same process now (pid reuse).
    if (!processAlive(pause.pid, pause.startTime)) {
      throw new PodnsError('EPAUSE', `the pause process of pod "${name}" (pid ${pause.pid}) exited while the pod was being created`);
    }
    faultPoint('after-pin');

    // --- network
    let ip: string | undefined = plan.join?.ip;
    if (mode.kind === 'bridge' && plan.net !== undefined) {
      const net = await ensureNetwork(root, plan.net);
      // under the lock: gc (which judges allocations under it) never sees a half-written IP file of ours
      ip = withLock(root, () => allocateIp(root, net, name, plan.ip));
      const hostVeth = hostVethName(name, uid);
      const prefixLength = Number(net.subnet.split('/')[1]);
      updatePod(root, name, (r) => {
        r.network = { bridge: net.bridge, network: net.name, ifname: 'eth0', ip: ip!, prefixLength, gateway: net.gateway, hostVeth, mtu: net.mtu };
      });
      faultPoint('after-ip');
      const fd = openSync(paths.podNs(root, name, 'net'), 'r');
      let made;
      try {
        made = setupPodNetwork({ net, netnsFd: fd, hostVeth, ip });
      } finally {
        closeSync(fd);
      }
      updatePod(root, name, (r) => { r.network = { ...r.network!, ...made }; });
      faultPoint('after-veth');
      if (plan.publish.length > 0) {
        await addPortMappings(name, ip, plan.publish, net.subnet);
        faultPoint('after-ports');
      }
    }

    writeEtcFiles(root, name, { hostname: plan.hostname, ...(ip !== undefined ? { ip } : {}), mode: mode.kind === 'host' ? 'host' : 'own' });
    faultPoint('after-etc');

    const rec = updatePod(root, name, (r) => {
      r.phase = 'ready';
      delete r.ownerPid;
      delete r.ownerStartTime;
    });
    faultPoint('after-ready');
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
    }
    throw err;
  }
}
