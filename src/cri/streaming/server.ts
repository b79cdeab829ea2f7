// The CRI streaming server: what kubelet proxies `kubectl exec`, `attach` and `port-forward` to. The
// Exec, Attach and PortForward RPCs store their (resolved) request under a single-use token and answer
// a URL on this server: http://ADDRESS:PORT/{exec,attach,portforward}/TOKEN. The client upgrades that
// request to SPDY/3.1 (Upgrade: SPDY/3.1, X-Stream-Protocol-Version) or to a WebSocket
// (Sec-WebSocket-Protocol v4.channel.k8s.io ...), and the session runs over it.
//
// HTTP answers: 404 for an unknown, used or expired token (or a path that is none of the three), 400
// for a request that is not an upgrade or asks for an unknown one, 403 when no protocol version is
// common (kubelet's answer). The token is used up only by a request the server goes on with.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { oneLine } from '../../errors.js';
import { runAttach, type AttachTarget } from './attach.js';
import { runExec, type ExecTarget } from './exec.js';
import { PORTFORWARD_PROTOCOL, type PortForwardTarget } from './portforward.js';
import { REMOTECOMMAND_PROTOCOLS, type Channels, type RemoteCommandProtocol, type StreamFlags } from './remotecommand.js';
import { spdyChannels } from './spdy-channels.js';
import { servePortForwardSpdy } from './spdy-portforward.js';
import { SpdyConnection } from './spdy.js';
import { TokenCache } from './tokens.js';
import { isWebSocketUpgrade, websocketSession } from './websocket.js';

export type StreamRequest =
  | { kind: 'exec'; target: ExecTarget; flags: StreamFlags }
  | { kind: 'attach'; target: AttachTarget; flags: StreamFlags }
  | { kind: 'portforward'; target: PortForwardTarget };

export interface StreamingServerOptions {
  /** default 127.0.0.1 */
  address?: string;
  /** default 0: any free port */
  port?: number;
  tokenTtlMs?: number;
  /** how long a client may take to open a session's streams (default 30 s) */
  streamCreationTimeoutMs?: number;
  log?: (level: 'info' | 'debug', line: string) => void;
}

export const DEFAULT_STREAM_ADDRESS = '127.0.0.1';

const KINDS = ['exec', 'attach', 'portforward'] as const;

const TOKEN_NOT_FOUND = 'not found: unknown, used or expired streaming token (they are single-use and live one minute; call the RPC again)';

export class StreamingServer {
  private readonly tokens: TokenCache<StreamRequest>;
  private readonly sockets = new Set<Duplex>();
  private readonly log: NonNullable<StreamingServerOptions['log']>;
  private readonly creationMs: number | undefined;
  private base = '';

  private constructor(private readonly http: Server, o: StreamingServerOptions) {
    this.tokens = new TokenCache<StreamRequest>(o.tokenTtlMs);
    this.log = o.log ?? (() => undefined);
    this.creationMs = o.streamCreationTimeoutMs;
  }

  static async start(o: StreamingServerOptions = {}): Promise<StreamingServer> {
    const http = createServer();
    const s = new StreamingServer(http, o);
    http.on('request', (req, res) => {
      const { status, message } = s.plainAnswer(req);
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end(`${message}\n`);
    });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => s.upgrade(req, socket, head));
    http.on('connection', (sock: Socket) => {
      s.sockets.add(sock);
      sock.once('close', () => s.sockets.delete(sock));
    });
    const address = o.address ?? DEFAULT_STREAM_ADDRESS;
    await new Promise<void>((res, rej) => {
      http.once('error', rej);
      http.listen(o.port ?? 0, address, () => { http.off('error', rej); res(); });
    });
    const a = http.address() as AddressInfo;
    const host = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '::1' : a.address;
    s.base = `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
    return s;
  }

  /** http://ADDRESS:PORT */
  get url(): string {
    return this.base;
  }

  /** A URL for one session of this request (valid once, for the token's lifetime). */
  request(r: StreamRequest): string {
    return `${this.base}/${r.kind}/${this.tokens.put(r)}`;
  }

  /** Stops listening and ends every session (their commands are killed, forwarded connections closed). */
  async close(): Promise<void> {
    await new Promise<void>((res) => {
      this.http.close(() => res());
      for (const s of this.sockets) s.destroy();
    });
  }

  private route(req: IncomingMessage): { kind: typeof KINDS[number]; token: string } | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})(?:\?.*)?$/.exec(req.url ?? '');
    return m === null ? undefined : { kind: m[1] as typeof KINDS[number], token: m[2]! };
  }

  /** The request of a routed URL, its token used up; undefined when the token is not (or no longer) live. */
  private take(r: { kind: typeof KINDS[number]; token: string }): StreamRequest | undefined {
    const v = this.tokens.take(r.token);
    return v !== undefined && v.kind === r.kind ? v : undefined; // a token is for one kind of session only
  }

  private plainAnswer(req: IncomingMessage): { status: number; message: string } {
    const r = this.route(req);
    if (r === undefined || !this.tokens.has(r.token)) return { status: 404, message: TOKEN_NOT_FOUND };
    return { status: 400, message: `Upgrade request required: connect with Upgrade: SPDY/3.1 and X-Stream-Protocol-Version, or as a WebSocket` };
  }

  private refuse(socket: Duplex, status: number, reason: string, message: string): void {
    const body = `${message}\n`;
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    this.log('debug', `streaming: refused ${status}: ${message}`);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const r = this.route(req);
    if (r === undefined || !this.tokens.has(r.token)) {
      this.refuse(socket, 404, 'Not Found', TOKEN_NOT_FOUND);
      return;
    }
    const ws = isWebSocketUpgrade(req);
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (!ws && upgrade !== 'spdy/3.1') {
      this.refuse(socket, 400, 'Bad Request', `unsupported upgrade "${req.headers.upgrade ?? ''}": use SPDY/3.1 or websocket`);
      return;
    }
    const offered = ws ? [] : headerValues(req, 'x-stream-protocol-version');
    const supported: readonly string[] = r.kind === 'portforward' ? [PORTFORWARD_PROTOCOL] : REMOTECOMMAND_PROTOCOLS;
    const protocol = offered.find((p) => supported.includes(p));
    if (!ws && protocol === undefined) {
      this.refuse(socket, 403, 'Forbidden', `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${supported.join(' ')}]`);
      return;
    }
    const sr = this.take(r);
    if (sr === undefined) {
      this.refuse(socket, 404, 'Not Found', TOKEN_NOT_FOUND);
      return;
    }
    if (ws) {
      websocketSession(req, socket, head, sr, {
        refuse: (status, reason, message) => this.refuse(socket, status, reason, message),
        run: (ch) => this.runSession(sr, ch),
        log: this.log,
      });
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    const conn = new SpdyConnection(socket as Socket, true);
    conn.on('protocolError', (err) => this.log('info', `streaming: ${r.kind}: SPDY protocol error from the client: ${err.message}`));
    this.log('debug', `streaming: ${r.kind} session over SPDY (${protocol})`);
    if (sr.kind === 'portforward') {
      servePortForwardSpdy(conn, sr.target, this.creationMs);
      conn.start(head);
      return;
    }
    const channels = spdyChannels(conn, protocol as RemoteCommandProtocol, sr.flags, this.creationMs);
    conn.start(head);
    void channels.then(
      (ch) => this.runSession(sr, ch).finally(() => conn.close()),
      (err: unknown) => {
        this.log('info', `streaming: ${r.kind}: ${oneLine(err)}`);
        conn.close();
      },
    );
  }

  /** @internal runs an exec or attach session over its channels */
  async runSession(sr: StreamRequest, ch: Channels): Promise<void> {
    try {
      if (sr.kind === 'exec') await runExec(ch, sr.target);
      else if (sr.kind === 'attach') await runAttach(ch, sr.target, sr.flags);
    } catch (err) {
      this.log('info', `streaming: ${sr.kind}: ${oneLine(err)}`);
    }
  }
}

/** Every value of a request header, repeated or comma-joined. */
export function headerValues(req: IncomingMessage, name: string): string[] {
  const v = req.headersDistinct[name] ?? [];
  return v.flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
}
