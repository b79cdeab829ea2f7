// `podns net` against the kernel: a sysfs mounted from inside the pod's network namespace (sysfs shows the
// devices of the namespace that mounts it) gives the counters, MAC, MTU, ifindex and peer index that
// `podns net -o json` must report; iproute2 gives the addresses; the host's /sys gives the peer's bridge.
import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { native } from '../../src/native/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { makeEnv, type TestEnv } from '../pod/env.js';

interface Iface {
  index: number; name: string; state: string; adminUp: boolean; mac: string | null; mtu: number | null; addresses: string[];
  kind: string | null; peerIndex: number | null;
  stats: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number } | null;
}
interface NetJson {
  pod: string; container: string | null; pid: number | null; netns: { ino: number; path: string }; podNetns: number | null;
  sharedWithPause: boolean; pauseAlive: boolean; joinedFrom: string | null; interfaces: Iface[];
  hostPeers: Array<{ podIfname: string; name: string; index: number; bridge: string | null; recorded: string | null }>;
}

let e: TestEnv;
let work: string;
let sysMount: string | undefined;

test.before(() => {
  if (skipReason() !== undefined) return;
  e = makeEnv('vnet', 237);
  work = mkdtempSync('/run/podns-test-vnet-work-');
});
test.after.always(async () => {
  if (sysMount) {
    try {
      native.umount(sysMount, native.MNT_DETACH);
    } catch {
      // already gone
    }
  }
  if (e) await e.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Mounts a sysfs made inside the namespace behind pin (nsenter switches only the network namespace). */
async function sysfsOf(pin: string): Promise<string> {
  const dir = join(work, 'sys');
  mkdirSync(dir, { recursive: true });
  await execa('nsenter', [`--net=${pin}`, 'mount', '-t', 'sysfs', 'sysfs', dir]);
  sysMount = dir;
  return dir;
}

const counters = ['rx_packets', 'rx_bytes', 'tx_packets', 'tx_bytes'] as const;
const key = { rx_packets: 'rxPackets', rx_bytes: 'rxBytes', tx_packets: 'txPackets', tx_bytes: 'txBytes' } as const;

function readCounters(sys: string, ifname: string): Record<(typeof counters)[number], number> {
  const out = {} as Record<(typeof counters)[number], number>;
  for (const c of counters) out[c] = Number(readFileSync(join(sys, 'class/net', ifname, 'statistics', c), 'utf8'));
  return out;
}

async function netJson(args: string[]): Promise<NetJson> {
  const r = await e.cli(['net', ...args, '-o', 'json']);
  if (r.exitCode !== 0) throw new Error(`podns net failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as NetJson;
}

privilegedSerial('net: interfaces and counters are what the kernel shows inside the pod', async (t) => {
  if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
  const c = await e.cli(['create', 'nv', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(c.exitCode, 0, c.stderr);
  const rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
  t.is((await e.cli(['run', 'nv', '--name', 'a', '--rootfs', rootfs, '--', 'sleep', '1000'])).exitCode, 0);
  const rec = JSON.parse(readFileSync(join(e.root, 'pods', 'nv', 'pod.json'), 'utf8')) as {
    namespaces: Array<{ type: string; path: string; ino: number }>; network: { hostVeth: string; bridge: string; gateway: string; ip: string };
  };
  const pin = rec.namespaces.find((n) => n.type === 'net')!.path;
  // traffic, so the counters are not all zero: the pod pings its gateway (the bridge, in this sandbox), with
  // the default capabilities (no NET_RAW): the image's ping uses the ICMP datagram socket that the pod's
  // net.ipv4.ping_group_range allows (test/helpers/busybox.ts, native/ping/ping.c)
  const ping = await e.cli(['exec', 'nv', '--', 'ping', '-c', '2', rec.network.gateway]);
  t.is(ping.exitCode, 0, ping.stdout + ping.stderr);

  const sys = await sysfsOf(pin);
  // counters: a packet the kernel sends by itself may land between two reads, so bracket the view
  const before = readCounters(sys, 'eth0');
  const view = await netJson(['nv']);
  const after = readCounters(sys, 'eth0');
  const eth0 = view.interfaces.find((i) => i.name === 'eth0')!;
  t.truthy(eth0.stats);
  for (const c of counters) {
    const v = eth0.stats![key[c]];
    t.true(before[c] <= v && v <= after[c], `${c}: sysfs ${before[c]}..${after[c]}, podns net ${v}`);
  }
  t.true(eth0.stats!.txPackets >= 2 && eth0.stats!.rxPackets >= 2, 'the pings were counted');

  // every interface the namespace has, and only those; attributes straight from sysfs
  t.deepEqual(view.interfaces.map((i) => i.name).sort(), readdirSync(join(sys, 'class/net')).sort());
  for (const i of view.interfaces) {
    const d = join(sys, 'class/net', i.name);
    t.is(i.index, Number(readFileSync(join(d, 'ifindex'), 'utf8')), `${i.name} ifindex`);
    t.is(i.mac, readFileSync(join(d, 'address'), 'utf8').trim(), `${i.name} mac`);
    t.is(i.mtu, Number(readFileSync(join(d, 'mtu'), 'utf8')), `${i.name} mtu`);
    t.is(i.state, readFileSync(join(d, 'operstate'), 'utf8').trim().toUpperCase(), `${i.name} operstate`);
  }
  t.is(eth0.peerIndex, Number(readFileSync(join(sys, 'class/net/eth0/iflink'), 'utf8')));
  // addresses, from iproute2 inside the namespace
  const ip = await execa('nsenter', [`--net=${pin}`, 'ip', '-o', 'addr', 'show', 'dev', 'eth0']);
  const want = [...ip.stdout.matchAll(/inet6? (\S+)/g)].map((m) => m[1]!);
  t.deepEqual([...eth0.addresses].sort(), want.sort());
  t.true(eth0.addresses.includes(`${rec.network.ip}/24`));

  // the host end: the veth this test's sandbox sees with that ifindex, and its bridge
  t.is(view.hostPeers.length, 1);
  const peer = view.hostPeers[0]!;
  t.is(peer.podIfname, 'eth0');
  t.is(peer.name, rec.network.hostVeth);
  t.is(peer.index, Number(readFileSync(`/sys/class/net/${peer.name}/ifindex`, 'utf8')));
  t.is(peer.index, eth0.peerIndex ?? -1);
  t.is(peer.bridge, basename(readlinkSync(`/sys/class/net/${peer.name}/master`)));
  t.is(peer.bridge, e.bridge);
  t.is(view.netns.ino, rec.namespaces.find((n) => n.type === 'net')!.ino);
  t.true(view.sharedWithPause);

  // -c: read through the container's own process: the same namespace, the same interface
  const viaC = await netJson(['nv', '-c', 'a']);
  t.is(viaC.container, 'a');
  t.is(viaC.netns.ino, view.netns.ino);
  t.true(viaC.sharedWithPause);
  const mainPid = JSON.parse(readFileSync(join(e.root, 'pods', 'nv', 'containers', 'a', 'status.json'), 'utf8')).pid as number;
  t.is(viaC.pid, mainPid);
  t.is(viaC.netns.path, `/proc/${mainPid}/ns/net`);
  const e2 = viaC.interfaces.find((i) => i.name === 'eth0')!;
  t.is(e2.index, eth0.index);
  t.is(e2.mac, eth0.mac);
  const now = readCounters(sys, 'eth0');
  t.true(e2.stats!.txPackets >= eth0.stats!.txPackets && e2.stats!.txPackets <= now.tx_packets);

  // the table for people
  const table = await e.cli(['net', 'nv']);
  t.is(table.exitCode, 0, table.stderr);
  t.regex(table.stdout, new RegExp(`network namespace net:\\[${view.netns.ino}\\] \\(the pause's\\)`));
  t.regex(table.stdout, /INDEX\s+NAME\s+STATE\s+MAC\s+ADDRESSES\s+MTU\s+RX PACKETS\s+RX BYTES\s+TX PACKETS\s+TX BYTES/);
  t.regex(table.stdout, new RegExp(`eth0\\s+UP\\s+${eth0.mac}`));
  t.regex(table.stdout, new RegExp(`other end is ${peer.name} \\(ifindex ${peer.index}, UP\\) in the host namespace, a port of bridge ${e.bridge}`));
  t.false(table.stdout.includes('\u001b['));

  native.umount(sys, native.MNT_DETACH);
  sysMount = undefined;
});

privilegedSerial('net: a joined pod sees the same eth0; once the owner is gone, only lo', async (t) => {
  const j = await e.cli(['create', 'nv2', '--network', 'pod:nv']);
  t.is(j.exitCode, 0, j.stderr);
  const a = await netJson(['nv']);
  const b = await netJson(['nv2']);
  t.is(b.joinedFrom, 'nv');
  t.is(b.netns.ino, a.netns.ino);
  t.deepEqual(b.interfaces.map((i) => [i.index, i.name, i.mac]), a.interfaces.map((i) => [i.index, i.name, i.mac]));
  t.is(b.hostPeers[0]?.name, a.hostPeers[0]?.name);
  t.regex((await e.cli(['net', 'nv2'])).stdout, /joined from pod nv/);

  t.is((await e.cli(['delete', 'nv'])).exitCode, 0);
  const left = await netJson(['nv2']);
  t.is(left.netns.ino, a.netns.ino, 'the namespace lives on');
  t.deepEqual(left.interfaces.map((i) => i.name), ['lo']);
  t.deepEqual(left.hostPeers, []);
});
