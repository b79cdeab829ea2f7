// The WebSocket transport (the `ws` package): Kubernetes' channel protocol, where the first byte of each
// binary message names the channel.
//   exec/attach, subprotocol v4.channel.k8s.io (or v5.channel.k8s.io): 0 stdin, 1 stdout, 2 stderr,
//     3 error (the metav1.Status), 4 resize (JSON sizes). v5 adds message [255, N]: the client closed
//     channel N (stdin's EOF); v4 has no way to end stdin short of closing the socket.
//   port-forward, subprotocol v4.channel.k8s.io or portforward.k8s.io: the ports come from the query
//     (?port=80&port=8080); port i has data channel 2i and error channel 2i+1, and the server's first
//     message on each is the port as 2 bytes little-endian. One connection per port per session.
import type { IncomingMessage } from 'node:http';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { oneLine } from '../../errors.js';
import { checkPort, forwardOne } from './portforward.js';
import type { Channels } from './remotecommand.js';
import type { StreamRequest } from './server.js';

export const WS_REMOTECOMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export const WS_PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'portforward.k8s.io'] as const;
const STREAM_CLOSE = 255;
/** A message from the client is stdin, a resize or port-forward data: bounded. */
const MAX_MESSAGE = 4 << 20;
/** At most this many ports in one port-forward session. */
const MAX_WS_PORTS = 16;

const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, perMessageDeflate: false });

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

export interface WsHooks {
  refuse(status: number, reason: string, message: string): void;
  run(ch: Channels): Promise<void>;
  log(level: 'info' | 'debug', line: string): void;
}

function offeredProtocols(req: IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
}

export function websocketSession(req: IncomingMessage, socket: Duplex, head: Buffer, sr: StreamRequest, hooks: WsHooks): void {
  const offered = offeredProtocols(req);
  const supported: readonly string[] = sr.kind === 'portforward' ? WS_PORTFORWARD_PROTOCOLS : WS_REMOTECOMMAND_PROTOCOLS;
  const protocol = supported.find((p) => offered.includes(p));
  if (protocol === undefined) {
    hooks.refuse(400, 'Bad Request', `WebSocket subprotocol: client offers [${offered.join(' ')}], server supports [${supported.join(' ')}]`);
    return;
  }
  let ports: number[] = [];
  if (sr.kind === 'portforward') {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port');
    const checked = q.map((p) => checkPort(p, sr.target));
    const bad = checked.find((c) => typeof c === 'string');
    if (q.length === 0 || q.length > MAX_WS_PORTS || bad !== undefined) {
      hooks.refuse(400, 'Bad Request', typeof bad === 'string' ? bad : `give 1 to ${MAX_WS_PORTS} ports in the query: ?port=N&port=M`);
      return;
    }
    ports = checked as number[];
  }
  // the subprotocol was chosen above; ws writes it into the 101 answer
  const handle = wss.options.handleProtocols;
  wss.options.handleProtocols = () => protocol;
  try {
    wss.handleUpgrade(req, socket, head, (ws) => {
      hooks.log('debug', `streaming: ${sr.kind} session over WebSocket (${protocol})`);
      if (sr.kind === 'portforward') wsPortForward(ws, sr.target, ports);
      else void hooks.run(wsChannels(ws, protocol === 'v5.channel.k8s.io', sr.kind === 'exec' || sr.kind === 'attach' ? sr.flags : undefined)).finally(() => ws.close(1000));
    });
  } finally {
    wss.options.handleProtocols = handle;
  }
}

/**
 * A writable that sends each chunk as a message on channel id. Once the client has gone, what is still
 * written (a forwarder's last bytes, its error line, a status) is dropped: nobody is left to read it, and an
 * 'error' event nobody listens to would take the whole CRI server down (test: "a client that closes at once").
 */
function channelWriter(ws: WebSocket, id: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send(Buffer.concat([Buffer.from([id]), chunk]), { binary: true }, () => cb());
    },
  });
}

function wsChannels(ws: WebSocket, v5: boolean, flags: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean } | undefined): Channels {
  const f = flags ?? { stdin: false, stdout: true, stderr: true, tty: false };
  const stdin = f.stdin ? new PassThrough() : null;
  const resize = f.tty ? new PassThrough() : null;
  const aborts: Array<() => void> = [];
  let over = false;
  const error = channelWriter(ws, 3);
  error.once('finish', () => { over = true; });
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const b = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary || b.length === 0) return;
    if (v5 && b[0] === STREAM_CLOSE) {
      if (b.length === 2 && b[1] === 0) stdin?.end();
      if (b.length === 2 && b[1] === 4) resize?.end();
      return;
    }
    if (b[0] === 0 && stdin !== null && !stdin.writableEnded) stdin.write(b.subarray(1));
    else if (b[0] === 4 && resize !== null && !resize.writableEnded) resize.write(b.subarray(1));
  });
  ws.on('error', () => undefined);
  ws.once('close', () => {
    stdin?.end();
    resize?.end();
    if (!over) for (const a of aborts) a();
  });
  return {
    protocol: 'v4.channel.k8s.io',
    stdin,
    stdout: f.stdout ? channelWriter(ws, 1) : null,
    stderr: f.stderr && !f.tty ? channelWriter(ws, 2) : null,
    resize,
    error,
    onAbort: (fn) => aborts.push(fn),
  };
}

function wsPortForward(ws: WebSocket, target: Extract<StreamRequest, { kind: 'portforward' }>['target'], ports: number[]): void {
  const inputs: PassThrough[] = [];
  const aborts: Array<() => void> = [];
  ws.on('error', () => undefined);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const b = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary || b.length === 0 || b[0]! % 2 !== 0) return;
    const input = inputs[b[0]! / 2];
    if (input !== undefined && !input.writableEnded) input.write(b.subarray(1));
  });
  ws.once('close', () => {
    for (const i of inputs) i.end();
    for (const a of aborts) a();
  });
  let live = ports.length;
  const ended = (): void => { if (--live === 0) ws.close(1000); };
  ports.forEach((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    ws.send(Buffer.concat([Buffer.from([2 * i]), prefix]));
    ws.send(Buffer.concat([Buffer.from([2 * i + 1]), prefix]));
    const input = new PassThrough();
    inputs[i] = input;
    // what the client sends on channel 2i, read; what the pod answers, written to 2i
    const data = Duplex.from({ readable: input, writable: channelWriter(ws, 2 * i) }) as Duplex;
    const errOut = channelWriter(ws, 2 * i + 1);
    try {
      const f = forwardOne(target, port, data, errOut);
      aborts.push(f.abort);
      void f.done.then(ended);
    } catch (err) {
      errOut.end(Buffer.from(`error forwarding port ${port} to pod ${target.pod}: ${oneLine(err)}`));
      ended();
    }
  });
}
