// Published ports (--publish HOSTPORT:PORT[/tcp|udp]), done the way the CNI portmap plugin does them:
//   prerouting  connections from outside to any local address : HOSTPORT → DNAT to POD_IP:PORT
//   output      connections made on this host to a local address (127.0.0.1 too): the same DNAT
//   postrouting masquerade the two cases where the pod's reply would not come back through NAT:
//               from 127.0.0.0/8 (needs route_localnet on the bridge, see bridge.ts), and from the pod's
//               own subnet (hairpin: a pod, or its neighbour on the bridge, reaching the published port
//               would get the answer straight over the bridge, from the pod's address, and drop it)
// Each pod has its own three base chains, pod-NAME-{pre,out,post}, in the podns table: made in one
// batch, removed in one batch, and found by name after a crash (listPortMappingOwners).
import { PodnsError } from '../errors.js';
import { validateName } from '../state/names.js';
import type { PortMapping } from '../pod/types.js';
import { intToIp, parseCidr, parseIp } from './ip.js';
import { deleteChains, deleteChainsStrict, NftError, nftApply, nftListChains, quote, replaceChains, type BaseChain } from './nft.js';

export type { PortMapping } from '../pod/types.js';

function port(text: string, what: string, spec: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) {
    throw new PodnsError('EINVALIDPUBLISH', `invalid --publish "${spec}": ${what} "${text}" is not a port from 1 to 65535 (write HOSTPORT:PORT[/tcp|udp], e.g. 8080:80/tcp)`);
  }
  return n;
}

/** '8080:80/tcp' | '8080:80' | '80' (same port on the host) | '53:53/udp' → PortMapping */
export function parsePublish(spec: string): PortMapping {
  const s = String(spec ?? '');
  const m = /^([^/]*)(?:\/(.*))?$/.exec(s)!;
  const proto = (m[2] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') {
    throw new PodnsError('EINVALIDPUBLISH', `invalid --publish "${s}": protocol "${m[2]}" is not tcp or udp (write HOSTPORT:PORT[/tcp|udp], e.g. 8080:80/tcp)`);
  }
  const parts = m[1]!.split(':');
  if (parts.length > 2) {
    throw new PodnsError('EINVALIDPUBLISH', `invalid --publish "${s}": binding to a host address is not supported; write HOSTPORT:PORT[/tcp|udp], e.g. 8080:80/tcp`);
  }
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new PodnsError('EINVALIDPUBLISH', `invalid --publish "${s}": write HOSTPORT:PORT[/tcp|udp], e.g. 8080:80/tcp`);
  }
  const hostPort = port(parts[0]!, parts.length === 2 ? 'host port' : 'port', s);
  const containerPort = parts.length === 2 ? port(parts[1]!, 'container port', s) : hostPort;
  return { hostPort, containerPort, protocol: proto };
}

export function formatPublish(p: PortMapping): string {
  return `${p.hostPort}:${p.containerPort}/${p.protocol}`;
}

export function podChains(pod: string): BaseChain[] {
  return [
    { name: `pod-${pod}-pre`, type: 'nat', hook: 'prerouting', priority: 'dstnat' },
    { name: `pod-${pod}-out`, type: 'nat', hook: 'output', priority: '-100' },
    { name: `pod-${pod}-post`, type: 'nat', hook: 'postrouting', priority: 'srcnat' },
  ];
}

function checkMapping(p: PortMapping): PortMapping {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
  if (!ok(p.hostPort) || !ok(p.containerPort) || (p.protocol !== 'tcp' && p.protocol !== 'udp')) {
    throw new PodnsError('EINVALIDPUBLISH', `invalid port mapping ${JSON.stringify(p)}: ports 1-65535, protocol tcp or udp`);
  }
  return p;
}

/** The batch for a pod's port mappings (pure; exported for tests). */
export function portMappingBatch(pod: string, ip: string, ports: PortMapping[], subnet?: string): string {
  validateName('pod', pod);
  const addr = intToIp(parseIp(ip, 'pod IP'));
  const local = subnet === undefined ? addr : parseCidr(subnet).text;
  const [pre, out, post] = podChains(pod) as [BaseChain, BaseChain, BaseChain];
  const tag = `comment ${quote(`podns:${pod}`)}`;
  const dnat: string[] = [];
  const masq: string[] = [];
  for (const p of ports.map(checkMapping)) {
    const pr = p.protocol;
    dnat.push(`fib daddr type local ${pr} dport ${p.hostPort} dnat to ${addr}:${p.containerPort} ${tag}`);
    masq.push(`ip saddr 127.0.0.0/8 ip daddr ${addr} ${pr} dport ${p.containerPort} ct status dnat masquerade ${tag}`);
    masq.push(`ip saddr ${local} ip daddr ${addr} ${pr} dport ${p.containerPort} ct status dnat masquerade ${tag}`);
  }
  return replaceChains([{ chain: pre, rules: dnat }, { chain: out, rules: dnat }, { chain: post, rules: masq }]);
}

/**
 * Publishes the pod's ports (replacing any it had): one nft batch. With the pod network's `subnet`,
 * other pods of the bridge can use the published port too; without it only the pod itself (hairpin).
 */
export async function addPortMappings(pod: string, ip: string, ports: PortMapping[], subnet?: string): Promise<void> {
  await nftApply(portMappingBatch(pod, ip, ports, subnet));
}

/** Removes the pod's port mappings; false when it had none. */
export async function removePortMappings(pod: string): Promise<boolean> {
  validateName('pod', pod);
  const chains = podChains(pod);
  try {
    await nftApply(deleteChainsStrict(chains));
    return true;
  } catch (err) {
    if (!(err instanceof NftError) || !err.missing) throw err;
  }
  // Nothing (or, after outside tampering, only some chains) there: delete whatever is, without failing.
  await nftApply(deleteChains(chains));
  return false;
}

/** Pods that have port-mapping chains in the podns table (gc compares them with the pod records). */
export async function listPortMappingOwners(): Promise<string[]> {
  const owners = new Set<string>();
  for (const c of await nftListChains()) {
    const m = /^pod-(.+)-(pre|out|post)$/.exec(c.name);
    if (m) owners.add(m[1]!);
  }
  return [...owners].sort();
}
