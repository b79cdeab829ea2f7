// Clients of the CRI streaming server for the tests, as kubectl/kubelet's client-go speaks to it:
//   SPDY: an HTTP upgrade (Upgrade: SPDY/3.1, X-Stream-Protocol-Version), then our SPDY framing on the
//     client side, with header blocks compressed by real zlib (deflate with the SPDY dictionary, a sync
//     flush per block: what Go's compress/zlib writes), streams opened error first, as client-go does;
//   WebSocket: the `ws` package with the channel subprotocols.
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { constants, createDeflate, type Deflate } from 'node:zlib';
import WebSocket from 'ws';
import { SPDY3_DICTIONARY } from '../../src/cri/streaming/spdy-dictionary.js';
import { serializeBlock, type SpdyHeaders } from '../../src/cri/streaming/spdy-headers.js';
import { SpdyConnection, type SpdyStream } from '../../src/cri/streaming/spdy.js';

/** A header encoder like Go's: one zlib stream with the SPDY dictionary, flushed after each block. */
export class ZlibHeaderEncoder {
  private readonly z: Deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
  private out: Buffer[] = [];

  constructor() {
    this.z.on('data', (b: Buffer) => this.out.push(b));
  }

  async encode(h: SpdyHeaders): Promise<Buffer> {
    this.z.write(serializeBlock(h));
    await new Promise<void>((res) => this.z.flush(constants.Z_SYNC_FLUSH, () => res()));
    await new Promise((res) => setImmediate(res));
    const b = Buffer.concat(this.out);
    this.out = [];
    return b;
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`HTTP ${status}: ${body}`);
  }
}

/** The raw upgrade: resolves with the socket (and the negotiated version), rejects with the HTTP answer. */
export function upgrade(url: string, headers: Record<string, string | string[]>): Promise<{ socket: Socket; head: Buffer; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((res, rej) => {
    const req = request(url, { headers: { Connection: 'Upgrade', ...headers } });
    req.on('upgrade', (r, socket, head) => res({ socket, head, headers: r.headers }));
    req.on('response', (r) => {
      let body = '';
      r.on('data', (b: Buffer) => { body += b.toString(); });
      r.on('end', () => rej(new UpgradeRefused(r.statusCode ?? 0, body.trim())));
    });
    req.on('error', rej);
    req.end();
  });
}

export async function spdyConnect(url: string, protocols: string[]): Promise<{ conn: SpdyConnection; protocol: string; open: (h: SpdyHeaders) => Promise<SpdyStream> }> {
  const u = await upgrade(url, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols });
  const conn = new SpdyConnection(u.socket, false).start(u.head);
  const enc = new ZlibHeaderEncoder();
  // streams are opened one at a time (the header blocks must go out in the order they were compressed)
  let chain: Promise<unknown> = Promise.resolve();
  const open = (h: SpdyHeaders): Promise<SpdyStream> => {
    const p = chain.then(async () => conn.openStreamEncoded(h, await enc.encode(h)));
    chain = p.catch(() => undefined);
    return p;
  };
  return { conn, protocol: String(u.headers['x-stream-protocol-version'] ?? ''), open };
}

export function collect(s: NodeJS.ReadableStream | null | undefined): Promise<string> {
  return new Promise((res) => {
    if (s === null || s === undefined) return res('');
    let text = '';
    s.on('data', (b: Buffer) => { text += b.toString('utf8'); });
    s.on('end', () => res(text));
    s.on('close', () => res(text));
    s.on('error', () => res(text));
  });
}

const SESSION_LIMIT_MS = 20_000;

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** what came on the error stream (a metav1.Status as JSON in v4) */
  error: string;
}

export interface SpdyExecOptions {
  stdin?: string;
  /** keep stdin open until this resolves, then write it (for tty sessions) */
  stdinLater?: () => Promise<string>;
  tty?: boolean;
  stderr?: boolean;
  resize?: Array<{ Width: number; Height: number }>;
  protocols?: string[];
}

/** An exec/attach session over SPDY, as client-go's v4 streams it. */
export async function spdyExec(url: string, o: SpdyExecOptions = {}): Promise<ExecResult & { protocol: string }> {
  const { conn, protocol, open } = await spdyConnect(url, o.protocols ?? ['v4.channel.k8s.io']);
  const error = await open({ streamtype: 'error' });
  const errorText = collect(error);
  error.end();
  const hasStdin = o.stdin !== undefined || o.stdinLater !== undefined;
  const stdin = hasStdin ? await open({ streamtype: 'stdin' }) : undefined;
  const stdout = await open({ streamtype: 'stdout' });
  const stdoutText = collect(stdout);
  stdout.end();
  let stderrText = Promise.resolve('');
  if (!o.tty && o.stderr !== false) {
    const stderr = await open({ streamtype: 'stderr' });
    stderrText = collect(stderr);
    stderr.end();
  }
  if (o.tty && protocol !== 'v2.channel.k8s.io') {
    const resize = await open({ streamtype: 'resize' });
    for (const r of o.resize ?? []) resize.write(`${JSON.stringify(r)}\n`);
  }
  if (stdin !== undefined) {
    if (o.stdin !== undefined) stdin.end(o.stdin);
    else void o.stdinLater!().then((text) => stdin.end(text));
  }
  // a session that never ends fails the test instead of hanging the file
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_res, rej) => { timer = setTimeout(() => { conn.destroy(); rej(new Error(`the session did not end within ${SESSION_LIMIT_MS} ms`)); }, SESSION_LIMIT_MS); });
  try {
    const [out, err, status] = await Promise.race([Promise.all([stdoutText, stderrText, errorText]), limit]);
    return { stdout: out, stderr: err, error: status, protocol };
  } finally {
    clearTimeout(timer);
    conn.destroy();
  }
}

/** A port-forward session over SPDY: one connection per call of forward(). */
export async function spdyPortForward(url: string): Promise<{ forward: (port: number, send: string) => Promise<{ data: string; error: string }>; close: () => void }> {
  const { conn, open } = await spdyConnect(url, ['portforward.k8s.io']);
  let rid = 0;
  return {
    forward: async (port, send) => {
      const id = String(rid++);
      const error = await open({ streamtype: 'error', port: String(port), requestid: id });
      const errorText = collect(error);
      error.end();
      const data = await open({ streamtype: 'data', port: String(port), requestid: id });
      const dataText = collect(data);
      data.end(send);
      const [d, e] = await Promise.all([dataText, errorText]);
      return { data: d, error: e };
    },
    close: () => conn.close(),
  };
}

/** A WebSocket session with the channel protocol: what came per channel. */
export async function wsExec(url: string, o: { protocol: string; stdin?: string; closeStdin?: boolean }): Promise<{ channels: Record<number, string>; protocol: string }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), [o.protocol]);
  const channels: Record<number, string> = {};
  ws.on('message', (data: Buffer) => {
    const b = Buffer.from(data);
    channels[b[0]!] = (channels[b[0]!] ?? '') + b.subarray(1).toString('utf8');
  });
  await new Promise<void>((res, rej) => { ws.once('open', () => res()); ws.once('error', rej); });
  if (o.stdin !== undefined) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(o.stdin)]));
  if (o.closeStdin) ws.send(Buffer.from([255, 0]));
  await new Promise<void>((res) => ws.once('close', () => res()));
  return { channels, protocol: ws.protocol };
}

/** Port-forward over WebSocket: the ports in the query, one connection each; per channel what came. */
export async function wsPortForward(url: string, ports: number[], send: string[], done: (ch: Record<number, Buffer>) => boolean): Promise<Record<number, Buffer>> {
  const q = ports.map((p) => `port=${p}`).join('&');
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?${q}`, ['v4.channel.k8s.io']);
  const channels: Record<number, Buffer> = {};
  ws.on('message', (data: Buffer) => {
    const b = Buffer.from(data);
    channels[b[0]!] = Buffer.concat([channels[b[0]!] ?? Buffer.alloc(0), b.subarray(1)]);
    if (done(channels)) ws.close();
  });
  await new Promise<void>((res, rej) => { ws.once('open', () => res()); ws.once('error', rej); });
  send.forEach((s, i) => ws.send(Buffer.concat([Buffer.from([2 * i]), Buffer.from(s)])));
  await new Promise<void>((res) => ws.once('close', () => res()));
  return channels;
}

/** A session kept open by the test (attach): what came so far, waits on it, stdin written step by step. */
export interface LiveSession {
  out(): string;
  err(): string;
  /** resolves once stdout matches (fails after 10 s with what came) */
  waitOut(re: RegExp): Promise<void>;
  write(text: string): void;
  endStdin(): void;
  resize(width: number, height: number): void;
  /** the session's end: everything each stream carried, the error stream's text */
  result: Promise<ExecResult>;
  close(): void;
}

function waiter(get: () => string): (re: RegExp) => Promise<void> {
  return async (re) => {
    const end = Date.now() + 10_000;
    while (!re.test(get())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re} on stdout; it has ${JSON.stringify(get().slice(-300))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}

function bounded(p: Promise<ExecResult>, stop: () => void): Promise<ExecResult> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_res, rej) => { timer = setTimeout(() => { stop(); rej(new Error(`the session did not end within ${SESSION_LIMIT_MS} ms`)); }, SESSION_LIMIT_MS); });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** An attach (or exec) session over SPDY that the test drives: streams opened as client-go opens them. */
export async function spdyLive(url: string, o: { stdin?: boolean; tty?: boolean; stderr?: boolean } = {}): Promise<LiveSession> {
  const { conn, protocol, open } = await spdyConnect(url, ['v4.channel.k8s.io']);
  const error = await open({ streamtype: 'error' });
  const errorText = collect(error);
  error.end();
  const stdin = o.stdin ? await open({ streamtype: 'stdin' }) : undefined;
  const stdout = await open({ streamtype: 'stdout' });
  let out = '';
  stdout.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  const stdoutDone = collect(stdout);
  stdout.end();
  let err = '';
  let stderrDone = Promise.resolve('');
  if (!o.tty && o.stderr !== false) {
    const stderr = await open({ streamtype: 'stderr' });
    stderr.on('data', (b: Buffer) => { err += b.toString('utf8'); });
    stderrDone = collect(stderr);
    stderr.end();
  }
  const resize = o.tty && protocol !== 'v2.channel.k8s.io' ? await open({ streamtype: 'resize' }) : undefined;
  const result = bounded(Promise.all([stdoutDone, stderrDone, errorText]).then(([a, b, c]) => ({ stdout: a, stderr: b, error: c })), () => conn.destroy());
  void result.catch(() => undefined).finally(() => conn.destroy());
  return {
    out: () => out,
    err: () => err,
    waitOut: waiter(() => out),
    write: (text) => { stdin?.write(text); },
    endStdin: () => { stdin?.end(); },
    resize: (w, h) => { resize?.write(`${JSON.stringify({ Width: w, Height: h })}\n`); },
    result,
    close: () => conn.destroy(),
  };
}

/** The same over a WebSocket (v4 channels: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize). */
export async function wsLive(url: string, protocol = 'v4.channel.k8s.io'): Promise<LiveSession> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), [protocol]);
  const ch: Record<number, string> = {};
  ws.on('message', (data: Buffer) => {
    const b = Buffer.from(data);
    ch[b[0]!] = (ch[b[0]!] ?? '') + b.subarray(1).toString('utf8');
  });
  await new Promise<void>((res, rej) => { ws.once('open', () => res()); ws.once('error', rej); });
  const closed = new Promise<ExecResult>((res) => ws.once('close', () => res({ stdout: ch[1] ?? '', stderr: ch[2] ?? '', error: ch[3] ?? '' })));
  const send = (c: number, text: string | Buffer): void => { if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([c]), Buffer.from(text)])); };
  return {
    out: () => ch[1] ?? '',
    err: () => ch[2] ?? '',
    waitOut: waiter(() => ch[1] ?? ''),
    write: (text) => send(0, text),
    // v5 only: the close message for stdin
    endStdin: () => { if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.from([255, 0])); },
    resize: (w, h) => send(4, JSON.stringify({ Width: w, Height: h })),
    result: bounded(closed, () => ws.terminate()),
    close: () => ws.terminate(),
  };
}
