// A small tar writer for the archives `image save` makes: ustar headers (names of an OCI layout fit the 100-byte
// field: "blobs/sha256/" + 64 hex), base-256 sizes past 8 GiB, data streamed from the caller with back-pressure
// (each write is awaited before the next), the two end blocks, padded to tar's 10 KiB record.
import { BLOCK, padding } from '../tar-header.js';

const RECORD = 20 * BLOCK;
/** Largest size the 11 octal digits of a ustar size field hold. */
const OCTAL_MAX = 0o77777777777;

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

export interface TarHeader {
  name: string;
  type: 'file' | 'dir';
  size: number;
  mode?: number;
  /** seconds since the epoch */
  mtime?: number;
}

export function tarHeader(o: TarHeader): Buffer {
  if (Buffer.byteLength(o.name) > 100) throw new Error(`tar name too long: ${o.name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(o.name, 0, 'utf8');
  h.write(octal(o.mode ?? (o.type === 'dir' ? 0o755 : 0o644), 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  if (o.size > OCTAL_MAX) {
    // GNU base-256: high bit set, big-endian in the remaining 11 bytes
    let v = BigInt(o.size);
    h[124] = 0x80;
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else h.write(octal(o.size, 12), 124, 'latin1');
  h.write(octal(o.mtime ?? 0, 12), 136, 'latin1');
  h.write(o.type === 'dir' ? '5' : '0', 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (const c of h) sum += c;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}

export class TarWriter {
  private written = 0;
  /** SINK writes all of a buffer (a file handle's write loop, or a stream's write and drain). */
  constructor(private readonly sink: (b: Buffer) => Promise<void>) {}

  private async write(b: Buffer): Promise<void> {
    await this.sink(b);
    this.written += b.length;
  }

  async dir(name: string): Promise<void> {
    await this.write(tarHeader({ name: name.endsWith('/') ? name : `${name}/`, type: 'dir', size: 0 }));
  }

  async file(name: string, data: Buffer): Promise<void> {
    await this.write(tarHeader({ name, type: 'file', size: data.length }));
    await this.write(data);
    await this.pad();
  }

  /** A file of SIZE bytes from DATA; fewer or more bytes than SIZE is an error (the archive would be corrupt). */
  async stream(name: string, size: number, data: AsyncIterable<Buffer>): Promise<void> {
    await this.write(tarHeader({ name, type: 'file', size }));
    let n = 0;
    for await (const c of data) {
      n += c.length;
      if (n > size) throw new Error(`${name} grew past ${size} bytes while it was written`);
      await this.write(c);
    }
    if (n !== size) throw new Error(`${name} had ${n} bytes, not ${size}`);
    await this.pad();
  }

  private async pad(): Promise<void> {
    const p = padding(this.written);
    if (p > 0) await this.write(Buffer.alloc(p));
  }

  /** The end blocks, and zeros to a whole record. */
  async end(): Promise<number> {
    await this.write(Buffer.alloc(2 * BLOCK));
    const p = (RECORD - (this.written % RECORD)) % RECORD;
    if (p > 0) await this.write(Buffer.alloc(p));
    return this.written;
  }
}
