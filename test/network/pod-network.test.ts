// Pod networking against the real kernel, inside the test sandbox: bridges, veths born in the pod netns,
// packets between namespaces, masquerade and published ports seen from a fake outside host.
// Each test has its own bridge and subnet; the file has its own state root and nft table.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sandboxArgv } from '../../src/native/helper.js';
import { helperPath } from '../../src/native/index.js';
import {
  addPortMappings, allocateIp, ensureNetwork, hostVethName, listAllocations, listHostVeths, listPortMappingOwners,
  releaseIps, removeNetwork, removePortMappings, setupPodNetwork, teardownPodNetwork, teardownPodNetworkAsync, type NetworkConfig,
} from '../../src/network/index.js';
import { NetlinkHandle } from '../../src/network/netlink/handle.js';
import { privileged, privilegedSerial, skipReason } from '../helpers/root.js';
import { connectFrom, dropIsolation, holder, isolate, nftRuleset, outsideHost, serveIn, sysfsCounter, type Holder } from './netenv.js';

const iso = skipReason() === undefined ? isolate('net') : undefined;
const root = iso?.root ?? '/nonexistent';
test.after.always(() => { if (iso) dropIsolation(iso.root, iso.table); });

interface Pod { name: string; holder: Holder; ip: string; hostVeth: string; mac: string }

/** A network of its own for one test, removed (with its pods' veths and IPs) at teardown. */
async function network(t: ExecutionContext, bridge: string, subnet: string): Promise<{ net: NetworkConfig; pod(name: string): Pod }> {
  const net = await ensureNetwork({ root, bridge, subnet });
  const pods: Pod[] = [];
  t.teardown(async () => {
    for (const p of pods) {
      teardownPodNetwork(p.hostVeth);
      releaseIps(root, net.name, p.name);
    }
    await removeNetwork(root, net.name);
  });
  return {
    net,
    pod(name: string): Pod {
      const h = holder(t);
      const ip = allocateIp(root, net, name);
      const hostVeth = hostVethName(name, `uid-of-${name}`);
      const p: Pod = { name, holder: h, ip, hostVeth, mac: '' };
      pods.push(p);
      p.mac = setupPodNetwork({ net, netnsFd: h.fd, hostVeth, ip }).mac!;
      return p;
    },
  };
}

privileged('two pods get eth0 + lo only, their own IPs, and talk TCP over the bridge', async (t) => {
  const { net, pod } = await network(t, 'ptn-two', '10.241.1.0/24');
  const a = pod('two-a');
  const b = pod('two-b');
  t.not(a.ip, b.ip);

  // the kernel's view from inside each pod
  for (const p of [a, b]) {
    const h = NetlinkHandle.open(p.holder.fd);
    try {
      const links = h.linkList();
      t.deepEqual(links.map((l) => l.name).sort(), ['eth0', 'lo']);
      const eth0 = links.find((l) => l.name === 'eth0')!;
      const lo = links.find((l) => l.name === 'lo')!;
      t.true(lo.up && eth0.up);
      t.is(eth0.mac, p.mac);
      t.is(eth0.mtu, net.mtu);
      t.is(eth0.kind, 'veth');
      const addrs = h.addrList(eth0.index);
      t.deepEqual(addrs.filter((x) => x.family === 2).map((x) => `${x.address}/${x.prefixLength}`), [`${p.ip}/24`]);
      t.deepEqual(addrs.filter((x) => x.family === 10), [], 'no IPv6 link-local on eth0 (addrgenmode none)');
      const def = h.routeList().find((r) => r.dst === 'default');
      t.is(def?.gateway, net.gateway);
      t.is(def?.oif, eth0.index);
    } finally {
      h.close();
    }
  }
  // the host end: a hairpin port of the bridge, no IPv6 address either
  const host = NetlinkHandle.open();
  try {
    const br = host.linkGet('ptn-two')!;
    for (const p of [a, b]) {
      const v = host.linkGet(p.hostVeth)!;
      t.is(v.master, br.index);
      t.true(v.hairpin);
      t.true(v.up);
      t.deepEqual(host.addrList(v.index), []);
    }
  } finally {
    host.close();
  }
  t.deepEqual(listHostVeths('ptn-two'), [a.hostVeth, b.hostVeth].sort());

  const before = sysfsCounter(a.hostVeth, 'tx_packets');
  await serveIn(t, a.holder, a.ip, 7000, 'pod-a');
  // same subnet: no NAT, the server sees b's own address
  t.is(await connectFrom(b.holder, a.ip, 7000), `pod-a ${b.ip}`);
  t.true(sysfsCounter(a.hostVeth, 'tx_packets') > before, 'the packets went through the bridge port');

  // teardown removes the pair; a second teardown finds nothing
  t.true(teardownPodNetwork(b.hostVeth));
  t.false(existsSync(`/sys/class/net/${b.hostVeth}`));
  t.false(teardownPodNetwork(b.hostVeth));
  const inB = NetlinkHandle.open(b.holder.fd);
  t.deepEqual(inB.linkList().map((l) => l.name), ['lo'], 'eth0 went with its peer');
  inB.close();
  t.deepEqual(listHostVeths('ptn-two'), [a.hostVeth]);
  // the same sent from a pool thread (the event loop is free while the kernel waits for RCU); the same guard
  t.true(await teardownPodNetworkAsync(a.hostVeth));
  t.false(existsSync(`/sys/class/net/${a.hostVeth}`));
  t.false(await teardownPodNetworkAsync(a.hostVeth));
  t.deepEqual(listHostVeths('ptn-two'), []);
  await t.throwsAsync(teardownPodNetworkAsync('eth0'), { message: /refusing to delete "eth0": not a podns host veth/ });
});

privilegedSerial('pod traffic to the outside is masqueraded: the outside host sees the uplink address, not the pod IP', async (t) => {
  const { pod } = await network(t, 'ptn-egr', '10.241.2.0/24');
  const out = outsideHost(t, 'ptn-up-egr');
  const p = pod('egr-a');
  await serveIn(t, out.holder, out.outsideIp, 7001, 'outside');
  t.is(await connectFrom(p.holder, out.outsideIp, 7001), `outside ${out.uplinkIp}`);
  t.is(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
});

privilegedSerial('published ports: reachable from the outside host, from 127.0.0.1 and from a neighbour pod; removal removes the rules', async (t) => {
  const { net, pod } = await network(t, 'ptn-pub', '10.241.3.0/24');
  const out = outsideHost(t, 'ptn-up-pub');
  const web = pod('pub-web');
  const nb = pod('pub-nb');
  t.teardown(async () => { await removePortMappings('pub-web'); });
  await addPortMappings('pub-web', web.ip, [
    { hostPort: 18481, containerPort: 80, protocol: 'tcp' },
    { hostPort: 18482, containerPort: 81, protocol: 'tcp' },
  ], net.subnet);
  await serveIn(t, web.holder, '0.0.0.0', 80, 'web80');
  await serveIn(t, web.holder, '0.0.0.0', 81, 'web81');

  // from outside: DNAT only, the pod sees the real client
  t.is(await connectFrom(out.holder, out.uplinkIp, 18481), `web80 ${out.outsideIp}`);
  t.is(await connectFrom(out.holder, out.uplinkIp, 18482), `web81 ${out.outsideIp}`);
  // from this netns via loopback: output DNAT + route_localnet + masquerade to the gateway address
  t.is(await connectFrom(undefined, '127.0.0.1', 18481), `web80 ${net.gateway}`);
  // a neighbour on the same bridge through the host address: masqueraded so the answer comes back via NAT
  t.is(await connectFrom(nb.holder, out.uplinkIp, 18481), `web80 ${net.gateway}`);
  // the pod itself (hairpin)
  t.is(await connectFrom(web.holder, out.uplinkIp, 18482), `web81 ${net.gateway}`);

  t.true((await listPortMappingOwners()).includes('pub-web'));
  t.regex(nftRuleset(), /chain pod-pub-web-pre/);
  t.true(await removePortMappings('pub-web'));
  const after = nftRuleset();
  t.false(after.includes('pod-pub-web'), 'no chain of the pod is left');
  t.false(after.includes('dport 18481'));
  t.false((await listPortMappingOwners()).includes('pub-web'));
  t.false(await removePortMappings('pub-web'), 'nothing left to remove');
  await t.throwsAsync(connectFrom(out.holder, out.uplinkIp, 18481), { message: /ECONNREFUSED/ });
});

privileged('ensureNetwork: concurrent calls make one bridge, the record, forwarding and masquerade; removeNetwork undoes it', async (t) => {
  const want = { bridge: 'ptn-ens', subnet: '10.241.4.0/24' };
  const nets = await Promise.all([ensureNetwork({ root, ...want }), ensureNetwork({ root, ...want }), ensureNetwork({ root, ...want })]);
  t.teardown(async () => { await removeNetwork(root, 'ptn-ens'); });
  for (const n of nets) t.deepEqual(n, { name: 'ptn-ens', bridge: 'ptn-ens', subnet: '10.241.4.0/24', gateway: '10.241.4.1', mtu: 1500 });
  const record = join(root, 'networks', 'ptn-ens', 'network.json');
  t.deepEqual(JSON.parse(readFileSync(record, 'utf8')), nets[0]);
  t.is(statSync(record).mode & 0o777, 0o600);
  t.is(statSync(join(root, 'networks', 'ptn-ens')).mode & 0o777, 0o700);

  const h = NetlinkHandle.open();
  try {
    const br = h.linkGet('ptn-ens')!;
    t.is(br.kind, 'bridge');
    t.true(br.up);
    t.is(br.mac, '0a:58:0a:f1:04:01', 'fixed MAC derived from the gateway');
    t.deepEqual(h.addrList(br.index).map((a) => `${a.address}/${a.prefixLength}`), ['10.241.4.1/24']);
  } finally {
    h.close();
  }
  t.is(readFileSync('/proc/sys/net/ipv4/conf/ptn-ens/route_localnet', 'utf8').trim(), '1');
  t.regex(nftRuleset(), /ip saddr 10\.241\.4\.0\/24 ip daddr != 10\.241\.4\.0\/24 masquerade/);

  // asking again with a different subnet is refused in one line
  const err = await t.throwsAsync(ensureNetwork({ root, bridge: 'ptn-ens', subnet: '10.241.5.0/24' }));
  t.is((err as { code?: string }).code, 'ENETCONFLICT');
  t.regex(err!.message, /^network "ptn-ens" already exists with subnet 10\.241\.4\.0\/24/);

  // in use: refused; then removed completely
  allocateIp(root, nets[0]!, 'holder-pod');
  await t.throwsAsync(removeNetwork(root, 'ptn-ens'), { message: /in use by 1 pod address\(es\) \(holder-pod\)/ });
  releaseIps(root, 'ptn-ens', 'holder-pod');
  t.true(await removeNetwork(root, 'ptn-ens'));
  t.false(existsSync('/sys/class/net/ptn-ens'));
  t.false(existsSync(join(root, 'networks', 'ptn-ens')));
  t.false(nftRuleset().includes('net-ptn-ens'));
  t.deepEqual(listAllocations(root, 'ptn-ens'), []);
  t.false(await removeNetwork(root, 'ptn-ens'));
});

privileged('a subnet that overlaps an address of this netns is refused before anything is made', async (t) => {
  const out = outsideHost(t, 'ptn-up-ovl', '198.51.100');
  void out;
  const err = await t.throwsAsync(ensureNetwork({ root, bridge: 'ptn-ovl', subnet: '198.51.100.0/25' }));
  t.is((err as { code?: string }).code, 'ESUBNETOVERLAP');
  t.regex(err!.message, /overlaps 198\.51\.100\.1\/24 on ptn-up-ovl/);
  t.false(existsSync('/sys/class/net/ptn-ovl'));
  t.false(existsSync(join(root, 'networks', 'ptn-ovl')));
});

privileged('a full bridge (1023 ports) is a clear error naming the fix', async (t) => {
  // 1023 veth pairs are made in a netns of their own (a nested sandbox), which goes away with its process
  if (!existsSync(helperPath)) return t.fail('podns-helper is not built');
  const script = fileURLToPath(new URL('./fill-bridge.js', import.meta.url));
  const r = spawnSync(helperPath, sandboxArgv([process.execPath, script]), { encoding: 'utf8', timeout: 110_000 });
  t.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { ports: number; code: string; message: string; leftover: boolean };
  t.is(result.ports, 1023);
  t.is(result.code, 'EBRIDGEFULL');
  t.regex(result.message, /^network "ptn-full" is full: bridge ptn-full has 1023 ports, the kernel's limit; create the pod on another network \(--bridge NAME --subnet CIDR\)$/);
  t.false(result.leftover, 'the failed veth was not left behind');
});
