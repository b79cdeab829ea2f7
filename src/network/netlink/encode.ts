// Building rtnetlink requests: pure functions from values to bytes (little-endian host order, x86/arm).
// A request is one Buffer holding nlmsghdr + family header + attributes; its seq is 0 until
// NetlinkHandle stamps it (offset 8), so the builders need no state and can be unit-tested.
import * as C from './constants.js';

const align4 = (n: number) => (n + 3) & ~3;

/** One attribute (struct nlattr): length, type, payload, padding to 4 bytes. */
export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

export function u8Attr(type: number, v: number): Buffer {
  return attr(type, Buffer.from([v & 0xff]));
}

export function u32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return attr(type, b);
}

export function s32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return attr(type, b);
}

/** NUL-terminated string (IFLA_IFNAME, IFLA_INFO_KIND). */
export function strAttr(type: number, s: string): Buffer {
  return attr(type, Buffer.from(s + '\0', 'utf8'));
}

/** A nest of attributes. Some parsers (bridge IFLA_PROTINFO) only read it as a nest with NLA_F_NESTED. */
export function nest(type: number, ...children: Buffer[]): Buffer {
  return attr(type, Buffer.concat(children));
}

/** The whole message; nlmsg_len covers every part, parts are already 4-aligned. */
export function nlmsg(type: number, flags: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(C.NLMSG_HDRLEN + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags | C.NLM_F_REQUEST, 6);
  // seq (8) and pid (12) stay 0 here
  body.copy(out, C.NLMSG_HDRLEN);
  return out;
}

export interface IfInfo { family?: number; type?: number; index?: number; flags?: number; change?: number }

export function ifinfomsg(i: IfInfo = {}): Buffer {
  const b = Buffer.alloc(C.IFINFOMSG_LEN);
  b.writeUInt8(i.family ?? C.AF_UNSPEC, 0);
  b.writeUInt16LE(i.type ?? 0, 2);
  b.writeInt32LE(i.index ?? 0, 4);
  b.writeUInt32LE((i.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((i.change ?? 0) >>> 0, 12);
  return b;
}

export function ifaddrmsg(family: number, prefixLength: number, index: number, scope = C.RT_SCOPE_UNIVERSE): Buffer {
  const b = Buffer.alloc(C.IFADDRMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(0, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index >>> 0, 4);
  return b;
}

export interface RtMsg {
  family: number; dstLen?: number; table?: number; protocol?: number; scope?: number; type?: number;
}

export function rtmsg(r: RtMsg): Buffer {
  const b = Buffer.alloc(C.RTMSG_LEN);
  b.writeUInt8(r.family, 0);
  b.writeUInt8(r.dstLen ?? 0, 1);
  b.writeUInt8(0, 2); // src_len
  b.writeUInt8(0, 3); // tos
  b.writeUInt8(r.table ?? 0, 4);
  b.writeUInt8(r.protocol ?? 0, 5);
  b.writeUInt8(r.scope ?? 0, 6);
  b.writeUInt8(r.type ?? 0, 7);
  b.writeUInt32LE(0, 8);
  return b;
}

// IFNAMSIZ is 16 with the NUL; the kernel refuses '/', ':' and whitespace (dev_valid_name).
const IFNAME = /^[A-Za-z0-9_.@+-]{1,15}$/;

/** A callers' bug, not user input: user-given names are checked in src/network/config.ts first. */
export function checkIfname(name: string): string {
  if (!IFNAME.test(name) || name === '.' || name === '..') throw new TypeError(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

export function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.');
  const b = Buffer.alloc(4);
  if (parts.length !== 4) throw new TypeError(`invalid IPv4 address ${JSON.stringify(ip)}`);
  parts.forEach((p, i) => {
    const n = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(n >= 0 && n <= 255)) throw new TypeError(`invalid IPv4 address ${JSON.stringify(ip)}`);
    b[i] = n;
  });
  return b;
}

export function macBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new TypeError(`invalid MAC address ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

// ---- request builders, named after the iproute2 command they match ----

/** IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = NONE } }: no IPv6 link-local, no DAD/RS/MLD chatter. */
export function addrGenModeNone(): Buffer {
  return nest(C.IFLA_AF_SPEC, nest(C.AF_INET6, u8Attr(C.IFLA_INET6_ADDR_GEN_MODE, C.IN6_ADDR_GEN_MODE_NONE)));
}

export interface VethAdd {
  name: string;
  peerName: string;
  /** create the peer directly in this netns (IFLA_NET_NS_FD) */
  peerNetnsFd?: number;
  /** ifindex of the bridge to enslave the new device to (IFLA_MASTER) */
  master?: number;
  mtu?: number;
  peerMtu?: number;
  peerMac?: string;
  /** IFF_UP for `name`; the peer can't be set up in the same message (veth_open → ENOTCONN) */
  up?: boolean;
  /** tx and rx queues of each end (the kernel's default is one per possible CPU) */
  queues?: number;
}

/** ip link add NAME [mtu M] [master BR] [up] type veth peer name PEER [netns FD] [mtu M] [address MAC] */
export function linkAddVeth(v: VethAdd, flags = 0): Buffer {
  const peer: Buffer[] = [ifinfomsg(), strAttr(C.IFLA_IFNAME, checkIfname(v.peerName))];
  if (v.peerNetnsFd !== undefined) peer.push(u32Attr(C.IFLA_NET_NS_FD, v.peerNetnsFd));
  if (v.peerMtu !== undefined) peer.push(u32Attr(C.IFLA_MTU, v.peerMtu));
  if (v.peerMac !== undefined) peer.push(attr(C.IFLA_ADDRESS, macBytes(v.peerMac)));
  const attrs = [strAttr(C.IFLA_IFNAME, checkIfname(v.name))];
  if (v.queues !== undefined) {
    const q = [u32Attr(C.IFLA_NUM_TX_QUEUES, v.queues), u32Attr(C.IFLA_NUM_RX_QUEUES, v.queues)];
    peer.push(...q);
    attrs.push(...q);
  }
  if (v.mtu !== undefined) attrs.push(u32Attr(C.IFLA_MTU, v.mtu));
  if (v.master !== undefined) attrs.push(u32Attr(C.IFLA_MASTER, v.master));
  attrs.push(nest(C.IFLA_LINKINFO,
    strAttr(C.IFLA_INFO_KIND, 'veth'),
    nest(C.IFLA_INFO_DATA, attr(C.VETH_INFO_PEER, Buffer.concat(peer)))));
  const up = v.up ? C.IFF_UP : 0;
  return nlmsg(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL | C.NLM_F_ACK | flags,
    ifinfomsg({ flags: up, change: up }), ...attrs);
}

export interface BridgeAdd { name: string; mtu?: number; mac?: string }

/** ip link add NAME [mtu M] [address MAC] type bridge */
export function linkAddBridge(b: BridgeAdd): Buffer {
  const attrs = [strAttr(C.IFLA_IFNAME, checkIfname(b.name))];
  if (b.mtu !== undefined) attrs.push(u32Attr(C.IFLA_MTU, b.mtu));
  if (b.mac !== undefined) attrs.push(attr(C.IFLA_ADDRESS, macBytes(b.mac)));
  attrs.push(nest(C.IFLA_LINKINFO, strAttr(C.IFLA_INFO_KIND, 'bridge')));
  return nlmsg(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL | C.NLM_F_ACK, ifinfomsg(), ...attrs);
}

/** A device by index, or by name (index 0 + IFLA_IFNAME: the kernel looks it up). */
export type LinkRef = number | string;

function refParts(ref: LinkRef): { index: number; attrs: Buffer[] } {
  return typeof ref === 'number' ? { index: ref, attrs: [] } : { index: 0, attrs: [strAttr(C.IFLA_IFNAME, checkIfname(ref))] };
}

/** ip link del REF */
export function linkDel(ref: LinkRef): Buffer {
  const r = refParts(ref);
  return nlmsg(C.RTM_DELLINK, C.NLM_F_ACK, ifinfomsg({ index: r.index }), ...r.attrs);
}

export interface LinkSet {
  up?: boolean;
  mtu?: number;
  /** ifindex of the new master; 0 = nomaster */
  master?: number;
  addrGenModeNone?: boolean;
  /** bridge port hairpin (IFLA_INFO_SLAVE_DATA { IFLA_BRPORT_MODE }); the link must already be a bridge port */
  hairpin?: boolean;
}

/**
 * ip link set REF [up|down] [mtu M] [master BR] [addrgenmode none] [type bridge_slave hairpin on|off]
 * RTM_NEWLINK without NLM_F_CREATE changes an existing link; unlike RTM_SETLINK it also takes
 * IFLA_LINKINFO, so hairpin can ride in the same message. The kernel applies the bridge-port data first,
 * then flags (up), master, and IFLA_AF_SPEC last (do_setlink order).
 */
export function linkSet(ref: LinkRef, s: LinkSet): Buffer {
  const r = refParts(ref);
  const attrs = [...r.attrs];
  if (s.mtu !== undefined) attrs.push(u32Attr(C.IFLA_MTU, s.mtu));
  if (s.master !== undefined) attrs.push(u32Attr(C.IFLA_MASTER, s.master));
  if (s.hairpin !== undefined) {
    attrs.push(nest(C.IFLA_LINKINFO,
      strAttr(C.IFLA_INFO_SLAVE_KIND, 'bridge'),
      nest(C.IFLA_INFO_SLAVE_DATA, u8Attr(C.IFLA_BRPORT_MODE, s.hairpin ? 1 : 0))));
  }
  if (s.addrGenModeNone) attrs.push(addrGenModeNone());
  const change = s.up === undefined ? 0 : C.IFF_UP;
  const flags = s.up ? C.IFF_UP : 0;
  return nlmsg(C.RTM_NEWLINK, C.NLM_F_ACK, ifinfomsg({ index: r.index, flags, change }), ...attrs);
}

/**
 * bridge link set dev INDEX hairpin on|off: RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO (nested flag required).
 * The AF_BRIDGE handler finds the port by ifindex only (no IFLA_IFNAME lookup).
 */
export function bridgeLinkSetHairpin(index: number, on: boolean): Buffer {
  return nlmsg(C.RTM_SETLINK, C.NLM_F_ACK, ifinfomsg({ family: C.AF_BRIDGE, index }),
    nest(C.IFLA_PROTINFO | C.NLA_F_NESTED, u8Attr(C.IFLA_BRPORT_MODE, on ? 1 : 0)));
}

/** ip link show REF; stats false: without the counters (IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS) */
export function linkGet(ref: LinkRef, o: { stats?: boolean } = {}): Buffer {
  const r = refParts(ref);
  const mask = o.stats === false ? [u32Attr(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS)] : [];
  return nlmsg(C.RTM_GETLINK, 0, ifinfomsg({ index: r.index }), ...r.attrs, ...mask);
}

/** ip link show (dump) */
export function linkDump(): Buffer {
  return nlmsg(C.RTM_GETLINK, C.NLM_F_DUMP, ifinfomsg());
}

/** ip addr add|del IP/PREFIX dev INDEX (IPv4; broadcast derived like `brd +`) */
export function addrMsg(type: typeof C.RTM_NEWADDR | typeof C.RTM_DELADDR, index: number, ip: string, prefixLength: number): Buffer {
  const a = ipv4Bytes(ip);
  const attrs = [attr(C.IFA_LOCAL, a), attr(C.IFA_ADDRESS, a)];
  if (prefixLength < 31) {
    const v = a.readUInt32BE(0) | (prefixLength === 0 ? 0xffffffff : (0xffffffff >>> prefixLength));
    const brd = Buffer.alloc(4);
    brd.writeUInt32BE(v >>> 0, 0);
    attrs.push(attr(C.IFA_BROADCAST, brd));
  }
  const flags = type === C.RTM_NEWADDR ? C.NLM_F_CREATE | C.NLM_F_EXCL | C.NLM_F_ACK : C.NLM_F_ACK;
  return nlmsg(type, flags, ifaddrmsg(C.AF_INET, prefixLength, index), ...attrs);
}

/** ip addr show (dump), one family or all */
export function addrDump(family = C.AF_UNSPEC): Buffer {
  return nlmsg(C.RTM_GETADDR, C.NLM_F_DUMP, ifaddrmsg(family, 0, 0));
}

export interface RouteAdd {
  /** 'default' or A.B.C.D/N */
  dst?: { ip: string; prefixLength: number };
  gateway?: string;
  oif?: number;
}

/** ip route add (default | DST) [via GW] [dev OIF] (main table, IPv4) */
export function routeAdd(r: RouteAdd): Buffer {
  const link = r.gateway === undefined;
  const attrs: Buffer[] = [];
  if (r.dst) attrs.push(attr(C.RTA_DST, ipv4Bytes(r.dst.ip)));
  if (r.gateway !== undefined) attrs.push(attr(C.RTA_GATEWAY, ipv4Bytes(r.gateway)));
  if (r.oif !== undefined) attrs.push(u32Attr(C.RTA_OIF, r.oif));
  return nlmsg(C.RTM_NEWROUTE, C.NLM_F_CREATE | C.NLM_F_EXCL | C.NLM_F_ACK,
    rtmsg({
      family: C.AF_INET, dstLen: r.dst?.prefixLength ?? 0, table: C.RT_TABLE_MAIN, protocol: C.RTPROT_BOOT,
      scope: link ? C.RT_SCOPE_LINK : C.RT_SCOPE_UNIVERSE, type: C.RTN_UNICAST,
    }), ...attrs);
}

/** ip route show table all (dump, IPv4) */
export function routeDump(family = C.AF_INET): Buffer {
  return nlmsg(C.RTM_GETROUTE, C.NLM_F_DUMP, rtmsg({ family }));
}
