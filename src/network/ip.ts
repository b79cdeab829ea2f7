// IPv4 arithmetic on unsigned 32-bit numbers, and the parsing that turns user input into it.
// Parse errors are one-line PodnsErrors that name the input and what a good one looks like.
import { PodnsError } from '../errors.js';

export interface Cidr {
  /** network address, host bits zero */
  network: number;
  prefixLength: number;
  /** the input as written, normalised (A.B.C.D/N) */
  text: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A.B.C.D → number, or undefined when it is not a dotted quad (no leading zeros, each 0..255). */
export function ipToInt(ip: string): number | undefined {
  const m = IPV4.exec(ip);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part[0] === '0') return undefined; // 010 would mean octal to inet_aton
    const v = Number(part);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** '10.89.0.0/16' → Cidr; host bits must be zero. `what` names the option in errors ('--subnet'). */
export function parseCidr(text: string, what = 'subnet'): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text ?? '');
  const ip = m ? ipToInt(m[1]!) : undefined;
  const prefixLength = m ? Number(m[2]) : NaN;
  if (!m || ip === undefined || !(prefixLength >= 0 && prefixLength <= 32)) {
    throw new PodnsError('EINVALIDCIDR', `invalid ${what} "${text}": write an IPv4 network as A.B.C.D/N, e.g. 10.89.0.0/16`);
  }
  const network = (ip & maskOf(prefixLength)) >>> 0;
  if (network !== ip) {
    throw new PodnsError('EINVALIDCIDR', `invalid ${what} "${text}": host bits are set; did you mean ${intToIp(network)}/${prefixLength}?`);
  }
  return { network, prefixLength, text: `${intToIp(network)}/${prefixLength}` };
}

export function parseIp(text: string, what = 'IP address'): number {
  const n = ipToInt(text ?? '');
  if (n === undefined) throw new PodnsError('EINVALIDIP', `invalid ${what} "${text}": write an IPv4 address as A.B.C.D, e.g. 10.89.0.5`);
  return n;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.prefixLength)) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefixLength)) >>> 0) === c.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefixLength, b.prefixLength);
  return ((a.network & maskOf(p)) >>> 0) === ((b.network & maskOf(p)) >>> 0);
}

/** First and last usable host addresses (network and broadcast excluded). */
export function hostRange(c: Cidr): [first: number, last: number] {
  return [c.network + 1, broadcastOf(c) - 1];
}
