// gc: find what crashed runs left and remove it, saying what it removed (one line each).
//
//  1. pods whose create or delete was interrupted (phase creating/deleting, their podns process gone),
//     and pods whose pause AND pins are gone (nothing left to repair): taken apart like delete does.
//     Degraded pods (pause gone, pins alive) are kept: `podns repair` can bring them back.
//  2. strays, judged under the lock (so a create that is recording right now is never mistaken for one):
//     pod directories without a record; pause processes without state (our pause binary, with this root
//     in their environment — never another root's or another tool's pause); host veths on this root's
//     bridges that no pod owns; IP files whose owner pod does not exist; claims (ROOT/claims/POD.UID) without
//     a pod, which is how the host-wide leftovers of a lost pod are found: its pin in the netns dir and its
//     nft port mappings. Those host-wide places are shared with other state roots and with iproute2 users,
//     so gc removes only what a claim proves is ours.
// Running it twice in a row removes nothing the second time.
//
// gc may run inside a long-lived process (the CRI server) beside other work on the same root, so nothing
// it read before an await is trusted after it: records are read again after every await, and a pod is
// taken apart only while its record is still the one gc marked (same uid, phase deleting, owned by us).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { native } from '../native/index.js';
import { isErrno } from '../errors.js';
import { join } from 'node:path';
import { hostVethName, listAllocations, listHostVeths, listPortMappingOwners, releaseIps, removePortMappings, teardownPodNetwork } from '../network/index.js';
import { isTmpName, listDir } from '../state/files.js';
import { withLock } from '../state/lock.js';
import { paths } from '../state/paths.js';
import { unmountUnder } from '../state/root.js';
import { destroyPod, unpin, unpinNetns } from './destroy.js';
import { recordedDevicesCgroup, removeDevicesCgroup } from '../container/devices.js';
import { recordedContainerCgroups, removeContainerCgroups } from '../container/limits.js';
import { killStrayWatchers } from '../container/watchers.js';
import { hostCgroups } from '../cgroups/index.js';
import { removePodCgroup } from './cgroup.js';
import { killNow, processAlive, scanPauses } from './proc.js';
import { pauseAlive, pinsHold } from './state.js';
import { listClaims, listPodNames, me, ownerAlive, readClaim, removeClaim, tryReadPod, writePod } from './store.js';
import type { PodRecord } from './types.js';
import { readNetworkConfig } from './validate.js';
import { resolveRoot, type RootOption } from '../state/paths.js';
import { cleanStoreTemp, resolveStore, type StoreOption } from '../state/store-root.js';
import { LayerStore } from '../image/layers/store.js';
import { ContentStore } from '../image/content/store.js';

const GC_GRACE_SECONDS = 2;

function why(rec: PodRecord): string | undefined {
  if (ownerAlive(rec)) return undefined;
  const owner = rec.ownerPid !== undefined ? `podns process ${rec.ownerPid} is gone` : 'no podns process';
  if (rec.phase === 'creating') return `create was interrupted: ${owner}`;
  if (rec.phase === 'deleting') return `delete was interrupted: ${owner}`;
  if (!pauseAlive(rec) && !pinsHold(rec)) return 'its pause and its namespace pins are gone';
  return undefined;
}

/** Removes what crashed or interrupted podns processes left under this root; one line per thing removed. */
export async function gc(o: RootOption & StoreOption = {}): Promise<string[]> {
  const abs = resolveRoot(o.root);
  if (!existsSync(abs)) return storeLeftovers(resolveStore(o.store));
  const lines: string[] = [];
  const ourPauses = () => scanPauses().filter((p) => p.root === abs);

  // 1. whole pods
  const victims = await withLock(abs, () => {
    const out: Array<{ rec: PodRecord; reason: string }> = [];
    for (const n of listPodNames(abs)) {
      const rec = tryReadPod(abs, n);
      if (rec === undefined) continue;
      const reason = why(rec);
      if (reason !== undefined) {
        rec.phase = 'deleting';
        Object.assign(rec, me());
        writePod(abs, rec);
        out.push({ rec, reason });
      } else if (rec.phase === 'ready' && rec.ownerPid !== undefined && !ownerAlive(rec)) {
        // a repair that was killed: the pod is fine (or Degraded), only the mark is stale
        delete rec.ownerPid;
        delete rec.ownerStartTime;
        writePod(abs, rec);
      }
    }
    return out;
  });
  if (victims.length > 0) {
    const pauses = ourPauses();
    for (const { rec: marked, reason } of victims) {
      // read again: an earlier victim's teardown awaited, and meanwhile this pod may have been removed
      // (delete --force) or made anew under the same name
      const rec = tryReadPod(abs, marked.name);
      if (rec === undefined || rec.uid !== marked.uid || rec.phase !== 'deleting' || rec.ownerPid !== process.pid) continue;
      const extraPauses = pauses.filter((p) => p.pod === rec.name && p.uid === rec.uid && p.pid !== rec.pause?.pid);
      const done = await destroyPod(abs, rec, { grace: GC_GRACE_SECONDS, extraPauses });
      for (const d of done) lines.push(`removed ${d} (pod ${rec.name}: ${reason})`);
    }
  }

  // 2. strays
  await withLock(abs, async () => {
    // the records as they are now; called again after every await below
    const readRecords = (): Map<string, PodRecord> => {
      const out = new Map<string, PodRecord>();
      for (const n of listPodNames(abs)) {
        const rec = tryReadPod(abs, n);
        if (rec !== undefined) out.set(n, rec);
      }
      return out;
    };
    let records = readRecords();

    // container watchers (and so their workloads) that no record knows: a crash between starting a
    // shim and recording it, or a pod directory removed by hand;
    // first, so that the devices cgroups of the directories below are empty
    const known = (pod: string, c: string) => records.get(pod)?.containers.includes(c) ?? false;
    for (const l of killStrayWatchers(abs, known)) lines.push(`removed ${l} (no state records it)`);

    // pod directories without a record (a crash inside removal), and trash
    for (const entry of listDir(paths.pods(abs))) {
      records = readRecords();
      const dir = join(paths.pods(abs), entry);
      const trash = entry.startsWith('.trash-');
      if (!trash && (entry.startsWith('.') || records.has(entry))) {
        if (records.has(entry)) removeStaleTmp(dir);
        continue;
      }
      for (const ns of listDir(join(dir, 'ns'))) {
        if (unpin(join(dir, 'ns', ns))) lines.push(`removed pin ${join(dir, 'ns', ns)} (no pod record)`);
      }
      for (const c of listDir(join(dir, 'containers'))) {
        const cg = recordedDevicesCgroup(join(dir, 'containers', c, 'config.json'));
        if (await removeDevicesCgroup(cg).catch(() => false)) lines.push(`removed devices cgroup ${cg} (no pod record)`);
        const lc = recordedContainerCgroups(join(dir, 'containers', c, 'config.json'));
        if (await removeContainerCgroups(lc).catch(() => false)) lines.push(`removed cgroup ${lc!.cgroupPath} (no pod record)`);
      }
      for (const mp of unmountUnder(dir)) lines.push(`removed mount ${mp} (no pod record)`);
      // by directory fd, any depth, any path length (a container's writable layer may be in it)
      try {
        native.removeTree(dir);
      } catch (err) {
        if (!isErrno(err, 'ENOSYS')) throw err;
        rmSync(dir, { recursive: true, force: true }); // Linux < 5.8: no mount ids; unmountUnder ran above
      }
      lines.push(trash ? `removed ${dir} (left by an interrupted delete)` : `removed ${dir} (a pod directory without a record)`);
    }

    // pause processes without state
    records = readRecords();
    for (const p of ourPauses()) {
      const rec = p.pod !== undefined ? records.get(p.pod) : undefined;
      const recorded = rec !== undefined && rec.uid === p.uid && rec.pause?.pid === p.pid;
      if (recorded || (rec !== undefined && rec.uid === p.uid && ownerAlive(rec))) continue;
      if (killNow(p)) lines.push(`removed pause process ${p.pid} (pod ${p.pod ?? '?'}: no state records it)`);
    }


    // claims without a pod: the host-wide leftovers of a pod whose directory was lost
    const nftOwners = new Set<string>();
    let nftListed = false;
    for (const { name, uid } of listClaims(abs)) {
      records = readRecords();
      const rec = records.get(name);
      if (rec !== undefined && rec.uid === uid) continue;
      const claim = readClaim(abs, name, uid);
      // nft rules are keyed by pod name: while a pod of that name exists, they are its rules
      if (rec === undefined) {
        if (!nftListed) {
          for (const o of await listPortMappingOwners()) nftOwners.add(o);
          nftListed = true;
        }
        if (nftOwners.has(name) && await removePortMappings(name)) lines.push(`removed port mappings of pod ${name} (no pod record)`);
      }
      if (await removePodCgroup(hostCgroups(), claim?.cgroup).catch(() => false)) {
        lines.push(`removed cgroup ${claim!.cgroup!.path} (pod ${name}: no pod record)`);
      }
      const veth = hostVethName(name, uid);
      if (teardownPodNetwork(veth)) lines.push(`removed veth ${veth} (pod ${name}: no pod record)`);
      if (rec === undefined && claim?.netns !== undefined && unpinNetns(paths.netnsPin(name), claim.netns)) {
        lines.push(`removed pin ${paths.netnsPin(name)} (no pod record)`);
      }
      removeClaim(abs, name, uid);
    }

    // per network of this root: veths on its bridge that no pod owns, IPs whose owner does not exist
    records = readRecords();
    const owned = new Set<string>();
    for (const rec of records.values()) {
      if (rec.networkMode.kind === 'bridge') owned.add(rec.network?.hostVeth ?? hostVethName(rec.name, rec.uid));
    }
    for (const net of listDir(paths.networks(abs))) {
      if (net.startsWith('.')) continue;
      const cfg = readNetworkConfig(abs, net);
      if (cfg === undefined) continue;
      for (const veth of listHostVeths(cfg.bridge)) {
        if (owned.has(veth)) continue;
        if (teardownPodNetwork(veth)) lines.push(`removed veth ${veth} (bridge ${cfg.bridge}: no pod owns it)`);
      }
      const allocations = listAllocations(abs, net);
      // owner '': a file created but never written (its allocator died in between; allocation happens
      // under the lock, so no live allocator is in that window now)
      for (const a of allocations.filter((x) => x.owner === '')) {
        rmSync(join(paths.networkIps(abs, net), a.ip), { force: true });
        lines.push(`released IP ${a.ip} (network ${net}: an allocation that was never completed)`);
      }
      const stale = new Set(allocations.filter((a) => a.owner !== '' && !records.has(a.owner)).map((a) => a.owner));
      for (const owner of stale) {
        for (const ip of releaseIps(abs, net, owner)) lines.push(`released IP ${ip} (network ${net}: pod ${owner} does not exist)`);
      }
    }
  });
  lines.push(...storeLeftovers(resolveStore(o.store)));
  return lines;
}

/**
 * The image store's leftovers of dead processes: work directories (interrupted imports, pulls, loads,
 * unpacks), what a killed unpack or layer removal left under layers/, and partial downloads nobody holds.
 */
function storeLeftovers(store: string): string[] {
  return [
    ...cleanStoreTemp(store).map((l) => `${l} (its process is gone)`),
    ...new LayerStore(store).clean(),
    ...new ContentStore(store).clean().map((f) => `removed partial download ${f} (no live pull holds it)`),
  ];
}

/** Temporary files of atomic writes whose writer died before the rename. */
function removeStaleTmp(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!isTmpName(e)) continue;
    const pid = Number(/\.tmp-(\d+)-/.exec(e)?.[1]);
    if (!processAlive(pid)) rmSync(join(dir, e), { force: true });
  }
}
