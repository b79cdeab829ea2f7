// Writes tar archives header by header, for hostile fixtures that GNU tar refuses to create (".." names,
// absolute names, links followed by entries below them, device nodes) and for each header format the
// import gate reads: ustar (with its prefix field), GNU long names/links ('L'/'K') and pax ('x', 'g').
import { writeFileSync } from 'node:fs';

export interface TarEntry {
  name: string;
  /** '0' file (default), '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' fifo,
   *  or any other flag byte */
  type?: string;
  data?: string | Buffer;
  link?: string;
  mode?: number;
  dev?: [number, number];
  /** how a long name or link is carried: in the header (ustar: split into prefix/name), GNU 'L'/'K', or pax 'x' */
  format?: 'ustar' | 'gnu' | 'pax';
  /** a ustar prefix field written as is (with format 'ustar') */
  prefix?: string;
  /** extra pax records for this entry (format 'pax') */
  pax?: Record<string, string>;
  /** a header size that differs from the data's length */
  size?: number;
  uid?: number;
  gid?: number;
  /** seconds since the epoch (default 1700000000) */
  mtime?: number;
  /** extended attributes, as SCHILY.xattr.NAME pax records (any format: a pax header is added for them) */
  xattrs?: Record<string, string | Buffer>;
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

function header(o: { name: string; type: string; size: number; link?: string; mode?: number; dev?: [number, number]; magic: 'ustar' | 'gnu'; prefix?: string; uid?: number; gid?: number; mtime?: number }): Buffer {
  const h = Buffer.alloc(512);
  h.write(o.name.slice(0, 100), 0, 'latin1');
  h.write(octal(o.mode ?? (o.type === '5' ? 0o755 : 0o644), 8), 100, 'latin1');
  h.write(octal(o.uid ?? 0, 8), 108, 'latin1');
  h.write(octal(o.gid ?? 0, 8), 116, 'latin1');
  h.write(octal(o.size, 12), 124, 'latin1');
  h.write(octal(o.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  h.write(o.type, 156, 'latin1');
  h.write((o.link ?? '').slice(0, 100), 157, 'latin1');
  if (o.magic === 'ustar') h.write('ustar\x0000', 257, 'latin1');
  else h.write('ustar  \0', 257, 'latin1');
  h.write(octal(o.dev?.[0] ?? 0, 8), 329, 'latin1');
  h.write(octal(o.dev?.[1] ?? 0, 8), 337, 'latin1');
  if (o.prefix !== undefined) h.write(o.prefix, 345, 'latin1');
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (const c of h) sum += c;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** pax records "LEN KEY=VALUE\n"; values may be binary (xattrs). */
export function paxRecords(kv: Record<string, string | Buffer>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(kv)) {
    const body = Buffer.concat([Buffer.from(` ${k}=`, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\n')]);
    const n = body.length;
    let len = n + 1;
    while (len !== n + String(len).length) len = n + String(len).length;
    out.push(Buffer.from(String(len), 'latin1'), body);
  }
  return Buffer.concat(out);
}

/** The bytes of an archive with these entries and the end marker. */
export function tarBuffer(entries: TarEntry[], o: { globalPax?: Record<string, string> } = {}): Buffer {
  const parts: Buffer[] = [];
  if (o.globalPax) {
    const d = paxRecords(o.globalPax);
    parts.push(header({ name: 'pax_global_header', type: 'g', size: d.length, magic: 'ustar' }), padded(d));
  }
  for (const e of entries) {
    const type = e.type ?? '0';
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const format = e.format ?? 'gnu';
    let name = e.name;
    let link = e.link;
    if (format === 'gnu') {
      for (const [v, t] of [[e.name, 'L'], [e.link ?? '', 'K']] as const) {
        if (v.length <= 100) continue;
        const d = Buffer.from(v + '\0', 'latin1');
        parts.push(header({ name: '././@LongLink', type: t, size: d.length, magic: 'gnu' }), padded(d));
        if (t === 'L') name = v.slice(0, 100);
        else link = v.slice(0, 100);
      }
    }
    if (format === 'pax' || e.xattrs !== undefined) {
      const kv: Record<string, string | Buffer> = { ...(e.pax ?? {}) };
      if (format === 'pax' && e.name.length > 100) kv.path = e.name;
      if (format === 'pax' && (e.link ?? '').length > 100) kv.linkpath = e.link!;
      for (const [k, v] of Object.entries(e.xattrs ?? {})) kv[`SCHILY.xattr.${k}`] = v;
      if (Object.keys(kv).length > 0) {
        const d = paxRecords(kv);
        parts.push(header({ name: 'PaxHeader', type: 'x', size: d.length, magic: 'ustar' }), padded(d));
      }
    }
    parts.push(header({ name, type, size: e.size ?? data.length, link, mode: e.mode, dev: e.dev, magic: format === 'gnu' ? 'gnu' : 'ustar', prefix: e.prefix, uid: e.uid, gid: e.gid, mtime: e.mtime }));
    if (data.length > 0) parts.push(padded(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function writeTar(path: string, entries: TarEntry[], o: { globalPax?: Record<string, string> } = {}): string {
  writeFileSync(path, tarBuffer(entries, o));
  return path;
}
