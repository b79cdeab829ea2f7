// The tar header's fields, read one way for both tar readers: the gate in front of `tar -x` (tar-gate.ts) and
// the image-archive reader (archive/tar-read.ts). Pure parsing: nothing here throws; a malformed field comes
// back as -1 (numbers) or undefined (pax records), and each caller words its own refusal.

export const BLOCK = 512;
/** GNU long names and pax records are read into memory: bounded. */
export const MAX_META = 1 << 20;

/** How names are decoded: the gate keeps bytes as latin1 (one char per byte); the archive reader wants UTF-8. */
export type NameEncoding = 'latin1' | 'utf8';

/** A NUL-terminated (or full-width) string field. */
export function field(b: Buffer, off: number, len: number, enc: NameEncoding): string {
  const end = b.indexOf(0, off);
  return b.toString(enc, off, end === -1 || end > off + len ? off + len : end);
}

/** Octal (space/NUL terminated) or GNU base-256; -1 when malformed, negative or beyond a safe integer. */
export function num(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    if (b[off] === 0xff) return -1; // negative
    let v = b[off]! & 0x7f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return Number.isSafeInteger(v) ? v : -1;
  }
  const s = field(b, off, len, 'latin1').trim();
  return /^[0-7]*$/.test(s) ? (s === '' ? 0 : parseInt(s, 8)) : -1;
}

/** The header's checksum matches (unsigned, or the signed sum old writers used); false if the field is malformed. */
export function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8);
  if (want < 0) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : h[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

/** The type flag, one character. */
export function typeFlag(h: Buffer): string {
  return String.fromCharCode(h[156]!);
}

/** The entry's name from the header alone: a ustar prefix ("ustar\0" magic) joined with "/". */
export function headerName(h: Buffer, enc: NameEncoding): string {
  const prefix = h.toString('latin1', 257, 263) === 'ustar\0' ? field(h, 345, 155, enc) : '';
  const name = field(h, 0, 100, enc);
  return prefix !== '' ? `${prefix}/${name}` : name;
}

/** The link target field. */
export function headerLink(h: Buffer, enc: NameEncoding): string {
  return field(h, 157, 100, enc);
}

/** Pax records "LEN KEY=VALUE\n" (up to a NUL); undefined when a record is damaged. */
export function parsePax(data: Buffer, enc: NameEncoding): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length && data[off] !== 0) {
    const sp = data.indexOf(0x20, off);
    const len = sp === -1 ? NaN : Number(data.toString('latin1', off, sp));
    if (!Number.isSafeInteger(len) || len <= sp - off || off + len > data.length || data[off + len - 1] !== 0x0a) return undefined;
    const rec = data.toString(enc, sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq <= 0) return undefined;
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

/** A pax `size` value: decimal digits within a safe integer; -1 otherwise. */
export function paxSize(s: string): number {
  return /^[0-9]+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : -1;
}

/** Bytes of padding after N bytes of data, up to the next block. */
export function padding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}
