// MAC addresses podns assigns: 0a:58 (locally administered, unicast) + the IPv4 address, as Kubernetes
// network plugins do. An address reused by a new pod comes back with the same MAC, so neighbours' ARP
// caches stay right, and no two interfaces of one subnet can share a MAC.
import { ipToInt } from './ip.js';

export function macForIp(ip: string): string {
  const n = ipToInt(ip);
  if (n === undefined) throw new TypeError(`invalid IPv4 address ${JSON.stringify(ip)}`);
  const b = [0x0a, 0x58, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
