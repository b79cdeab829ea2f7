// What a network is (bridge, subnet, gateway, mtu), its defaults, and the checks on what people ask for.
import { PodnsError } from '../errors.js';
import { readJsonIfExists, listDir } from '../state/files.js';
import { validateIfname, validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { broadcastOf, contains, intToIp, overlaps, parseCidr, parseIp } from './ip.js';

export interface NetworkConfig {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  mtu: number;
}

export const DEFAULT_NETWORK: NetworkConfig = Object.freeze({
  name: 'podns',
  bridge: 'podns0',
  subnet: '10.89.0.0/16',
  gateway: '10.89.0.1',
  mtu: 1500,
});

export function readNetwork(root: string, name: string): NetworkConfig | undefined {
  return readJsonIfExists<NetworkConfig>(paths.networkConfig(root, name));
}

/** Every network recorded under the root. */
export function listNetworks(o: RootOption = {}): NetworkConfig[] {
  const root = resolveRoot(o.root);
  const out: NetworkConfig[] = [];
  for (const name of listDir(paths.networks(root))) {
    if (name.startsWith('.')) continue;
    const cfg = readNetwork(root, name);
    if (cfg) out.push(cfg);
  }
  return out;
}

/** The network `want` names: its name, else its bridge's (a bridge other than podns0 is its own network). */
export function networkName(want: Partial<NetworkConfig>): string {
  if (want.bridge !== undefined) validateIfname('bridge', want.bridge);
  return validateName('network', want.name ?? (want.bridge !== undefined && want.bridge !== DEFAULT_NETWORK.bridge ? want.bridge : DEFAULT_NETWORK.name));
}

/**
 * The full config for `want`, checked: subnet a network address with room for a gateway and pods
 * (/8../30), gateway inside it and not its network or broadcast address, a valid bridge name, a sane MTU.
 * A network other than the default is named after its bridge (src/pod/validate.ts) unless told otherwise.
 */
export function resolveConfig(want: Partial<NetworkConfig>): NetworkConfig {
  const name = networkName(want);
  const isDefault = name === DEFAULT_NETWORK.name;
  if (want.bridge === undefined && !isDefault && name.length > 15) {
    throw new PodnsError('EINVALIDIFNAME', `network "${name}" needs a bridge name of at most 15 characters: give --bridge NAME`);
  }
  const bridge = validateIfname('bridge', want.bridge ?? (isDefault ? DEFAULT_NETWORK.bridge : name));
  if (want.subnet === undefined && !isDefault) {
    throw new PodnsError('ENOSUBNET', `network "${name}" does not exist yet: give its --subnet (e.g. --subnet 10.90.0.0/24)`);
  }
  const subnetText = want.subnet ?? DEFAULT_NETWORK.subnet;
  const cidr = parseCidr(subnetText, '--subnet');
  if (cidr.prefixLength < 8 || cidr.prefixLength > 30) {
    throw new PodnsError('EINVALIDCIDR', `invalid --subnet "${subnetText}": use a prefix from /8 to /30 (room for a gateway and pods), e.g. 10.89.0.0/16`);
  }
  const gw = want.gateway === undefined ? cidr.network + 1 : parseIp(want.gateway, '--gateway');
  if (!contains(cidr, gw)) {
    throw new PodnsError('EGATEWAY', `gateway ${intToIp(gw)} is outside subnet ${cidr.text}: give a --gateway inside it, e.g. ${intToIp(cidr.network + 1)}`);
  }
  if (gw === cidr.network || gw === broadcastOf(cidr)) {
    throw new PodnsError('EGATEWAY', `gateway ${intToIp(gw)} is the ${gw === cidr.network ? 'network' : 'broadcast'} address of ${cidr.text}: use a host address such as ${intToIp(cidr.network + 1)}`);
  }
  const mtu = want.mtu ?? DEFAULT_NETWORK.mtu;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new PodnsError('EINVALIDMTU', `invalid MTU ${String(mtu)}: use a whole number from 576 to 65535 (usually 1500)`);
  }
  return { name, bridge, subnet: cidr.text, gateway: intToIp(gw), mtu };
}

/** A recorded network must match what is asked now (only the fields that were asked). */
export function checkMatches(have: NetworkConfig, want: Partial<NetworkConfig>): void {
  const diffs: string[] = [];
  if (want.bridge !== undefined && want.bridge !== have.bridge) diffs.push(`bridge ${have.bridge}`);
  if (want.subnet !== undefined && parseCidr(want.subnet, '--subnet').text !== have.subnet) diffs.push(`subnet ${have.subnet}`);
  if (want.gateway !== undefined && want.gateway !== have.gateway) diffs.push(`gateway ${have.gateway}`);
  if (want.mtu !== undefined && want.mtu !== have.mtu) diffs.push(`mtu ${have.mtu}`);
  if (diffs.length > 0) {
    throw new PodnsError('ENETCONFLICT', `network "${have.name}" already exists with ${diffs.join(', ')}: leave those options out, or create another network (another --bridge)`);
  }
}

/** A new network must not share its bridge or overlap the subnet of another network of this root. */
export function checkAgainstOthers(cfg: NetworkConfig, others: NetworkConfig[]): void {
  const cidr = parseCidr(cfg.subnet);
  for (const o of others) {
    if (o.name === cfg.name) continue;
    if (o.bridge === cfg.bridge) {
      throw new PodnsError('ENETCONFLICT', `bridge ${cfg.bridge} already belongs to network "${o.name}": choose another --bridge`);
    }
    if (overlaps(cidr, parseCidr(o.subnet))) {
      throw new PodnsError('ESUBNETOVERLAP', `subnet ${cfg.subnet} overlaps ${o.subnet} of network "${o.name}": choose a --subnet that does not overlap`);
    }
  }
}
