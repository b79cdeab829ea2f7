// A streaming tar reader for image archives (docker save, OCI layouts as tar): header by header, with each
// entry's data handed out as a stream that the caller may read, stop reading, or ignore (the rest is skipped
// before the next header). Nothing but headers and extension records is held in memory, and those are bounded.
// Formats: ustar (prefix joined with "/"), GNU long names/links ('L'/'K'), pax ('x' path/linkpath/size;
// 'g' ignored). Base-256 sizes. A bad checksum or an archive that ends inside an entry is an error.
// Names are returned as written: archive/names.ts decides what a name may be.
import { PodnsError } from '../../errors.js';
import { BLOCK, MAX_META, checksumOk, field, headerLink, headerName, num, padding, parsePax, paxSize, typeFlag } from '../tar-header.js';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  name: string;
  type: TarEntryType;
  /** the raw type flag, for messages */
  flag: string;
  size: number;
  /** symlink target or hard link name */
  linkname: string;
}

/** A tar reading error; the caller names the archive (TarError.message reads after it: "FILE is damaged…"). */
export class TarError extends PodnsError {
  constructor(why: string) {
    super('EBADARCHIVE', why);
    this.name = 'TarError';
  }
}

function damaged(why: string): TarError {
  return new TarError(`is damaged: ${why}`);
}

/** Exact-size reads over an async iterator of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer | string>) {}

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done === true) {
      this.ended = true;
      return false;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
    return true;
  }

  /** N bytes, or fewer at the end of the input. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) if (!(await this.more())) break;
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Up to N bytes, in the chunks they came in (at least one byte unless the input ended). */
  async chunk(n: number): Promise<Buffer> {
    if (this.buf.length === 0) await this.more();
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const c = await this.chunk(Math.min(left, 1 << 20));
      if (c.length === 0) throw damaged('it ends inside an entry');
      left -= c.length;
    }
  }

  /** Skips up to N bytes: the padding after the last entry may be missing (Go's writers can stop there). */
  async skipPadding(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const c = await this.chunk(left);
      if (c.length === 0) return;
      left -= c.length;
    }
  }

  /** Reads the input to its end (what follows the end blocks: zeros, or whatever a writer left), so that the
   * producer (a decompressor) finishes normally. */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.more()) this.buf = Buffer.alloc(0);
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/** A numeric header field; a malformed one makes the archive damaged. */
function numField(h: Buffer, off: number, len: number, what: string): number {
  const v = num(h, off, len);
  if (v < 0) throw damaged(`bad ${what} field`);
  return v;
}

function typeOf(flag: string): TarEntryType {
  if (flag === '0' || flag === '\0' || flag === '7' || flag === '') return 'file';
  if (flag === '5') return 'dir';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'hardlink';
  return 'other';
}

/**
 * The entries of a tar stream, in order. Each entry's `data` yields its bytes; whatever the caller leaves unread
 * is skipped when it asks for the next entry. Ends at the end-of-archive blocks (or the input's end).
 */
export async function* readTar(input: AsyncIterable<Buffer | string>): AsyncGenerator<{ entry: TarEntry; data: AsyncIterable<Buffer> }> {
  const r = new ByteReader(input[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, string> | undefined;
  let first = true;
  try {
    for (;;) {
      const h = await r.read(BLOCK);
      if (h.length === 0) return; // no end blocks: tolerated (some writers stop at the last entry)
      if (h.length < BLOCK) throw damaged('it ends inside a header');
      if (h.every((c) => c === 0)) {
        await r.drain();
        return;
      }
      const sumOk = checksumOk(h);
      if (first && !sumOk && !h.subarray(257, 262).equals(Buffer.from('ustar'))) {
        throw new TarError('is not a tar archive (nor gzip or zstd of one); give an archive written by docker save, podman save, skopeo or podns image save');
      }
      first = false;
      if (!sumOk) throw damaged('a header checksum does not match');
      const flag = typeFlag(h).replace('\0', '0');
      let size = numField(h, 124, 12, 'size');
      if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
        if (size > MAX_META) throw damaged(`an extension header of ${size} bytes (more than ${MAX_META})`);
        const data = await r.read(size);
        if (data.length < size) throw damaged('it ends inside an extension header');
        await r.skipPadding(padding(size));
        if (flag === 'L') longName = field(data, 0, data.length, 'utf8');
        else if (flag === 'K') longLink = field(data, 0, data.length, 'utf8');
        else if (flag === 'x') {
          pax = parsePax(data, 'utf8');
          if (pax === undefined) throw damaged('bad pax header');
        }
        continue;
      }
      let name = headerName(h, 'utf8');
      let linkname = headerLink(h, 'utf8');
      if (longName !== undefined) name = longName;
      if (longLink !== undefined) linkname = longLink;
      if (pax?.has('path')) name = pax.get('path')!;
      if (pax?.has('linkpath')) linkname = pax.get('linkpath')!;
      if (pax?.has('size')) {
        const s = pax.get('size')!;
        size = paxSize(s);
        if (size < 0) throw damaged('bad pax size');
      }
      longName = undefined;
      longLink = undefined;
      pax = undefined;
      const type = typeOf(flag);
      // links and directories carry no data (a size on them is skipped, as GNU tar does for links)
      let left = type === 'file' || type === 'other' ? size : 0;
      const data: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: async function* () {
          while (left > 0) {
            const c = await r.chunk(Math.min(left, 1 << 20));
            if (c.length === 0) throw damaged(`it ends inside ${JSON.stringify(name.slice(0, 200))}`);
            left -= c.length;
            yield c;
          }
        },
      };
      yield { entry: { name, type, flag, size: type === 'file' || type === 'other' ? size : 0, linkname }, data };
      if (type === 'file' || type === 'other') {
        await r.skip(left);
        await r.skipPadding(padding(size));
      } else {
        await r.skip(size);
        await r.skipPadding(padding(size));
      }
      left = 0;
    }
  } finally {
    await r.close();
  }
}
