// SPDY/3 header blocks: the name/value block (count, then length-prefixed names and values) and its
// compression (one zlib stream per direction per connection, primed with the SPDY dictionary, each
// block ending at a sync flush).
//
// Decoding keeps no zlib stream open across frames: after a sync flush a deflate stream is at a block
// boundary and only needs the last 32 KiB of what it has produced, so each block is inflated raw with
// that window as its dictionary (the SPDY dictionary before the first). Synchronous, documented zlib
// calls only; a peer's block is bounded (MAX_HEADER_BLOCK) before and after inflating.
// Encoding uses stored deflate blocks (no compression), each header block ending in an empty stored
// block as a sync flush does: a valid zlib stream that any SPDY peer reads.
import { constants, inflateRawSync } from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary.js';

export type SpdyHeaders = Record<string, string>;

/** The most a header block may inflate to, and the most name/value pairs in one. */
export const MAX_HEADER_BLOCK = 64 * 1024;
export const MAX_HEADER_PAIRS = 128;
const WINDOW = 32 * 1024;

export class HeaderError extends Error {}

export class HeaderDecoder {
  private window: Buffer = SPDY3_DICTIONARY;
  private started = false;

  decode(block: Buffer): SpdyHeaders {
    let raw = block;
    if (!this.started) {
      // the zlib header: CMF (deflate, window <= 32K), FLG (check bits; FDICT: a 4-byte dictionary id follows)
      if (block.length < 2 || (block[0]! & 0x0f) !== 8 || ((block[0]! << 8) | block[1]!) % 31 !== 0) {
        throw new HeaderError('header block is not a zlib stream');
      }
      raw = block.subarray((block[1]! & 0x20) !== 0 ? 6 : 2);
      this.started = true;
    }
    let out: Buffer;
    try {
      out = inflateRawSync(raw, { dictionary: this.window, finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_HEADER_BLOCK });
    } catch (err) {
      throw new HeaderError(`header block does not inflate: ${(err as Error).message}`);
    }
    const joined = Buffer.concat([this.window, out]);
    this.window = Buffer.from(joined.subarray(Math.max(0, joined.length - WINDOW)));
    return parseBlock(out);
  }
}

export class HeaderEncoder {
  private started = false;

  encode(h: SpdyHeaders): Buffer {
    const plain = serializeBlock(h);
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(Buffer.from([0x78, 0x01])); // zlib: deflate, 32K window, no dictionary id, check bits
      this.started = true;
    }
    // stored blocks, not final: each ends byte-aligned, so the block is also a sync-flush point
    let off = 0;
    do {
      const chunk = plain.subarray(off, off + 0xffff);
      const head = Buffer.alloc(5); // BFINAL 0, BTYPE 00 (stored), LEN, NLEN
      head.writeUInt16LE(chunk.length, 1);
      head.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(head, chunk);
      off += 0xffff;
    } while (off < plain.length);
    // and an empty stored block, as a sync flush ends: a reader that waits for more output (Go's
    // compress/flate only hands over a stored block's bytes at the next block or at an empty one) gets
    // them without reading past this frame, where its stream would fail with an unexpected EOF
    parts.push(Buffer.from([0, 0, 0, 0xff, 0xff]));
    return Buffer.concat(parts);
  }
}

/** Names are lowercase on the wire; several values of one name are joined by NUL. */
export function serializeBlock(h: SpdyHeaders): Buffer {
  const entries = Object.entries(h);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [k, v] of entries) {
    const name = Buffer.from(k.toLowerCase(), 'utf8');
    const value = Buffer.from(v, 'utf8');
    parts.push(u32(name.length), name, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

export function parseBlock(b: Buffer): SpdyHeaders {
  let off = 0;
  const take = (what: string): Buffer => {
    if (off + 4 > b.length) throw new HeaderError(`header block ends inside ${what}`);
    const len = b.readUInt32BE(off);
    off += 4;
    if (len > b.length - off) throw new HeaderError(`header block: ${what} of ${len} bytes runs past the block's end`);
    const v = b.subarray(off, off + len);
    off += len;
    return v;
  };
  if (b.length < 4) throw new HeaderError('header block shorter than its pair count');
  const n = b.readUInt32BE(0);
  off = 4;
  if (n > MAX_HEADER_PAIRS) throw new HeaderError(`header block claims ${n} pairs (at most ${MAX_HEADER_PAIRS})`);
  const out: SpdyHeaders = Object.create(null) as SpdyHeaders;
  for (let i = 0; i < n; i++) {
    const name = take('a name').toString('utf8');
    const value = take('a value').toString('utf8');
    if (name === '' || name !== name.toLowerCase()) throw new HeaderError(`header name "${name}" is empty or not lowercase`);
    if (name in out) throw new HeaderError(`header "${name}" appears twice`);
    out[name] = value;
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
