// Everything createPod is asked is checked here, before anything is made: a bad name, network, subnet,
// address, port, label or hostname is one clear line and the system stays as it was.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { NotFoundError, PodnsError } from '../errors.js';
import { DEFAULT_NETWORK, type NetworkConfig } from '../network/index.js';
import { cgroupParentFor, hostCgroups, type CgroupLimits, type LimitWrite } from '../cgroups/index.js';
import { podLimitWrites } from './cgroup.js';
import { listDir, readJsonIfExists } from '../state/files.js';
import { validateAnnotations, validateHostname, validateIfname, validateLabels, validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { pinAlive } from '../state/root.js';
import { randomUUID } from '../util/random.js';
import { broadcast, contains, formatIPv4, overlaps, parseIPv4, parseSubnet } from './ipv4.js';
import { listPods, podExists, readPod } from './store.js';
import type { NetworkMode, PodRecord, PortMapping } from './types.js';

export interface CreatePodOptions {
  root?: string;
  name: string;
  /** bridge (default) | none | host | pod:OTHER */
  network?: string;
  subnet?: string;
  gateway?: string;
  /** the bridge (default podns0); a bridge other than the default is its own network, named after it */
  bridge?: string;
  ip?: string;
  /** default: the pod's name, as in Kubernetes */
  hostname?: string;
  publish?: PortMapping[];
  sharePid?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  restartPolicy?: 'Never' | 'OnFailure' | 'Always';
  /** the cgroup parent (kubelet's cgroup_parent), e.g. "kubepods/burstable"; default "podns" */
  cgroupParent?: string;
  /** the pod's own totals (`create --memory/--cpus/...`, docker's terms) */
  limits?: CgroupLimits;
  /** the pod's resolv.conf from these (Kubernetes' dnsConfig, the CRI's dns_config) instead of the host's */
  dns?: DnsConfig;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface CreatePlan {
  root: string;
  name: string;
  uid: string;
  hostname: string;
  sharePid: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  restartPolicy?: 'Never' | 'OnFailure' | 'Always';
  dns?: DnsConfig;
  mode: NetworkMode;
  /** bridge mode: the network as ensureNetwork should make or find it */
  net?: Pick<NetworkConfig, 'name' | 'bridge' | 'subnet'> & { gateway?: string };
  ip?: string;
  publish: PortMapping[];
  /** pod:OTHER */
  join?: { pod: string; netPin: string; ip?: string };
  /** the cgroup parent in effect (cgroupParentFor) */
  cgroupParent: string;
  /** the pod's totals, checked, and their writes (placed once the uid names the cgroup) */
  limits?: CgroupLimits;
  limitWrites: LimitWrite[];
}

function usage(code: string, msg: string): PodnsError {
  return new PodnsError(code, msg);
}

export function parseNetworkMode(spec: string | undefined, self: string): NetworkMode {
  const s = spec ?? 'bridge';
  if (s === 'bridge') return { kind: 'bridge', network: DEFAULT_NETWORK.name };
  if (s === 'none') return { kind: 'none' };
  if (s === 'host') return { kind: 'host' };
  if (s.startsWith('pod:')) {
    const other = s.slice(4);
    if (other === '') throw usage('EINVALIDNETWORK', 'invalid --network "pod:": name the pod to join, as in --network pod:web');
    validateName('pod', other);
    if (other === self) throw usage('EINVALIDNETWORK', `--network pod:${other}: a pod cannot join its own network`);
    return { kind: 'pod', pod: other };
  }
  throw usage('EINVALIDNETWORK', `invalid --network "${s.slice(0, 60)}": use bridge, none, host or pod:NAME`);
}

export function validatePorts(ports: PortMapping[]): PortMapping[] {
  const seen = new Set<string>();
  for (const p of ports) {
    for (const [what, v] of [['host port', p.hostPort], ['container port', p.containerPort]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) {
        throw usage('EINVALIDPORT', `invalid ${what} ${String(v)}: use a number from 1 to 65535 (--publish HOSTPORT:PORT[/tcp|/udp])`);
      }
    }
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') {
      throw usage('EINVALIDPORT', `invalid protocol "${String(p.protocol)}": use tcp or udp`);
    }
    const key = `${p.hostPort}/${p.protocol}`;
    if (seen.has(key)) throw usage('EINVALIDPORT', `host port ${key} is published twice; publish each host port once`);
    seen.add(key);
  }
  return ports;
}

/** Host ports already published by pods of this root: "8080/tcp" → pod. */
export function publishedPorts(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rec of listPods({ root })) for (const p of rec.ports ?? []) out.set(`${p.hostPort}/${p.protocol}`, rec.name);
  return out;
}

export function checkPortConflicts(root: string, name: string, ports: PortMapping[]): void {
  // nothing to publish, nothing to conflict: skip reading every pod's record (O(pods) per create)
  if (ports.length === 0) return;
  const used = publishedPorts(root);
  for (const p of ports) {
    const owner = used.get(`${p.hostPort}/${p.protocol}`);
    if (owner !== undefined && owner !== name) {
      throw usage('EPORTINUSE', `host port ${p.hostPort}/${p.protocol} is already published by pod "${owner}"; choose another host port`);
    }
  }
}

/** The network a bridge name stands for: the default bridge is the default network, any other is its own. */
export function networkNameFor(bridge: string): string {
  if (bridge === DEFAULT_NETWORK.bridge) return DEFAULT_NETWORK.name;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(bridge)) {
    throw usage('EINVALIDIFNAME', `invalid bridge name "${bridge}": podns bridges use lowercase letters, digits and '-' (at most 15)`);
  }
  return bridge;
}

export function readNetworkConfig(root: string, net: string): NetworkConfig | undefined {
  return readJsonIfExists<NetworkConfig>(paths.networkConfig(root, net));
}

/** The IP the pod `record` shows: its own, or for pod:OTHER the one of the pod whose network it joined. */
export function podIp(o: RootOption & { record: PodRecord }): string | undefined {
  return ipOf(resolveRoot(o.root), o.record, 0);
}

function ipOf(root: string, rec: PodRecord, depth: number): string | undefined {
  if (rec.network?.ip !== undefined) return rec.network.ip;
  if (rec.networkMode.kind === 'pod' && depth < 8) {
    try {
      return ipOf(root, readPod({ root, name: rec.networkMode.pod }), depth + 1);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }
  return undefined;
}

/**
 * resolv.conf entries: each one word of printable characters (no whitespace: a newline would add lines of
 * its own to the file), servers IP addresses; at most 3 servers and 32 searches (kubelet's limits).
 */
export function validateDns(d: DnsConfig): DnsConfig {
  const word = /^[\x21-\x7e]{1,253}$/;
  const list = (what: string, v: unknown, max: number, check: (s: string) => boolean): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length > max || v.some((s) => typeof s !== 'string' || !word.test(s) || !check(s))) {
      throw usage('EINVALIDDNS', `invalid DNS ${what} ${JSON.stringify(v).slice(0, 120)}: give at most ${max}, each one word without spaces${what === 'servers' ? ' (an IPv4 or IPv6 address)' : ''}`);
    }
    return [...v] as string[];
  };
  return {
    servers: list('servers', d.servers, 3, (s) => isIP(s) !== 0),
    searches: list('searches', d.searches, 32, () => true),
    options: list('options', d.options, 32, () => true),
  };
}

export function planCreate(o: CreatePodOptions): CreatePlan {
  if (typeof o !== 'object' || o === null) throw usage('EUSAGE', 'createPod: options object required');
  const root = resolveRoot(o.root);
  const name = validateName('pod', o.name);
  const mode = parseNetworkMode(o.network, name);
  const labels = validateLabels({ ...(o.labels ?? {}) });
  const annotations = validateAnnotations({ ...(o.annotations ?? {}) });
  if (o.restartPolicy !== undefined && !['Never', 'OnFailure', 'Always'].includes(o.restartPolicy)) {
    throw usage('EUSAGE', `invalid restart policy "${String(o.restartPolicy)}": use Never, OnFailure or Always`);
  }
  const publish = validatePorts([...(o.publish ?? [])]);

  let hostname: string;
  if (mode.kind === 'host') {
    if (o.hostname !== undefined) {
      throw usage('EUSAGE', '--hostname cannot be used with --network host: the pod uses the host\'s UTS namespace and hostname');
    }
    hostname = osHostname();
  } else {
    hostname = validateHostname(o.hostname ?? name);
  }

  if (mode.kind !== 'bridge') {
    const bridgeOnly: Array<[unknown, string]> = [[o.ip, '--ip'], [o.subnet, '--subnet'], [o.gateway, '--gateway'], [o.bridge, '--bridge'],
      [publish.length > 0 ? publish : undefined, '--publish']];
    for (const [v, flag] of bridgeOnly) {
      if (v !== undefined) {
        throw usage('EUSAGE', `${flag} needs --network bridge (this pod uses --network ${mode.kind === 'pod' ? `pod:${mode.pod}` : mode.kind})`);
      }
    }
  }

  if (podExists(root, name)) {
    throw usage('EEXIST', `pod "${name}" already exists; delete it first (podns delete ${name}) or choose another name`);
  }
  if (mode.kind !== 'host' && existsSync(paths.netnsPin(name))) {
    throw usage('EEXIST', `${paths.netnsPin(name)} already exists (a network namespace named "${name}" that podns did not make); remove it (ip netns delete ${name}) or choose another pod name`);
  }

  // the cgroup parent and the pod's totals: checked (values, controllers) before anything is made
  const cgroupParent = cgroupParentFor(o.cgroupParent);
  const limits = o.limits !== undefined && Object.values(o.limits).some((v) => v !== undefined) ? { ...o.limits } : undefined;
  const writes = podLimitWrites(hostCgroups(), limits);

  const plan: CreatePlan = {
    root, name, uid: randomUUID(), hostname, sharePid: o.sharePid === true, labels, annotations, mode, publish, cgroupParent,
    ...(limits !== undefined ? { limits } : {}), limitWrites: writes,
  };
  if (o.restartPolicy !== undefined) plan.restartPolicy = o.restartPolicy;
  if (o.dns !== undefined) plan.dns = validateDns(o.dns);

  if (mode.kind === 'bridge') {
    const bridge = validateIfname('bridge', o.bridge ?? DEFAULT_NETWORK.bridge);
    const netName = networkNameFor(bridge);
    mode.network = netName;
    const existing = readNetworkConfig(root, netName);
    let subnetText: string;
    let gateway: string | undefined;
    if (existing !== undefined) {
      if (o.subnet !== undefined && parseSubnet(o.subnet).text !== existing.subnet) {
        throw usage('ENETCONFLICT', `bridge ${bridge} already has subnet ${existing.subnet}, not ${o.subnet}; leave out --subnet, or give another --bridge for a new network`);
      }
      if (o.gateway !== undefined && o.gateway !== existing.gateway) {
        throw usage('ENETCONFLICT', `bridge ${bridge} already has gateway ${existing.gateway}; leave out --gateway`);
      }
      subnetText = existing.subnet;
      gateway = existing.gateway;
    } else {
      if (o.subnet === undefined && netName !== DEFAULT_NETWORK.name) {
        throw usage('EUSAGE', `bridge ${bridge} is a new network: give its --subnet (e.g. --subnet 10.90.0.0/24)`);
      }
      subnetText = o.subnet ?? DEFAULT_NETWORK.subnet;
      const sub = parseSubnet(subnetText);
      for (const other of listDir(paths.networks(root))) {
        if (other === netName || other.startsWith('.')) continue;
        const cfg = readNetworkConfig(root, other);
        if (cfg !== undefined && overlaps(sub, parseSubnet(cfg.subnet))) {
          throw usage('ENETCONFLICT', `subnet ${subnetText} overlaps network ${other} (${cfg.bridge}, ${cfg.subnet}); choose a subnet that does not`);
        }
      }
      if (o.gateway !== undefined) {
        const gw = parseIPv4(o.gateway);
        if (gw === undefined || !contains(sub, gw) || gw === sub.addr || gw === broadcast(sub)) {
          throw usage('EINVALIDIP', `invalid gateway "${o.gateway}": give a host address inside ${subnetText}`);
        }
        gateway = o.gateway;
      }
    }
    const sub = parseSubnet(subnetText);
    const gwText = gateway ?? formatIPv4(sub.addr + 1);
    if (o.ip !== undefined) {
      const ip = parseIPv4(o.ip);
      if (ip === undefined) throw usage('EINVALIDIP', `invalid --ip "${o.ip}": write an IPv4 address such as ${formatIPv4(sub.addr + 2)}`);
      if (!contains(sub, ip) || ip === sub.addr || ip === broadcast(sub)) {
        throw usage('EINVALIDIP', `--ip ${o.ip} is not a host address of the pod network ${subnetText}; choose one inside it`);
      }
      if (o.ip === gwText) throw usage('EINVALIDIP', `--ip ${o.ip} is the network's gateway; choose another address`);
      const ipFile = `${paths.networkIps(root, netName)}/${formatIPv4(ip)}`;
      if (existsSync(ipFile)) {
        throw usage('EIPINUSE', `IP ${o.ip} is already in use in network ${netName}; choose another or leave out --ip`);
      }
      plan.ip = formatIPv4(ip);
    }
    plan.net = { name: netName, bridge, subnet: subnetText, ...(gateway !== undefined ? { gateway } : {}) };
    checkPortConflicts(root, name, publish);
  }

  if (mode.kind === 'pod') {
    let other: PodRecord;
    try {
      other = readPod({ root, name: mode.pod });
    } catch (err) {
      if (err instanceof NotFoundError) throw usage('ENOTFOUND', `--network pod:${mode.pod}: pod "${mode.pod}" not found; create it first`);
      throw err;
    }
    if (other.phase !== 'ready') throw usage('EBUSY', `--network pod:${mode.pod}: pod "${mode.pod}" is ${other.phase === 'creating' ? 'still being created' : 'being deleted'}`);
    if (other.networkMode.kind === 'host') throw usage('EINVALIDNETWORK', `--network pod:${mode.pod}: that pod uses the host network; use --network host`);
    const pin = paths.podNs(root, mode.pod, 'net');
    const id = other.namespaces.find((n) => n.type === 'net');
    if (id === undefined || !pinAlive(pin, id)) {
      throw usage('ENONETNS', `--network pod:${mode.pod}: pod "${mode.pod}" has no live network namespace (its pin is gone); delete it with --force, or join another pod`);
    }
    const ip = podIp({ root, record: other });
    plan.join = { pod: mode.pod, netPin: pin, ...(ip !== undefined ? { ip } : {}) };
  }
  return plan;
}
