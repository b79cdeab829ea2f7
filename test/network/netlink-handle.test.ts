// NetlinkHandle's verbs against the kernel, in throwaway network namespaces (nothing in the sandbox netns).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { ErrnoError } from '../../src/errors.js';
import * as enc from '../../src/network/netlink/encode.js';
import { NetlinkHandle } from '../../src/network/netlink/handle.js';
import { privileged } from '../helpers/root.js';
import { holder } from './netenv.js';

privileged('links: add bridge and veth, set master/hairpin/mtu/up/down, move to a netns, delete', (t) => {
  const ns = holder(t);
  const other = holder(t);
  const h = NetlinkHandle.open(ns.fd);
  t.teardown(() => h.close());

  h.linkAdd({ kind: 'bridge', name: 'tbr', mtu: 1400, mac: '0a:58:c0:00:02:01' });
  const br = h.linkGet('tbr')!;
  t.is(br.kind, 'bridge');
  t.is(br.mtu, 1400);
  t.is(br.mac, '0a:58:c0:00:02:01');
  t.false(br.up);

  const err = t.throws(() => h.linkAdd({ kind: 'bridge', name: 'tbr' })) as ErrnoError;
  t.is(err.code, 'EEXIST');
  t.is(err.errno, 17);
  t.is(err.syscall, 'netlink RTM_NEWLINK');
  t.is(err.path, 'tbr');
  t.regex(err.message, /^netlink RTM_NEWLINK tbr: EEXIST \(/);

  h.linkAdd({ kind: 'veth', name: 'tv0', peerName: 'tv1' });
  const links = h.linkList();
  const v0 = links.find((l) => l.name === 'tv0')!;
  const v1 = links.find((l) => l.name === 'tv1')!;
  t.is(v0.kind, 'veth');
  t.is(v0.link, v1.index, 'a veth names its peer');
  t.is(v1.link, v0.index);
  t.truthy(v0.stats);
  t.is(links.find((l) => l.name === 'lo')?.index, 1);

  h.linkSetMaster('tv0', 'tbr');
  h.linkSetHairpin('tv0', true);
  h.linkSetMtu('tv0', 1300);
  h.linkSetUp('tv0');
  let got = h.linkGet('tv0')!;
  t.is(got.master, br.index);
  t.is(got.slaveKind, 'bridge');
  t.true(got.hairpin);
  t.is(got.mtu, 1300);
  t.true(got.up);
  h.linkSetHairpin('tv0', false);
  h.linkSetDown('tv0');
  got = h.linkGet('tv0')!;
  t.false(got.hairpin);
  t.false(got.up);
  h.linkSetMaster('tv0', 0);
  t.is(h.linkGet('tv0')!.master, undefined);

  h.linkSetNsFd('tv1', other.fd);
  t.is(h.linkGet('tv1'), undefined);
  const o = NetlinkHandle.open(other.fd);
  t.teardown(() => o.close());
  t.is(o.linkGet('tv1')?.kind, 'veth');
  t.is(h.linkGet('tv0')!.linkNetnsId !== undefined, true, 'the peer is now in another netns');

  t.true(h.linkDel('tv0'));
  t.false(h.linkDel('tv0'));
  t.is(o.linkGet('tv1'), undefined, 'deleting one end deletes the pair');
  t.is(h.linkGet('no-such-link'), undefined);
});

privileged('addresses and routes: add, list, delete; the kernel\'s extended-ack text reaches the error', (t) => {
  const ns = holder(t);
  const h = NetlinkHandle.open(ns.fd);
  t.teardown(() => h.close());
  h.linkAdd({ kind: 'bridge', name: 'tbr' });
  h.linkSetUp('tbr');
  h.addrAdd('tbr', '192.0.2.1/24');
  const addrs = h.addrList('tbr').filter((a) => a.family === 2);
  t.deepEqual(addrs.map((a) => [a.address, a.prefixLength, a.broadcast, a.label]), [['192.0.2.1', 24, '192.0.2.255', 'tbr']]);
  const dup = t.throws(() => h.addrAdd('tbr', '192.0.2.1/24')) as ErrnoError;
  t.is(dup.code, 'EEXIST');
  t.is(dup.syscall, 'netlink RTM_NEWADDR');

  h.routeAdd({ dst: { ip: '198.18.0.0', prefixLength: 15 }, gateway: '192.0.2.254' });
  h.routeAdd({ gateway: '192.0.2.253' });
  const routes = h.routeList().filter((r) => r.table === 254);
  t.deepEqual(routes.find((r) => r.dst === '198.18.0.0/15')?.gateway, '192.0.2.254');
  t.deepEqual(routes.find((r) => r.dst === 'default')?.gateway, '192.0.2.253');
  t.is(routes.find((r) => r.dst === '192.0.2.0/24')?.prefsrc, '192.0.2.1');

  const bad = t.throws(() => h.routeAdd({ dst: { ip: '198.20.0.0', prefixLength: 16 }, gateway: '203.0.113.9' })) as ErrnoError;
  t.is(bad.code, 'ENETUNREACH');
  t.is(bad.syscall, 'netlink RTM_NEWROUTE');
  t.regex(bad.message, /^netlink RTM_NEWROUTE 198\.20\.0\.0\/16: ENETUNREACH \(.*: Nexthop has invalid gateway\)$/);

  t.true(h.addrDel('tbr', '192.0.2.1/24'));
  t.false(h.addrDel('tbr', '192.0.2.1/24'));
  t.deepEqual(h.addrList('tbr').filter((a) => a.family === 2), []);
  t.false(h.routeList().some((r) => r.dst === 'default'), 'routes through the address went with it');
});

privileged('a batch: requests run in order in one datagram; the first failure is thrown, the rest still ran', (t) => {
  const ns = holder(t);
  const h = NetlinkHandle.open(ns.fd);
  t.teardown(() => h.close());
  const sends = h.sends;
  const err = t.throws(() => h.exchange([
    { msg: enc.linkAddBridge({ name: 'tb1' }), what: 'tb1' },
    { msg: enc.linkAddBridge({ name: 'tb1' }), what: 'tb1 again' },
    { msg: enc.linkAddBridge({ name: 'tb2' }), what: 'tb2' },
  ])) as ErrnoError;
  t.is(err.code, 'EEXIST');
  t.is(err.path, 'tb1 again');
  t.is(h.sends - sends, 1, 'one datagram');
  t.truthy(h.linkGet('tb1'));
  t.truthy(h.linkGet('tb2'));
  // Only the last request of a batch asks for an ACK; a failure of the last one is still its own error,
  // and no answer of a batch is left in the socket for the next request to trip over.
  const last = t.throws(() => h.exchange([
    { msg: enc.linkAddBridge({ name: 'tb3' }), what: 'tb3' },
    { msg: enc.linkAddBridge({ name: 'tb3' }), what: 'tb3 again' },
  ])) as ErrnoError & { request?: number };
  t.is(last.path, 'tb3 again');
  t.is(last.request, 1);
  t.deepEqual(h.exchange([
    { msg: enc.linkAddBridge({ name: 'tb4' }), what: 'tb4' },
    { msg: enc.linkAddBridge({ name: 'tb5' }), what: 'tb5' },
  ]), [[], []]);
  t.deepEqual(['tb3', 'tb4', 'tb5'].map((n) => h.linkGet(n)?.kind), ['bridge', 'bridge', 'bridge']);
});

// A forged answer: another process sends an ACK for the request the handle is about to make to the
// handle's port id (unicast needs no privilege). The handle must take the kernel's answer (ENODEV: no
// such link), not the forgery (which would make linkDel report a deletion that never happened).
privileged('a datagram from a process other than the kernel is never taken for the answer', (t) => {
  const h = NetlinkHandle.open();
  t.teardown(() => h.close());
  const ino = fs.fstatSync(h.fd).ino;
  // /proc/net/netlink: sk Eth Pid(port id) Groups Rmem Wmem Dump Locks Drops Inode
  const row = fs.readFileSync('/proc/net/netlink', 'utf8').split('\n').map((l) => l.trim().split(/\s+/))
    .find((f) => f[9] === String(ino));
  t.truthy(row, 'the handle socket is listed');
  const port = Number(row![2]);
  const nextSeq = ((h as unknown as { seq: number }).seq + 1) >>> 0;
  const forge = [
    'import socket, struct, sys',
    's = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)',
    's.bind((0, 0))',
    'port, seq = int(sys.argv[1]), int(sys.argv[2])',
    // NLMSG_ERROR (2) with error 0 (an ACK) echoing an RTM_DELLINK (17) header with this seq
    "msg = struct.pack('=IHHII', 36, 2, 0, seq, 0) + struct.pack('=i', 0) + struct.pack('=IHHII', 32, 17, 5, seq, 0)",
    's.sendto(msg, (port, 0))',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', forge, String(port), String(nextSeq)], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.false(h.linkDel('podnsnosuch0'), 'the kernel said ENODEV; the forged ACK was dropped');
  t.true(h.linkList().some((l) => l.name === 'lo'), 'the handle still works');
});
