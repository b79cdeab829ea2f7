// A podns network: the bridge with the gateway address, forwarding on, NAT (masquerade) to the outside,
// and its record networks/NET/network.json.
//
// ensureNetwork is called by every pod create, so its common case (the network is there) is two cheap
// checks. Making a network is idempotent step by step, so two podns processes racing to make the same
// network both succeed (the loser of the bridge creation gets EEXIST and carries on), and a crash at
// any point is repaired by the next call. The bridge is set up LAST: an up bridge with a record means
// every step before it was done, which is what the fast path checks.
import { linkSync, rmSync, writeFileSync } from 'node:fs';
import { PodnsError, isErrno } from '../errors.js';
import { ensureDir, listDir, tmpName, writeJsonAtomic } from '../state/files.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { checkAgainstOthers, checkMatches, listNetworks, networkName, readNetwork, resolveConfig, type NetworkConfig } from './config.js';
import { forgetBridge, hostHandle, rememberBridge } from './host.js';
import { contains, ipToInt, parseCidr } from './ip.js';
import { listAllocations } from './ipam.js';
import { macForIp } from './mac.js';
import { deleteChains, nftApply, quote, replaceChains, type BaseChain } from './nft.js';

/** The network's nft chains: masquerade out of the subnet, and the 127/8 guard (see networkRules). */
export function networkChains(name: string): { post: BaseChain; guard: BaseChain } {
  return {
    post: { name: `net-${name}-post`, type: 'nat', hook: 'postrouting', priority: 'srcnat' },
    guard: { name: `net-${name}-guard`, type: 'filter', hook: 'prerouting', priority: 'raw' },
  };
}

function networkRules(cfg: NetworkConfig): string {
  const c = networkChains(cfg.name);
  const tag = `comment ${quote(`podns-network:${cfg.name}`)}`;
  return replaceChains([
    // Pods reach the outside (and other networks) with the host's address; traffic inside the subnet
    // stays unchanged, so pods see each other's real IPs.
    { chain: c.post, rules: [`ip saddr ${cfg.subnet} ip daddr != ${cfg.subnet} masquerade ${tag}`] },
    // route_localnet is on for the bridge (published ports reached as 127.0.0.1 need it), which would
    // also let a pod send to the host's 127.0.0.1 services through the bridge (CVE-2020-8558):
    // drop what arrives from the bridge for 127/8.
    { chain: c.guard, rules: [`iifname ${quote(cfg.bridge)} ip daddr 127.0.0.0/8 drop ${tag}`] },
  ]);
}

function sysctl(path: string, value: string): void {
  // /proc/sys/net is the netns of the process that opens it: podns's own, never a pod's.
  writeFileSync(`/proc/sys/net/${path}`, value);
}

/** The bridge link is there, a bridge, and up: the last step of making a network was done. */
function bridgeReady(cfg: NetworkConfig): boolean {
  const l = hostHandle().linkGet(cfg.bridge, { stats: false });
  if (l === undefined || l.kind !== 'bridge') return false;
  rememberBridge(cfg.bridge, l.index);
  return l.up;
}

/** Subnet checks against this netns: another interface must not already hold an address inside it. */
function checkHostAddresses(cfg: NetworkConfig): void {
  const h = hostHandle();
  const cidr = parseCidr(cfg.subnet);
  const br = h.linkGet(cfg.bridge);
  for (const a of h.addrList()) {
    if (a.family !== 2 || (br && a.index === br.index)) continue;
    const ip = ipToInt(a.address);
    if (ip !== undefined && contains(cidr, ip)) {
      const dev = a.label ?? `ifindex ${a.index}`;
      throw new PodnsError('ESUBNETOVERLAP', `subnet ${cfg.subnet} overlaps ${a.address}/${a.prefixLength} on ${dev}: choose another --subnet`);
    }
  }
}

function makeBridge(cfg: NetworkConfig): void {
  const h = hostHandle();
  let link = h.linkGet(cfg.bridge);
  if (link === undefined) {
    try {
      // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it as pods come
      // and go, which breaks the pods' ARP entries for the gateway.
      h.linkAddBridge({ name: cfg.bridge, mtu: cfg.mtu, mac: macForIp(cfg.gateway) });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err; // another podns made it just now: carry on with theirs
    }
    forgetBridge(cfg.bridge);
    link = h.linkGet(cfg.bridge);
  }
  if (link === undefined || link.kind !== 'bridge') {
    throw new PodnsError('ENOTBRIDGE', `interface ${cfg.bridge} exists and is not a bridge (${link?.kind ?? 'gone'}): choose another --bridge`);
  }
  rememberBridge(cfg.bridge, link.index);
  // before up: with the default mode the bridge would get an IPv6 link-local address and start talking
  h.linkSet(link.index, { addrGenModeNone: true, mtu: cfg.mtu });
  const prefix = Number(cfg.subnet.split('/')[1]);
  if (!h.addrList(link.index).some((a) => a.address === cfg.gateway)) {
    try {
      h.addrAdd(link.index, `${cfg.gateway}/${prefix}`);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
  }
  // published ports reached as 127.0.0.1: after DNAT the packet leaves through the bridge with source
  // 127.0.0.1, which the kernel drops as martian unless route_localnet is on for that device
  // (what the CNI portmap plugin does); the guard chain keeps the other direction closed.
  sysctl(`ipv4/conf/${cfg.bridge}/route_localnet`, '1');
  h.linkSetUp(link.index);
}

/**
 * Writes network.json only if there is none: a complete temporary file hard-linked to the final name,
 * which fails (EEXIST) when another podns recorded the network first. Then its record is the truth
 * (false: the caller starts over and checks against it).
 */
function claimRecord(root: string, cfg: NetworkConfig): boolean {
  const target = paths.networkConfig(root, cfg.name);
  const tmp = tmpName(target);
  writeJsonAtomic(tmp, cfg);
  try {
    linkSync(tmp, target);
    return true;
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * The network `want` names (default: podns / podns0 / 10.89.0.0/16), made if needed: bridge + gateway
 * address + up, ip_forward=1, nft masquerade for the subnet, networks/NET/network.json.
 */
export async function ensureNetwork(o: RootOption & Partial<NetworkConfig> = {}): Promise<NetworkConfig> {
  const { root: given, ...want } = o;
  const root = resolveRoot(given);
  const recorded = readNetwork(root, networkName(want));
  if (recorded !== undefined) {
    checkMatches(recorded, want);
    if (bridgeReady(recorded)) return recorded;
  }
  const cfg = recorded ?? resolveConfig(want);
  if (recorded === undefined) {
    checkAgainstOthers(cfg, listNetworks({ root }));
    checkHostAddresses(cfg);
  }
  // recorded before it is made, so `podns gc` / a later call can find and finish a half-made network
  ensureDir(paths.networkIps(root, cfg.name));
  if (recorded === undefined && !claimRecord(root, cfg)) return ensureNetwork({ root, ...want });
  await nftApply(networkRules(cfg));
  sysctl('ipv4/ip_forward', '1');
  makeBridge(cfg);
  return cfg;
}

/**
 * Deletes a network: bridge, nft chains, record. Refuses while addresses are allocated (pods use it).
 * Returns false when there was nothing recorded.
 */
export async function removeNetwork(root: string, name: string): Promise<boolean> {
  validateName('network', name);
  const cfg = readNetwork(root, name);
  if (cfg === undefined) return false;
  const used = listAllocations(root, name);
  if (used.length > 0) {
    const owners = [...new Set(used.map((u) => u.owner))].slice(0, 5).join(', ');
    throw new PodnsError('ENETWORKINUSE', `network "${name}" is in use by ${used.length} pod address(es) (${owners}): delete those pods first`);
  }
  const c = networkChains(name);
  await nftApply(deleteChains([c.post, c.guard]));
  hostHandle().linkDel(cfg.bridge);
  forgetBridge(cfg.bridge);
  rmSync(paths.network(root, name), { recursive: true, force: true });
  return true;
}

export { listNetworks, readNetwork } from './config.js';

/** Network names recorded under the root. */
export function networkNames(root: string): string[] {
  return listDir(paths.networks(root)).filter((n) => !n.startsWith('.'));
}
