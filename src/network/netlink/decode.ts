// Reading rtnetlink replies: pure functions from bytes to plain objects. Replies arrive in one
// reused receive buffer, so everything here copies values out (numbers, strings) and keeps no views.
import { getSystemErrorMap } from 'node:util';
import * as C from './constants.js';

const align4 = (n: number) => (n + 3) & ~3;

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** payload bounds inside the datagram buffer */
  start: number;
  end: number;
}

/** Splits one datagram into its netlink messages. */
export function splitMessages(buf: Buffer, length: number): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + C.NLMSG_HDRLEN <= length) {
    const len = buf.readUInt32LE(off);
    if (len < C.NLMSG_HDRLEN || off + len > length) throw new Error(`netlink: truncated message (len ${len} at ${off} of ${length})`);
    out.push({
      type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8), pid: buf.readUInt32LE(off + 12),
      start: off + C.NLMSG_HDRLEN, end: off + len,
    });
    off += align4(len);
  }
  return out;
}

/** Attributes between start and end, by type (flags masked off); the last one of a type wins. */
export function parseAttrs(buf: Buffer, start: number, end: number): Map<number, { start: number; end: number }> {
  const out = new Map<number, { start: number; end: number }>();
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & C.NLA_TYPE_MASK;
    if (len < 4 || off + len > end) break;
    out.set(type, { start: off + 4, end: off + len });
    off += align4(len);
  }
  return out;
}

type Span = { start: number; end: number } | undefined;

export function str(buf: Buffer, s: Span): string | undefined {
  if (!s) return undefined;
  let e = s.end;
  while (e > s.start && buf[e - 1] === 0) e--;
  return buf.toString('utf8', s.start, e);
}
const u8 = (buf: Buffer, s: Span) => (s && s.end - s.start >= 1 ? buf.readUInt8(s.start) : undefined);
const u32 = (buf: Buffer, s: Span) => (s && s.end - s.start >= 4 ? buf.readUInt32LE(s.start) : undefined);
const s32 = (buf: Buffer, s: Span) => (s && s.end - s.start >= 4 ? buf.readInt32LE(s.start) : undefined);

export function mac(buf: Buffer, s: Span): string | undefined {
  if (!s) return undefined;
  const parts: string[] = [];
  for (let i = s.start; i < s.end; i++) parts.push(buf[i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function ipString(buf: Buffer, s: Span): string | undefined {
  if (!s) return undefined;
  const n = s.end - s.start;
  if (n === 4) return `${buf[s.start]}.${buf[s.start + 1]}.${buf[s.start + 2]}.${buf[s.start + 3]}`;
  if (n === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(s.start + 2 * i).toString(16));
    // the longest run of zero groups becomes '::'
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8;) {
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLen) { best = i; bestLen = j - i; }
      i = j === i ? i + 1 : j;
    }
    if (best < 0) return groups.join(':');
    return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  }
  return undefined;
}

export interface LinkStats { rxPackets: number; txPackets: number; rxBytes: number; txBytes: number; rxDropped: number; txDropped: number }

export interface Link {
  index: number;
  name: string;
  /** net_device flags (IFF_*) */
  flags: number;
  up: boolean;
  operState: (typeof C.OPERSTATES)[number];
  mac?: string;
  mtu?: number;
  /** ifindex of the master (bridge) */
  master?: number;
  /** IFLA_INFO_KIND: 'veth', 'bridge', ... */
  kind?: string;
  /** IFLA_INFO_SLAVE_KIND: 'bridge' for a bridge port */
  slaveKind?: string;
  /** bridge port hairpin mode, when the link is a bridge port */
  hairpin?: boolean;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the netns named by linkNetnsId when set) */
  link?: number;
  linkNetnsId?: number;
  stats?: LinkStats;
}

/** RTM_NEWLINK payload → Link */
export function decodeLink(buf: Buffer, start: number, end: number): Link {
  const index = buf.readInt32LE(start + 4);
  const flags = buf.readUInt32LE(start + 8);
  const a = parseAttrs(buf, start + C.IFINFOMSG_LEN, end);
  const link: Link = {
    index, name: str(buf, a.get(C.IFLA_IFNAME)) ?? '', flags, up: (flags & C.IFF_UP) !== 0,
    operState: C.OPERSTATES[u8(buf, a.get(C.IFLA_OPERSTATE)) ?? 0] ?? 'unknown',
  };
  const m = mac(buf, a.get(C.IFLA_ADDRESS));
  if (m !== undefined) link.mac = m;
  const mtu = u32(buf, a.get(C.IFLA_MTU));
  if (mtu !== undefined) link.mtu = mtu;
  const master = u32(buf, a.get(C.IFLA_MASTER));
  if (master !== undefined) link.master = master;
  const peer = u32(buf, a.get(C.IFLA_LINK));
  if (peer !== undefined) link.link = peer;
  const nsid = s32(buf, a.get(C.IFLA_LINK_NETNSID));
  if (nsid !== undefined) link.linkNetnsId = nsid;
  const info = a.get(C.IFLA_LINKINFO);
  if (info) {
    const ia = parseAttrs(buf, info.start, info.end);
    const kind = str(buf, ia.get(C.IFLA_INFO_KIND));
    if (kind !== undefined) link.kind = kind;
    const slaveKind = str(buf, ia.get(C.IFLA_INFO_SLAVE_KIND));
    if (slaveKind !== undefined) link.slaveKind = slaveKind;
    const sd = ia.get(C.IFLA_INFO_SLAVE_DATA);
    if (sd && slaveKind === 'bridge') {
      const mode = u8(buf, parseAttrs(buf, sd.start, sd.end).get(C.IFLA_BRPORT_MODE));
      if (mode !== undefined) link.hairpin = mode === 1;
    }
  }
  const st = a.get(C.IFLA_STATS64);
  if (st && st.end - st.start >= 64) {
    // struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped
    const q = (i: number) => Number(buf.readBigUInt64LE(st.start + 8 * i));
    link.stats = { rxPackets: q(0), txPackets: q(1), rxBytes: q(2), txBytes: q(3), rxDropped: q(6), txDropped: q(7) };
  }
  return link;
}

export interface Addr {
  family: number;
  index: number;
  prefixLength: number;
  scope: number;
  /** IFA_LOCAL when present (the interface's own address), else IFA_ADDRESS */
  address: string;
  label?: string;
  broadcast?: string;
}

/** RTM_NEWADDR payload → Addr */
export function decodeAddr(buf: Buffer, start: number, end: number): Addr {
  const a = parseAttrs(buf, start + C.IFADDRMSG_LEN, end);
  const addr: Addr = {
    family: buf.readUInt8(start), prefixLength: buf.readUInt8(start + 1), scope: buf.readUInt8(start + 3),
    index: buf.readUInt32LE(start + 4),
    address: ipString(buf, a.get(C.IFA_LOCAL)) ?? ipString(buf, a.get(C.IFA_ADDRESS)) ?? '',
  };
  const label = str(buf, a.get(C.IFA_LABEL));
  if (label !== undefined) addr.label = label;
  const brd = ipString(buf, a.get(C.IFA_BROADCAST));
  if (brd !== undefined) addr.broadcast = brd;
  return addr;
}

export interface Route {
  family: number;
  /** 'default' or A.B.C.D/N */
  dst: string;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  priority?: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
}

/** RTM_NEWROUTE payload → Route */
export function decodeRoute(buf: Buffer, start: number, end: number): Route {
  const dstLen = buf.readUInt8(start + 1);
  const a = parseAttrs(buf, start + C.RTMSG_LEN, end);
  const dstIp = ipString(buf, a.get(C.RTA_DST));
  const route: Route = {
    family: buf.readUInt8(start),
    dst: dstIp === undefined && dstLen === 0 ? 'default' : `${dstIp ?? '0.0.0.0'}/${dstLen}`,
    table: u32(buf, a.get(C.RTA_TABLE)) ?? buf.readUInt8(start + 4),
    protocol: buf.readUInt8(start + 5), scope: buf.readUInt8(start + 6), type: buf.readUInt8(start + 7),
  };
  const gw = ipString(buf, a.get(C.RTA_GATEWAY));
  if (gw !== undefined) route.gateway = gw;
  const oif = u32(buf, a.get(C.RTA_OIF));
  if (oif !== undefined) route.oif = oif;
  const src = ipString(buf, a.get(C.RTA_PREFSRC));
  if (src !== undefined) route.prefsrc = src;
  const prio = u32(buf, a.get(C.RTA_PRIORITY));
  if (prio !== undefined) route.priority = prio;
  return route;
}

export interface NlError {
  /** 0 for an ACK, else a positive errno */
  errno: number;
  /** the kernel's extended-ack text (NLMSGERR_ATTR_MSG), when it gave one */
  message?: string;
  /** the type of the request it answers */
  requestType: number;
}

/** NLMSG_ERROR payload: int error; the request's nlmsghdr (and body unless capped); then ext-ack TLVs. */
export function decodeError(buf: Buffer, m: NlMsg): NlError {
  const error = buf.readInt32LE(m.start);
  const hdr = m.start + 4;
  const out: NlError = { errno: -error, requestType: m.end - hdr >= C.NLMSG_HDRLEN ? buf.readUInt16LE(hdr + 4) : 0 };
  if (m.flags & C.NLM_F_ACK_TLVS && m.end - hdr >= C.NLMSG_HDRLEN) {
    const reqLen = buf.readUInt32LE(hdr);
    const tlvStart = hdr + (m.flags & C.NLM_F_CAPPED ? C.NLMSG_HDRLEN : align4(reqLen));
    const msg = str(buf, parseAttrs(buf, tlvStart, m.end).get(C.NLMSGERR_ATTR_MSG));
    if (msg) out.message = msg;
  }
  return out;
}

let errnoMap: Map<number, [string, string]> | undefined;

// libuv's table lacks some Linux errnos rtnetlink returns (EXFULL from a full bridge) and calls 95 ENOTSUP.
const LINUX_ONLY: Record<number, [string, string]> = {
  54: ['EXFULL', 'exchange full'],
  95: ['EOPNOTSUPP', 'operation not supported'],
  524: ['ENOTSUPP', 'operation not supported'],
};

/** errno number → ['EEXIST', 'file already exists'] */
export function errnoInfo(errno: number): [name: string, text: string] {
  errnoMap ??= getSystemErrorMap();
  return LINUX_ONLY[errno] ?? errnoMap.get(-errno) ?? [`E${errno}`, `errno ${errno}`];
}
