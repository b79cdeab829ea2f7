// SPDY/3.1 framing over an upgraded HTTP connection, as Kubernetes' streaming uses it (moby/spdystream in
// kubectl, the API server and kubelet): the client opens streams with SYN_STREAM, each naming its role in
// its headers (streamType, port, requestID), the server answers SYN_REPLY; DATA frames carry bytes, FIN
// half-closes, RST_STREAM aborts, PING is echoed, GOAWAY ends the session.
//
// Why not the npm package spdy-transport: it is an HTTP-over-SPDY transport, and its parser refuses every
// SYN_STREAM without the `:method` and `:path` headers of an HTTP request, which Kubernetes' streams never
// carry. The frames needed here are few (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY,
// HEADERS, WINDOW_UPDATE, DATA); header compression is in spdy-headers.ts.
//
// Flow control: none, as in moby/spdystream (the SPDY of kubectl, the API server, kubelet and containerd): we
// send no WINDOW_UPDATE and ignore the peer's. Sending them is not harmless: spdystream in containerd 1.6
// dropped the connection mid-session in 2 of 5 runs when its peer acknowledged data (measured with this
// module as the client: test/cri/streaming.test.ts). TCP's own backpressure bounds what is in flight.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { HeaderDecoder, HeaderEncoder, HeaderError, type SpdyHeaders } from './spdy-headers.js';

const VERSION = 3;
export const FRAME = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
const FLAG_FIN = 0x01;
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, CANCEL: 5, INTERNAL_ERROR: 6, STREAM_IN_USE: 8, STREAM_ALREADY_CLOSED: 9, FRAME_TOO_LARGE: 11 } as const;

/** Control frames carry headers or small fixed fields: bigger ones are refused. */
export const MAX_CONTROL_FRAME = 64 * 1024;
/** Data frames: the 24-bit length field allows 16 MiB; we send at most this much per frame. */
const SEND_CHUNK = 32 * 1024;
/** Open streams per connection (exec uses up to 5; port-forward 2 per forwarded connection). */
export const MAX_STREAMS = 256;

export class SpdyStream extends Duplex {
  /** the peer's FIN arrived (or we reset): nothing more to read */
  remoteClosed = false;
  private replied = false;
  private localClosed = false;

  constructor(readonly conn: SpdyConnection, readonly id: number, readonly headers: SpdyHeaders) {
    super({ allowHalfOpen: true });
  }

  /** SYN_REPLY (the server's accept); with fin the stream is closed for our writes at once. */
  reply(headers: SpdyHeaders = {}, fin = false): void {
    if (this.replied) return;
    this.replied = true;
    this.conn.sendControl(FRAME.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32(this.id), this.conn.encodeHeaders(headers)]));
    if (fin) this.localClosed = true;
  }

  /** RST_STREAM: abort both directions. */
  reset(code: number = RST.CANCEL): void {
    if (!this.conn.hasStream(this.id)) return;
    this.conn.sendControl(FRAME.RST_STREAM, 0, Buffer.concat([u32(this.id), u32(code)]));
    this.localClosed = this.remoteClosed = true;
    this.conn.forget(this.id);
    this.destroy();
  }

  override _read(): void {
    this.conn.resumeReading();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.localClosed || this.conn.closed) return cb(new Error(`SPDY stream ${this.id} is closed`));
    for (let off = 0; off < chunk.length; off += SEND_CHUNK) {
      const part = chunk.subarray(off, off + SEND_CHUNK);
      const last = off + SEND_CHUNK >= chunk.length;
      this.conn.sendData(this.id, 0, part, last ? cb : undefined);
    }
    if (chunk.length === 0) cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.localClosed && !this.conn.closed) this.conn.sendData(this.id, FLAG_FIN, Buffer.alloc(0));
    this.localClosed = true;
    this.maybeDone();
    cb();
  }

  /** @internal data from the peer */
  onData(b: Buffer, fin: boolean): boolean {
    if (this.remoteClosed) return false;
    let more = true;
    if (b.length > 0) more = this.push(b);
    if (fin) this.onFin();
    return more;
  }

  /** @internal */
  onFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    this.maybeDone();
  }

  /** @internal the peer reset it: both directions aborted */
  onReset(why: string): void {
    this.remoteClosed = this.localClosed = true;
    this.conn.forget(this.id);
    this.destroy(new Error(why));
  }

  /** @internal the connection is gone: what was received stays readable and then ends; writes fail */
  onConnectionGone(): void {
    this.localClosed = true;
    if (!this.remoteClosed) {
      this.remoteClosed = true;
      this.push(null);
    }
    this.conn.forget(this.id);
    if (!this.replied && this.listenerCount('error') > 0) this.emit('error', new Error(`stream ${this.id}: the connection closed before the reply`));
  }

  /** @internal the client's side: the server's SYN_REPLY */
  onReply(fin: boolean): void {
    this.replied = true;
    this.emit('reply');
    if (fin) this.onFin();
  }

  private maybeDone(): void {
    if (this.remoteClosed && this.localClosed) this.conn.forget(this.id);
  }
}

export interface SpdyConnectionEvents {
  /** a stream the peer opened; the listener answers stream.reply() (or reset) */
  stream: [SpdyStream];
  /** the connection is over (socket closed, GOAWAY, protocol error) */
  close: [];
  /** a protocol error from the peer (the connection is closed after it) */
  protocolError: [Error];
}

/** One SPDY/3.1 session over a socket; server side answers streams, client side opens them (tests). */
export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly decoder = new HeaderDecoder();
  private readonly encoder = new HeaderEncoder();
  private nextId: number;
  private nextPing: number;
  private lastPeerId = 0;
  private paused = false;
  /** the peer said GOAWAY: its streams go on, no new ones */
  private goneAway = false;
  /** why the connection ended */
  why = '';

  constructor(private readonly socket: Socket, readonly isServer: boolean) {
    super();
    this.nextId = isServer ? 2 : 1;
    this.nextPing = isServer ? 2 : 1;
  }

  /** Starts reading frames (after the 'stream' listener is in place); head: bytes read past the upgrade. */
  start(head?: Buffer): this {
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onBytes(b));
    socket.on('close', () => this.shutdown('the connection closed'));
    socket.on('error', () => this.shutdown('the connection failed'));
    socket.on('end', () => socket.end());
    if (head !== undefined && head.length > 0) this.onBytes(head);
    return this;
  }

  hasStream(id: number): boolean {
    return this.streams.has(id);
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  /** @internal */
  encodeHeaders(h: SpdyHeaders): Buffer {
    return this.encoder.encode(h);
  }

  /** The client's side: opens a stream and resolves once the server has replied. */
  openStream(headers: SpdyHeaders, fin = false): Promise<SpdyStream> {
    return this.openStreamEncoded(headers, this.encoder.encode(headers), fin);
  }

  /** openStream with the header block compressed by the caller (its own zlib stream, in order). */
  openStreamEncoded(headers: SpdyHeaders, block: Buffer, fin = false): Promise<SpdyStream> {
    const id = this.nextId;
    this.nextId += 2;
    const s = new SpdyStream(this, id, headers);
    this.streams.set(id, s);
    const body = Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block]);
    this.sendControl(FRAME.SYN_STREAM, fin ? FLAG_FIN : 0, body);
    return new Promise((res, rej) => {
      s.once('reply', () => res(s));
      s.once('error', rej);
      s.once('close', () => rej(new Error(`stream ${id} closed before the reply`)));
    });
  }

  ping(): void {
    const id = this.nextPing;
    this.nextPing += 2;
    this.sendControl(FRAME.PING, 0, u32(id));
  }

  /** GOAWAY, then the socket ends once written. */
  close(): void {
    if (this.closed) return;
    this.sendControl(FRAME.GOAWAY, 0, Buffer.concat([u32(this.lastPeerId), u32(0)]));
    this.socket.end();
    this.shutdown('the connection was closed');
  }

  destroy(): void {
    this.socket.destroy();
    this.shutdown('the connection was destroyed');
  }

  /** @internal */
  sendControl(type: number, flags: number, body: Buffer): void {
    if (this.closed) return;
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | VERSION, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE(body.length, 4);
    head[4] = flags;
    this.socket.write(Buffer.concat([head, body]));
  }

  /** @internal */
  sendData(id: number, flags: number, data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.closed) {
      cb?.(new Error('the connection is closed'));
      return;
    }
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id & 0x7fffffff, 0);
    head.writeUInt32BE(data.length, 4);
    head[4] = flags;
    this.socket.write(Buffer.concat([head, data]), cb === undefined ? undefined : (err) => cb(err ?? null));
  }

  /** @internal a stream's reader wants more */
  resumeReading(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private shutdown(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.why = why;
    for (const s of [...this.streams.values()]) s.onConnectionGone();
    this.streams.clear();
    this.emit('close');
  }

  private fail(why: string): void {
    this.emit('protocolError', new Error(why));
    if (!this.closed) this.sendControl(FRAME.GOAWAY, 0, Buffer.concat([u32(this.lastPeerId), u32(1)]));
    this.socket.end();
    this.socket.destroySoon?.();
    this.shutdown(why);
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8 && !this.closed) {
      const b = this.buf;
      const control = (b[0]! & 0x80) !== 0;
      const flags = b[4]!;
      const len = b.readUIntBE(5, 3);
      if (control && len > MAX_CONTROL_FRAME) return this.fail(`control frame of ${len} bytes (at most ${MAX_CONTROL_FRAME})`);
      if (b.length < 8 + len) return;
      const body = b.subarray(8, 8 + len);
      this.buf = b.subarray(8 + len);
      try {
        if (control) {
          const version = b.readUInt16BE(0) & 0x7fff;
          if (version !== VERSION) return this.fail(`SPDY version ${version} (this server speaks SPDY/3.1)`);
          this.onControl(b.readUInt16BE(2), flags, body);
        } else {
          this.onDataFrame(b.readUInt32BE(0) & 0x7fffffff, flags, body);
        }
      } catch (err) {
        return this.fail(err instanceof HeaderError ? err.message : `bad frame: ${(err as Error).message}`);
      }
    }
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    else this.buf = Buffer.from(this.buf); // do not pin the socket's big chunk
  }

  private onControl(type: number, flags: number, body: Buffer): void {
    const need = (n: number): void => { if (body.length < n) throw new Error(`frame type ${type} of ${body.length} bytes (want ${n})`); };
    switch (type) {
      case FRAME.SYN_STREAM: {
        need(10);
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const headers = this.decoder.decode(body.subarray(10));
        const ours = this.isServer ? id % 2 === 0 : id % 2 === 1;
        if (id === 0 || ours || id <= this.lastPeerId) throw new Error(`SYN_STREAM with stream id ${id} (want a new ${this.isServer ? 'odd' : 'even'} id)`);
        this.lastPeerId = id;
        if (this.streams.size >= MAX_STREAMS || this.goneAway) {
          this.sendControl(FRAME.RST_STREAM, 0, Buffer.concat([u32(id), u32(RST.REFUSED_STREAM)]));
          return;
        }
        const s = new SpdyStream(this, id, headers);
        this.streams.set(id, s);
        if ((flags & FLAG_FIN) !== 0) s.onFin();
        if (this.listenerCount('stream') === 0) s.reset(RST.REFUSED_STREAM);
        else this.emit('stream', s);
        return;
      }
      case FRAME.SYN_REPLY: {
        need(4);
        const id = body.readUInt32BE(0) & 0x7fffffff;
        this.decoder.decode(body.subarray(4));
        this.streams.get(id)?.onReply((flags & FLAG_FIN) !== 0);
        return;
      }
      case FRAME.HEADERS: {
        need(4);
        const id = body.readUInt32BE(0) & 0x7fffffff;
        this.decoder.decode(body.subarray(4)); // keep the zlib window in step; nothing here uses them
        if ((flags & FLAG_FIN) !== 0) this.streams.get(id)?.onFin();
        return;
      }
      case FRAME.RST_STREAM: {
        need(8);
        const id = body.readUInt32BE(0) & 0x7fffffff;
        this.streams.get(id)?.onReset(`the peer reset stream ${id} (status ${body.readUInt32BE(4)})`);
        return;
      }
      case FRAME.PING: {
        need(4);
        const id = body.readUInt32BE(0);
        // the peer's pings (odd ids from a client, even from a server) are echoed; ours come back as answers
        if (id % 2 === (this.isServer ? 1 : 0)) this.sendControl(FRAME.PING, 0, body.subarray(0, 4));
        return;
      }
      case FRAME.GOAWAY:
        // no new streams from here on; the open ones finish, and the peer closes the connection after them
        this.goneAway = true;
        return;
      case FRAME.SETTINGS:
      case FRAME.WINDOW_UPDATE:
        return;
      default:
        return; // SPDY: unknown control frames are ignored
    }
  }

  private onDataFrame(id: number, flags: number, body: Buffer): void {
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastPeerId && (this.isServer ? id % 2 === 1 : id % 2 === 0)) throw new Error(`DATA for stream ${id}, never opened`);
      return; // late data for a stream we have closed or reset
    }
    const more = s.onData(Buffer.from(body), (flags & FLAG_FIN) !== 0);
    if (!more && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
