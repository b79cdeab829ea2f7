// A pod's network: a veth pair whose host end is a bridge port and whose other end is born inside the
// pod's netns as eth0 — no interface ever appears in the host netns under a temporary name, and no
// "move to netns" step is needed.
//
// This is the pod-create hot path, so it is two netlink datagrams, each a batch the kernel runs in order:
//   host netns: create the veth (host end: mtu, master bridge, up; peer: eth0 in the pod netns, mtu,
//               MAC) + host end: hairpin, IPv6 address generation off
//   pod netns:  lo up; eth0: IPv6 address generation off, then up; address; default route
// The peer's ifindex inside the pod comes back in the creation's echo (IFLA_LINK of the host end), so
// the pod batch needs no lookup.
//
// Why "address generation off" comes before "up" in its own message: a veth end whose peer is already
// up gets carrier (and a qdisc) the moment it goes up, and IPv6 gives it a link-local address right in
// that NETDEV_UP event — before the kernel would look at an IFLA_AF_SPEC later in the same message.
// The host end goes up at creation while eth0 is down, so it has no carrier then; its mode is set in
// the same datagram, before eth0 comes up. (The kernel refuses IFLA_AF_SPEC in a create: EAFNOSUPPORT.)
import { PodnsError, isErrno, type ErrnoError } from '../errors.js';
import type { PodNetwork } from '../pod/types.js';
import type { NetworkConfig } from './config.js';
import { bridgeIndex, forgetBridge, hostHandle } from './host.js';
import { parseCidr, parseIp, contains, intToIp } from './ip.js';
import { macForIp } from './mac.js';
import * as C from './netlink/constants.js';
import * as E from './netlink/encode.js';
import { linkDecoder, NetlinkHandle, type Link } from './netlink/handle.js';
import { fnv1a64 } from '../util/random.js';

const HOST_VETH = /^pn[0-9a-f]{12}$/;

/**
 * 'pn' + 12 hex digits of a hash of pod/uid: 14 characters (IFNAMSIZ allows 15), unique per pod instance
 * (the uid is random), and derivable again from a claim by gc.
 */
/**
 * Set in every netns a pod makes (native.nsCreate writes them inside it, never in ours): any group may open
 * ICMP echo sockets (SOCK_DGRAM, IPPROTO_ICMP), so `ping` works in a container without CAP_NET_RAW, as
 * Docker (and podman, for its default user) sets it. Only echo requests and replies, no raw packets.
 */
export const POD_NET_SYSCTLS: Readonly<Record<string, string>> = { 'net.ipv4.ping_group_range': '0 2147483647' };

export function hostVethName(pod: string, uid: string): string {
  return 'pn' + fnv1a64(`${pod}/${uid}`).slice(0, 12);
}

export function isHostVethName(name: string): boolean {
  return HOST_VETH.test(name);
}

/** Host veths podns made (by their name), optionally only those that are ports of `bridge`. */
export function listHostVeths(bridge?: string): string[] {
  const links = hostHandle().linkList();
  let master: number | undefined;
  if (bridge !== undefined) {
    master = links.find((l) => l.name === bridge)?.index;
    if (master === undefined) return [];
  }
  return links
    .filter((l) => HOST_VETH.test(l.name) && l.kind === 'veth' && (master === undefined || l.master === master))
    .map((l) => l.name)
    .sort();
}

export interface SetupPodNetworkOptions {
  net: NetworkConfig;
  /** an fd of the pod's netns (its pin or /proc/PID/ns/net), open for the duration of the call */
  netnsFd: number;
  hostVeth: string;
  ip: string;
  /** a netlink handle already open in that netns (the caller's, not closed here); default: one opened here */
  podHandle?: NetlinkHandle;
}

/** Netlink datagrams sent by the last setupPodNetwork (for the benchmark). */
export let lastSetupSends = 0;

function bridgeFull(net: NetworkConfig, cause: unknown): PodnsError {
  return new PodnsError('EBRIDGEFULL',
    `network "${net.name}" is full: bridge ${net.bridge} has 1023 ports, the kernel's limit; create the pod on another network (--bridge NAME --subnet CIDR)`,
    { cause });
}

function createVeth(o: SetupPodNetworkOptions, mac: string): Link | undefined {
  const h = hostHandle();
  const { net, hostVeth } = o;
  for (let attempt = 0; ; attempt++) {
    const master = bridgeIndex(net.bridge);
    if (master === undefined) {
      throw new PodnsError('ENONETWORK', `bridge ${net.bridge} of network "${net.name}" does not exist: create the network first (ensureNetwork)`);
    }
    const sendsBefore = h.sends;
    try {
      const [echo] = h.exchange([
        {
          msg: E.linkAddVeth({
            // one queue pair per end: each queue is a kobject in sysfs, and creating them is most of
            // what a veth costs; a pod's eth0 gains nothing from per-CPU queues (no XDP, no RSS)
            name: hostVeth, mtu: net.mtu, master, up: true, queues: 1,
            peerName: 'eth0', peerNetnsFd: o.netnsFd, peerMtu: net.mtu, peerMac: mac,
          }, C.NLM_F_ECHO),
          decode: linkDecoder, what: hostVeth,
        },
        // runs even when the create failed; then it only touches a link of this very name (ours) or fails
        { msg: E.linkSet(hostVeth, { hairpin: true, addrGenModeNone: true }), what: hostVeth },
      ]);
      lastSetupSends += h.sends - sendsBefore;
      return (echo as Link[]).find((l) => l.name === hostVeth);
    } catch (err) {
      lastSetupSends += h.sends - sendsBefore;
      const code = (err as ErrnoError).code;
      const createFailed = (err as { request?: number }).request === 0;
      // the veth was made but could not be configured: take it away again (nothing half-made)
      if (!createFailed) {
        try { h.linkDel(hostVeth); } catch { /* the error below matters more; gc finds a leftover */ }
      }
      if (code === 'EXFULL') throw bridgeFull(net, err);
      // A cached bridge index goes stale when the bridge is re-made; look it up again, once.
      if (attempt === 0 && createFailed && (code === 'EINVAL' || code === 'ENODEV' || code === 'EOPNOTSUPP')) {
        forgetBridge(net.bridge);
        if (bridgeIndex(net.bridge) !== master) continue;
      }
      throw err;
    }
  }
}

/**
 * Plugs the pod into the bridge: eth0 (ip/prefix, MTU, MAC 0a:58:IP), lo up, default route via the
 * gateway. All or nothing: when a step fails, the veth (both ends) is deleted again.
 */
export function setupPodNetwork(o: SetupPodNetworkOptions): PodNetwork {
  const { net, hostVeth } = o;
  if (!HOST_VETH.test(hostVeth)) throw new TypeError(`invalid host veth name ${JSON.stringify(hostVeth)} (use hostVethName)`);
  const cidr = parseCidr(net.subnet);
  const ipN = parseIp(o.ip, 'pod IP');
  if (!contains(cidr, ipN)) throw new PodnsError('EINVALIDIP', `IP ${o.ip} is not in subnet ${net.subnet} of network "${net.name}"`);
  const ip = intToIp(ipN);
  const mac = macForIp(ip);
  lastSetupSends = 0;

  const hostEnd = createVeth(o, mac);
  try {
    const pod = o.podHandle ?? NetlinkHandle.open(o.netnsFd);
    const sendsBefore = pod.sends;
    try {
      const eth0 = hostEnd?.link ?? pod.linkIndex('eth0'); // no echo: an older kernel
      pod.exchange([
        { msg: E.linkSet(1, { up: true }), what: 'lo' }, // lo is ifindex 1 in every netns
        { msg: E.linkSet(eth0, { addrGenModeNone: true }), what: 'eth0' },
        { msg: E.linkSet(eth0, { up: true }), what: 'eth0' },
        { msg: E.addrMsg(C.RTM_NEWADDR, eth0, ip, cidr.prefixLength), what: `${ip}/${cidr.prefixLength} dev eth0` },
        { msg: E.routeAdd({ gateway: net.gateway, oif: eth0 }), what: `default via ${net.gateway}` },
      ]);
      lastSetupSends += pod.sends - sendsBefore;
    } finally {
      if (o.podHandle === undefined) pod.close();
    }
  } catch (err) {
    try {
      hostHandle().linkDel(hostVeth);
    } catch {
      // the original error matters more; gc removes a leftover veth
    }
    throw err;
  }
  return {
    bridge: net.bridge, network: net.name, ifname: 'eth0', ip, prefixLength: cidr.prefixLength,
    gateway: net.gateway, mac, hostVeth, mtu: net.mtu,
  };
}

/** Deletes the pod's veth pair (by its host end); false when it is already gone. */
/**
 * teardownPodNetwork without holding up the event loop: the delete is sent from a pool thread on a netlink
 * socket of its own (the kernel runs it inside send(), waiting for RCU grace periods: 10-40 ms), so a
 * long-running server keeps answering meanwhile. The same answer: false when the veth was gone.
 */
export async function teardownPodNetworkAsync(hostVeth: string): Promise<boolean> {
  if (!HOST_VETH.test(hostVeth)) throw new PodnsError('EINVALIDIFNAME', `refusing to delete "${hostVeth}": not a podns host veth (pn + 12 hex digits)`);
  const h = NetlinkHandle.open();
  try {
    return await h.linkDelAsync(hostVeth);
  } finally {
    h.close();
  }
}

export function teardownPodNetwork(hostVeth: string): boolean {
  // only names podns makes: a tampered record must not make us delete eth0 of the host
  if (!HOST_VETH.test(hostVeth)) throw new PodnsError('EINVALIDIFNAME', `refusing to delete "${hostVeth}": not a podns host veth (pn + 12 hex digits)`);
  try {
    return hostHandle().linkDel(hostVeth);
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return false;
    throw err;
  }
}
