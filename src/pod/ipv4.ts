// Small IPv4 arithmetic for checking what the user asked for before anything is made.
import { PodnsError } from '../errors.js';

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith('0')))) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr { addr: number; prefix: number; text: string }

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.1.0.0/24" with the host bits zero, prefix 8..30 (room for a gateway and pods). */
export function parseSubnet(s: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  const addr = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (m === null || addr === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw new PodnsError('EINVALIDSUBNET', `invalid subnet "${s}": write an IPv4 CIDR with a prefix from /8 to /30, such as 10.89.0.0/16`);
  }
  const net = (addr & mask(prefix)) >>> 0;
  if (net !== addr) {
    throw new PodnsError('EINVALIDSUBNET', `invalid subnet "${s}": it has host bits set; did you mean ${formatIPv4(net)}/${prefix}?`);
  }
  return { addr, prefix, text: s };
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.addr;
}

export function broadcast(c: Cidr): number {
  return (c.addr | (~mask(c.prefix) >>> 0)) >>> 0;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.addr & mask(p)) >>> 0) === ((b.addr & mask(p)) >>> 0);
}
