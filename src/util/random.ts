// Random ids and a small stable hash, without node:crypto. Loading node:crypto (its OpenSSL binding,
// streams, ciphers) took ~16 ms of every CLI process that created a pod — three times the create itself
// — for 16 random bytes and one short hash. The kernel's random source is the same one OpenSSL seeds
// from; the hash only turns a pod's name and uid into an interface name, where it needs to spread, not
// to resist an attacker (the uid in it is random already).
import { closeSync, openSync, readSync } from 'node:fs';

/** n bytes from /dev/urandom (the kernel CSPRNG; never blocks once the system has booted). */
export function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let off = 0; off < n;) {
      const got = readSync(fd, buf, off, n - off, null);
      if (got <= 0) throw new Error('short read from /dev/urandom');
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** An RFC 9562 version 4 UUID, as crypto.randomUUID() makes it. */
export function randomUUID(): string {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits, of the UTF-8 bytes of s: 16 lowercase hex digits. */
export function fnv1a64(s: string): string {
  let h = FNV64_OFFSET;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * FNV64_PRIME) & MASK64;
  }
  return h.toString(16).padStart(16, '0');
}
