// The rtnetlink encoders and decoders, byte for byte. Pure functions: these run everywhere, no root.
import test from 'ava';
import * as C from '../../src/network/netlink/constants.js';
import * as D from '../../src/network/netlink/decode.js';
import * as E from '../../src/network/netlink/encode.js';
import { netlinkError } from '../../src/network/netlink/handle.js';

const hex = (b: Buffer) => b.toString('hex');

test('ip link del eth0: exact bytes (nlmsghdr, ifinfomsg, IFLA_IFNAME padded to 4)', (t) => {
  const m = E.linkDel('eth0');
  t.is(hex(m),
    '2c000000' + '1100' + '0500' + '00000000' + '00000000' + // len 44, RTM_DELLINK, REQUEST|ACK, seq, pid
    '00'.repeat(16) + // ifinfomsg
    '0900' + '0300' + '6574683000' + '000000'); // len 9, IFLA_IFNAME, "eth0\0", pad
});

test('attributes: u32 little-endian, strings NUL-terminated, nests wrap their children', (t) => {
  t.is(hex(E.u32Attr(C.IFLA_MTU, 1500)), '08000400dc050000');
  t.is(hex(E.u8Attr(C.IFLA_BRPORT_MODE, 1)), '0500040001000000');
  const n = E.nest(C.IFLA_LINKINFO, E.strAttr(C.IFLA_INFO_KIND, 'veth'));
  t.is(hex(n), '10001200' + '09000100' + '76657468' + '00000000');
  t.is(n.readUInt16LE(0), 16);
});

test('addrgenmode none is IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = 1 } }', (t) => {
  t.is(hex(E.addrGenModeNone()), '10001a00' + '0c000a00' + '0500080001000000');
});

test('veth create: peer ifinfomsg + name + netns fd + mtu + MAC inside VETH_INFO_PEER', (t) => {
  const m = E.linkAddVeth({
    name: 'pn0123456789ab', peerName: 'eth0', peerNetnsFd: 23, master: 7, mtu: 1400, peerMtu: 1400,
    peerMac: '0a:58:0a:59:00:05', up: true, queues: 1,
  }, C.NLM_F_ECHO);
  t.is(m.readUInt32LE(0), m.length);
  t.is(m.readUInt16LE(4), C.RTM_NEWLINK);
  t.is(m.readUInt16LE(6), C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL | C.NLM_F_ECHO);
  t.is(m.readUInt32LE(16 + 8), C.IFF_UP); // ifi_flags
  t.is(m.readUInt32LE(16 + 12), C.IFF_UP); // ifi_change
  const a = D.parseAttrs(m, 32, m.length);
  t.is(D.str(m, a.get(C.IFLA_IFNAME)), 'pn0123456789ab');
  t.is(m.readUInt32LE(a.get(C.IFLA_MASTER)!.start), 7);
  t.is(m.readUInt32LE(a.get(C.IFLA_MTU)!.start), 1400);
  t.is(m.readUInt32LE(a.get(C.IFLA_NUM_TX_QUEUES)!.start), 1);
  const info = a.get(C.IFLA_LINKINFO)!;
  const ia = D.parseAttrs(m, info.start, info.end);
  t.is(D.str(m, ia.get(C.IFLA_INFO_KIND)), 'veth');
  const data = ia.get(C.IFLA_INFO_DATA)!;
  const peer = D.parseAttrs(m, data.start, data.end).get(C.VETH_INFO_PEER)!;
  // the peer is a whole ifinfomsg followed by its own attributes
  const pa = D.parseAttrs(m, peer.start + C.IFINFOMSG_LEN, peer.end);
  t.is(D.str(m, pa.get(C.IFLA_IFNAME)), 'eth0');
  t.is(m.readUInt32LE(pa.get(C.IFLA_NET_NS_FD)!.start), 23);
  t.is(m.readUInt32LE(pa.get(C.IFLA_MTU)!.start), 1400);
  t.is(D.mac(m, pa.get(C.IFLA_ADDRESS)), '0a:58:0a:59:00:05');
  t.is(m.readUInt32LE(pa.get(C.IFLA_NUM_RX_QUEUES)!.start), 1);
});

test('link set by name: ifi_index 0 + IFLA_IFNAME; hairpin as bridge slave data; up via flags/change', (t) => {
  const m = E.linkSet('pnabc', { up: true, hairpin: true, addrGenModeNone: true });
  t.is(m.readUInt16LE(4), C.RTM_NEWLINK);
  t.is(m.readUInt16LE(6) & C.NLM_F_CREATE, 0); // changes, never creates
  t.is(m.readInt32LE(16 + 4), 0);
  t.is(m.readUInt32LE(16 + 8), C.IFF_UP);
  const a = D.parseAttrs(m, 32, m.length);
  t.is(D.str(m, a.get(C.IFLA_IFNAME)), 'pnabc');
  const li = a.get(C.IFLA_LINKINFO)!;
  const ia = D.parseAttrs(m, li.start, li.end);
  t.is(D.str(m, ia.get(C.IFLA_INFO_SLAVE_KIND)), 'bridge');
  const sd = ia.get(C.IFLA_INFO_SLAVE_DATA)!;
  t.is(m.readUInt8(D.parseAttrs(m, sd.start, sd.end).get(C.IFLA_BRPORT_MODE)!.start), 1);
  t.truthy(a.get(C.IFLA_AF_SPEC));

  const down = E.linkSet(3, { up: false });
  t.is(down.readInt32LE(16 + 4), 3);
  t.is(down.readUInt32LE(16 + 8), 0);
  t.is(down.readUInt32LE(16 + 12), C.IFF_UP);
  const mtuOnly = E.linkSet(3, { mtu: 9000 });
  t.is(mtuOnly.readUInt32LE(16 + 12), 0, 'no flag change when up is not given');
});

test('bridge hairpin via AF_BRIDGE: IFLA_PROTINFO carries NLA_F_NESTED (the bridge code requires it)', (t) => {
  const m = E.bridgeLinkSetHairpin(5, true);
  t.is(m.readInt32LE(16 + 4), 5);
  t.is(m.readUInt16LE(4), C.RTM_SETLINK);
  t.is(m.readUInt8(16), C.AF_BRIDGE);
  t.is(m.readUInt16LE(32 + 2), C.IFLA_PROTINFO | C.NLA_F_NESTED);
});

test('ip addr add: ifaddrmsg + IFA_LOCAL + IFA_ADDRESS + broadcast; /31 and /32 get no broadcast', (t) => {
  const m = E.addrMsg(C.RTM_NEWADDR, 2, '10.89.0.5', 16);
  t.is(hex(m.subarray(16, 24)), '021000000' + '2000000'); // AF_INET, /16, flags 0, scope 0, index 2
  const a = D.parseAttrs(m, 24, m.length);
  t.is(D.ipString(m, a.get(C.IFA_LOCAL)), '10.89.0.5');
  t.is(D.ipString(m, a.get(C.IFA_ADDRESS)), '10.89.0.5');
  t.is(D.ipString(m, a.get(C.IFA_BROADCAST)), '10.89.255.255');
  const p31 = E.addrMsg(C.RTM_NEWADDR, 2, '10.0.0.0', 31);
  t.false(D.parseAttrs(p31, 24, p31.length).has(C.IFA_BROADCAST));
});

test('ip route add default via GW dev N: main table, boot protocol, universe scope', (t) => {
  const m = E.routeAdd({ gateway: '10.89.0.1', oif: 2 });
  t.is(hex(m.subarray(16, 28)), '02000000' + 'fe030001' + '00000000');
  const a = D.parseAttrs(m, 28, m.length);
  t.is(D.ipString(m, a.get(C.RTA_GATEWAY)), '10.89.0.1');
  t.is(m.readUInt32LE(a.get(C.RTA_OIF)!.start), 2);
  t.false(a.has(C.RTA_DST));
});

test('encoders refuse what the kernel would misread', (t) => {
  t.throws(() => E.linkDel('a-name-longer-than-15'), { instanceOf: TypeError });
  t.throws(() => E.linkDel('bad/name'), { instanceOf: TypeError });
  t.throws(() => E.ipv4Bytes('10.0.0.256'), { instanceOf: TypeError });
  t.throws(() => E.macBytes('0a:58:zz:00:00:01'), { instanceOf: TypeError });
});

/** A kernel-style RTM_NEWLINK reply, built from the encoders. */
function fakeLinkReply(): Buffer {
  const stats = Buffer.alloc(8 * 24);
  [11, 22, 3300, 4400, 0, 0, 5, 6].forEach((v, i) => stats.writeBigUInt64LE(BigInt(v), 8 * i));
  const msg = E.nlmsg(C.RTM_NEWLINK, C.NLM_F_MULTI,
    E.ifinfomsg({ index: 7, flags: C.IFF_UP | C.IFF_BROADCAST | C.IFF_LOWER_UP }),
    E.strAttr(C.IFLA_IFNAME, 'pnabcdef012345'),
    E.u32Attr(C.IFLA_MTU, 1500),
    E.attr(C.IFLA_ADDRESS, E.macBytes('0a:58:0a:59:00:05')),
    E.u8Attr(C.IFLA_OPERSTATE, 6),
    E.u32Attr(C.IFLA_MASTER, 3),
    E.u32Attr(C.IFLA_LINK, 2),
    E.s32Attr(C.IFLA_LINK_NETNSID, 0),
    E.attr(C.IFLA_STATS64, stats),
    E.nest(C.IFLA_LINKINFO, E.strAttr(C.IFLA_INFO_KIND, 'veth'), E.strAttr(C.IFLA_INFO_SLAVE_KIND, 'bridge'),
      E.nest(C.IFLA_INFO_SLAVE_DATA, E.u8Attr(C.IFLA_BRPORT_MODE, 1))));
  msg.writeUInt32LE(42, 8);
  return msg;
}

test('decodeLink reads name, index, flags, MAC, MTU, master, peer, kind, hairpin and stats64', (t) => {
  const buf = Buffer.concat([fakeLinkReply(), fakeLinkReply()]);
  const msgs = D.splitMessages(buf, buf.length);
  t.is(msgs.length, 2);
  t.is(msgs[0]!.seq, 42);
  t.is(msgs[1]!.start, fakeLinkReply().length + 16);
  const l = D.decodeLink(buf, msgs[0]!.start, msgs[0]!.end);
  t.deepEqual(l, {
    index: 7, name: 'pnabcdef012345', flags: C.IFF_UP | C.IFF_BROADCAST | C.IFF_LOWER_UP, up: true, operState: 'up',
    mac: '0a:58:0a:59:00:05', mtu: 1500, master: 3, link: 2, linkNetnsId: 0, kind: 'veth', slaveKind: 'bridge',
    hairpin: true, stats: { rxPackets: 11, txPackets: 22, rxBytes: 3300, txBytes: 4400, rxDropped: 5, txDropped: 6 },
  });
});

test('splitMessages rejects a message that claims more bytes than arrived', (t) => {
  const m = fakeLinkReply();
  t.throws(() => D.splitMessages(m, m.length - 4), { message: /truncated/ });
});

test('decodeAddr and decodeRoute, IPv6 text in its short form', (t) => {
  const v6 = Buffer.from('fe80000000000000085800fffe4d0002', 'hex');
  const addr = E.nlmsg(C.RTM_NEWADDR, 0, E.ifaddrmsg(C.AF_INET6, 64, 2, C.RT_SCOPE_LINK), E.attr(C.IFA_ADDRESS, v6));
  t.deepEqual(D.decodeAddr(addr, 16, addr.length), { family: C.AF_INET6, index: 2, prefixLength: 64, scope: C.RT_SCOPE_LINK, address: 'fe80::858:ff:fe4d:2' });
  const lo = Buffer.alloc(16);
  lo[15] = 1;
  t.is(D.ipString(lo, { start: 0, end: 16 }), '::1');
  const route = E.routeAdd({ dst: { ip: '10.1.0.0', prefixLength: 24 }, gateway: '10.0.0.1' });
  t.deepEqual(D.decodeRoute(route, 16, route.length), {
    family: C.AF_INET, dst: '10.1.0.0/24', gateway: '10.0.0.1', table: C.RT_TABLE_MAIN, protocol: C.RTPROT_BOOT,
    scope: C.RT_SCOPE_UNIVERSE, type: C.RTN_UNICAST,
  });
});

test('NLMSG_ERROR with extended ack: errno, the request type and the kernel text become an errno Error', (t) => {
  const request = E.routeAdd({ gateway: '10.99.0.1' });
  const err = Buffer.alloc(4);
  err.writeInt32LE(-101, 0); // ENETUNREACH
  // capped (NETLINK_CAP_ACK style): only the request's header, then the TLVs
  const reply = E.nlmsg(C.NLMSG_ERROR, 0, err, request.subarray(0, 16), E.strAttr(C.NLMSGERR_ATTR_MSG, 'Nexthop has invalid gateway'));
  reply.writeUInt16LE(C.NLM_F_CAPPED | C.NLM_F_ACK_TLVS, 6);
  const [m] = D.splitMessages(reply, reply.length);
  const e = D.decodeError(reply, m!);
  t.deepEqual(e, { errno: 101, requestType: C.RTM_NEWROUTE, message: 'Nexthop has invalid gateway' });

  // uncapped: the whole request is echoed before the TLVs
  const full = E.nlmsg(C.NLMSG_ERROR, 0, err, request, E.strAttr(C.NLMSGERR_ATTR_MSG, 'again'));
  full.writeUInt16LE(C.NLM_F_ACK_TLVS, 6);
  t.is(D.decodeError(full, D.splitMessages(full, full.length)[0]!).message, 'again');

  const ne = netlinkError(e.errno, e.requestType, 'default', e.message);
  t.is(ne.code, 'ENETUNREACH');
  t.is(ne.errno, 101);
  t.is(ne.syscall, 'netlink RTM_NEWROUTE');
  t.is(ne.path, 'default');
  t.regex(ne.message, /^netlink RTM_NEWROUTE default: ENETUNREACH \(.*Nexthop has invalid gateway\)$/);
});

test('errno names cover what libuv does not know (EXFULL from a full bridge)', (t) => {
  t.is(netlinkError(54, C.RTM_NEWLINK, 'pn1').code, 'EXFULL');
  t.is(netlinkError(17, C.RTM_NEWLINK, 'br0').code, 'EEXIST');
  t.is(netlinkError(95, C.RTM_NEWLINK).code, 'EOPNOTSUPP');
});
