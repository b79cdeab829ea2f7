// IP address management: one file per allocated address, networks/NET/ips/A.B.C.D, holding the owner
// pod's name. The file is created with O_CREAT|O_EXCL ('wx'), which the kernel does atomically: of any
// number of processes trying the same address, exactly one succeeds, with no lock. Releasing is unlink.
// A `last` hint (networks/NET/last) makes the next scan start after the previous allocation (like
// host-local IPAM), so addresses are not reused at once; it is only a hint and may be stale or torn.
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PodnsError, isErrno } from '../errors.js';
import { ensureDir, listDir } from '../state/files.js';
import { validateName } from '../state/names.js';
import { paths } from '../state/paths.js';
import type { NetworkConfig } from './config.js';
import { broadcastOf, contains, intToIp, ipToInt, parseCidr, parseIp } from './ip.js';

function lastPath(root: string, net: string): string {
  return join(paths.network(root, net), 'last');
}

/** Creates the address file; false when the address is taken. */
function claim(dir: string, ip: string, owner: string, retried = false): boolean {
  let fd: number;
  try {
    fd = openSync(join(dir, ip), 'wx', 0o600);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    // the ips directory is made with the network (ensureNetwork); made again here only if it went missing,
    // rather than a mkdir -p before every allocation
    if (!isErrno(err, 'ENOENT') || retried) throw err;
    ensureDir(dir);
    return claim(dir, ip, owner, true);
  }
  try {
    writeSync(fd, owner);
  } finally {
    closeSync(fd);
  }
  return true;
}

function ownerOf(dir: string, ip: string): string | undefined {
  try {
    return readFileSync(join(dir, ip), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function checkOwner(owner: string): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 253 || /[\0\n/]/.test(owner)) {
    throw new TypeError(`invalid IP owner ${JSON.stringify(owner)}`);
  }
}

/**
 * An address for `owner` on `net`: `requested` when given (it must be a free host address of the
 * subnet), else the next free one after the last allocation, wrapping around. Never the network,
 * gateway or broadcast address.
 */
export function allocateIp(root: string, net: NetworkConfig, owner: string, requested?: string): string {
  checkOwner(owner);
  validateName('network', net.name);
  const cidr = parseCidr(net.subnet);
  const gateway = parseIp(net.gateway, 'gateway');
  const broadcast = broadcastOf(cidr);
  const dir = paths.networkIps(root, net.name);

  if (requested !== undefined) {
    const ip = parseIp(requested, '--ip');
    if (!contains(cidr, ip) || ip === cidr.network || ip === broadcast) {
      throw new PodnsError('EINVALIDIP', `--ip ${requested} is not a host address of network "${net.name}" (${net.subnet}): choose one inside it, or leave out --ip`);
    }
    if (ip === gateway) {
      throw new PodnsError('EINVALIDIP', `--ip ${requested} is the gateway of network "${net.name}": choose another address, or leave out --ip`);
    }
    const text = intToIp(ip);
    if (!claim(dir, text, owner)) {
      const by = ownerOf(dir, text);
      throw new PodnsError('EADDRINUSE', `IP ${text} is already used${by ? ` by pod "${by}"` : ''} on network "${net.name}": choose another --ip, or leave it out`);
    }
    return text;
  }

  const first = cidr.network + 1;
  const size = broadcast - first; // host addresses: network+1 .. broadcast-1
  let hint = first - 1;
  try {
    const h = ipToInt(readFileSync(lastPath(root, net.name), 'utf8').trim());
    if (h !== undefined && contains(cidr, h)) hint = h;
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const start = hint < first || hint >= broadcast - 1 ? 0 : hint - first + 1;
  for (let i = 0; i < size; i++) {
    const n = first + ((start + i) % size);
    if (n === gateway) continue;
    const text = intToIp(n);
    if (claim(dir, text, owner)) {
      try {
        writeFileSync(lastPath(root, net.name), text + '\n', { mode: 0o600 });
      } catch {
        // only a hint
      }
      return text;
    }
  }
  throw new PodnsError('ESUBNETFULL', `network "${net.name}" has no free address left in ${net.subnet}: delete pods you no longer need, or use another network (--bridge NAME --subnet CIDR)`);
}

/** Frees every address `owner` holds on network `net`; returns them. */
export function releaseIps(root: string, net: string, owner: string): string[] {
  checkOwner(owner);
  validateName('network', net);
  const dir = paths.networkIps(root, net);
  const released: string[] = [];
  for (const ip of listDir(dir)) {
    if (ipToInt(ip) === undefined) continue;
    if (ownerOf(dir, ip) !== owner) continue;
    try {
      unlinkSync(join(dir, ip));
      released.push(ip);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  return released;
}

/**
 * Every allocated address of network `net`, sorted by address. The owner is '' for a file whose
 * creator has not written it yet (or died between create and write: gc frees those).
 */
export function listAllocations(root: string, net: string): Array<{ ip: string; owner: string }> {
  validateName('network', net);
  const dir = paths.networkIps(root, net);
  const out: Array<{ ip: string; owner: string; n: number }> = [];
  for (const ip of listDir(dir)) {
    const n = ipToInt(ip);
    if (n === undefined) continue;
    const owner = ownerOf(dir, ip);
    if (owner !== undefined) out.push({ ip, owner, n });
  }
  return out.sort((a, b) => a.n - b.n).map(({ ip, owner }) => ({ ip, owner }));
}
