// `podns net`: the interfaces a pod sees, read from inside its network namespace over rtnetlink, and the
// host end of its eth0.
//
// The netlink socket is opened inside the pod's namespace (NetlinkHandle.open(fd) switches one thread for
// the socket() call only); a netlink socket answers for the namespace it was born in, so every link,
// address and counter below is the pod's, whatever namespace this process stays in.
// The host side: a veth's IFLA_LINK is its peer's ifindex (in the namespace named by IFLA_LINK_NETNSID);
// looking that index up in our own namespace, and checking that the link there points back, finds the
// host veth without trusting the record. The bridge is the host veth's master.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { NotFoundError, PodnsError } from '../errors.js';
import { NetlinkHandle } from '../network/netlink/handle.js';
import type { Addr, Link } from '../network/netlink/decode.js';
import type { PodRecord } from '../pod/types.js';
import { processAlive } from '../pod/proc.js';
import { isWorkloadOf, readContainerConfig, readContainerStatus } from '../container/status.js';
import { hostCgroups } from '../cgroups/index.js';
import { validateName } from '../state/names.js';
import { nsfsDev, nsOf, nsOfPath, sameNs, type NsIdent } from './proc.js';

export interface NetCounters { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; rxDropped: number; txDropped: number }

export interface NetInterface {
  index: number;
  name: string;
  /** operational state as `ip link` prints it: UP, DOWN, UNKNOWN (lo), LOWERLAYERDOWN... */
  state: string;
  /** IFF_UP: administratively up */
  adminUp: boolean;
  mac: string | null;
  mtu: number | null;
  /** CIDR, IPv4 first */
  addresses: string[];
  /** veth, bridge, ... (null for lo and devices without a kind) */
  kind: string | null;
  /** for a veth: the peer's ifindex (in another namespace when linkNetnsId is set) */
  peerIndex: number | null;
  stats: NetCounters | null;
}

export interface HostPeer {
  /** the pod-side interface (eth0) */
  podIfname: string;
  /** the host-side veth */
  name: string;
  index: number;
  state: string;
  mac: string | null;
  /** the bridge it is a port of */
  bridge: string | null;
  /** the host veth the pod record names, when it names one */
  recorded: string | null;
}

export interface NetView {
  pod: string;
  /** the container whose view this is (-c), or null for the pod's pinned namespace */
  container: string | null;
  /** the process whose namespace was read (-c), or null */
  pid: number | null;
  netns: { ino: number; dev: number; path: string };
  /** the pause's network namespace (or the pin's, with the pause dead) */
  podNetns: number | null;
  /** true when this is the pod's (the pause's) network namespace */
  sharedWithPause: boolean;
  /** the pause is running (otherwise the pod's namespace is known from its pin) */
  pauseAlive: boolean;
  /** for a pod made with --network pod:OTHER: the pod whose namespace it joined */
  joinedFrom: string | null;
  hostNetwork: boolean;
  interfaces: NetInterface[];
  hostPeers: HostPeer[];
  /** the cgroup of the pod (or with -c, of the container) as recorded, and the driver; null: none */
  cgroup: { driver: string; path: string } | null;
}

function stateName(link: Link): string {
  return link.operState.toUpperCase();
}

function toInterface(link: Link, addrs: Addr[]): NetInterface {
  const mine = addrs.filter((a) => a.index === link.index)
    .sort((a, b) => a.family - b.family) // AF_INET (2) before AF_INET6 (10)
    .map((a) => `${a.address}/${a.prefixLength}`);
  return {
    index: link.index, name: link.name, state: stateName(link), adminUp: link.up, mac: link.mac ?? null, mtu: link.mtu ?? null,
    addresses: mine, kind: link.kind ?? null, peerIndex: link.kind === 'veth' && link.link !== undefined ? link.link : null,
    stats: link.stats ? { ...link.stats } : null,
  };
}

/** Links and addresses of the namespace behind fd (undefined: our own). */
export function readInterfaces(netnsFd?: number): NetInterface[] {
  const h = NetlinkHandle.open(netnsFd);
  try {
    const links = h.linkList();
    const addrs = h.addrList();
    return links.sort((a, b) => a.index - b.index).map((l) => toInterface(l, addrs));
  } finally {
    h.close();
  }
}

/** The host ends of the pod's veths, found from the pod side's IFLA_LINK and checked from the host side. */
export function findHostPeers(podIfs: NetInterface[], recorded: string | null): HostPeer[] {
  const veths = podIfs.filter((i) => i.kind === 'veth' && i.peerIndex !== null);
  if (veths.length === 0) return [];
  const h = NetlinkHandle.open();
  try {
    const host = h.linkList();
    const byIndex = new Map(host.map((l) => [l.index, l]));
    const out: HostPeer[] = [];
    for (const v of veths) {
      const peer = byIndex.get(v.peerIndex!);
      // an ifindex alone could name an unrelated host link: the peer must be a veth pointing back at us
      if (peer === undefined || peer.kind !== 'veth' || peer.link !== v.index || peer.linkNetnsId === undefined) continue;
      const master = peer.master !== undefined ? byIndex.get(peer.master) : undefined;
      out.push({ podIfname: v.name, name: peer.name, index: peer.index, state: stateName(peer), mac: peer.mac ?? null,
        bridge: master?.name ?? null, recorded });
    }
    return out;
  } finally {
    h.close();
  }
}

function containerPid(root: string, rec: PodRecord, name: string): number {
  validateName('container', name);
  if (!rec.containers.includes(name)) {
    throw new NotFoundError('container', name,
      `container "${name}" not found in pod "${rec.name}"; it has: ${rec.containers.join(', ') || '(no containers)'}`);
  }
  const st = readContainerStatus({ root, pod: rec.name, name });
  if (st === undefined || st.state !== 'running' || !isWorkloadOf(st.pid, st.watcherPid)) {
    throw new PodnsError('ENOTRUNNING', `container "${name}" of pod "${rec.name}" is not running (${st?.state ?? 'not started'}); its network namespace can only be read through a live process, so leave out -c to read the pod's`);
  }
  return st.pid;
}

/**
 * The pod's network as seen from inside: from its pinned namespace, or with `container`, through that
 * container's main process (/proc/PID/ns/net), which shows whether it really shares the pause's.
 */
export function netView(root: string, rec: PodRecord, container?: string): NetView {
  const dev = nsfsDev();
  const pin = rec.namespaces.find((n) => n.type === 'net');
  let pinId: NsIdent | undefined;
  if (pin) {
    const id = nsOfPath(pin.path, dev);
    if (id !== undefined && id.ino === pin.ino) pinId = id;
  }
  const pauseAlive = rec.pause !== undefined && processAlive(rec.pause.pid, rec.pause.startTime);
  const pauseNet = pauseAlive ? nsOf(rec.pause!.pid, 'net') : undefined;
  const podNet = pauseNet ?? pinId;
  const hostNetwork = rec.networkMode.kind === 'host';

  let path: string;
  let pid: number | null = null;
  if (container !== undefined) {
    pid = containerPid(root, rec, container);
    path = `/proc/${pid}/ns/net`;
  } else if (pinId !== undefined) {
    path = pin!.path;
  } else if (pauseAlive) {
    path = `/proc/${rec.pause!.pid}/ns/net`;
  } else if (hostNetwork) {
    path = '/proc/self/ns/net';
  } else {
    throw new PodnsError('ENONETNS', `pod "${rec.name}" has no network namespace left (its pause is dead and its pin is gone); run 'podns repair ${rec.name}' or delete it`);
  }

  const fd = openSync(path, 'r');
  let interfaces: NetInterface[];
  let ident: NsIdent;
  try {
    const st = fstatSync(fd);
    ident = { ino: st.ino, dev: st.dev };
    if (pid !== null && !processAlive(pid)) {
      throw new PodnsError('ENOTRUNNING', `container "${container}" ended while its network was read; run the command again`);
    }
    interfaces = readInterfaces(fd);
  } finally {
    closeSync(fd);
  }
  const recorded = rec.network?.hostVeth ?? null;
  return {
    pod: rec.name,
    container: container ?? null,
    pid,
    netns: { ino: ident.ino, dev: ident.dev, path },
    podNetns: podNet?.ino ?? null,
    sharedWithPause: sameNs(ident, podNet),
    pauseAlive,
    joinedFrom: rec.networkMode.kind === 'pod' ? rec.networkMode.pod : null,
    hostNetwork,
    interfaces,
    hostPeers: hostNetwork ? [] : findHostPeers(interfaces, recorded),
    cgroup: cgroupOf(root, rec, container),
  };
}

function cgroupOf(root: string, rec: PodRecord, container: string | undefined): NetView['cgroup'] {
  const path = container !== undefined ? readContainerConfig({ root, pod: rec.name, name: container })?.cgroupPath : rec.cgroupPath;
  return path !== undefined ? { driver: hostCgroups().driver, path } : null;
}
