// portforward.k8s.io over SPDY: the client opens an error stream and a data stream per forwarded
// connection, both with headers `port` and `requestid`; once both are there the connection is made
// (portforward.ts). Streams that do not pair within STREAM_CREATION_TIMEOUT_MS are reset; the session
// lasts until the client closes it.
import { oneLine } from '../../errors.js';
import { checkPort, forwardOne, type PortForwardTarget } from './portforward.js';
import { STREAM_CREATION_TIMEOUT_MS } from './spdy-channels.js';
import { RST, type SpdyConnection, type SpdyStream } from './spdy.js';

/** Pairs waiting for their other half, per connection (a client cannot park unbounded halves). */
const MAX_PENDING = 128;

export function servePortForwardSpdy(conn: SpdyConnection, t: PortForwardTarget, timeoutMs = STREAM_CREATION_TIMEOUT_MS): void {
  const pending = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  const aborts = new Set<() => void>();
  conn.once('close', () => {
    for (const p of pending.values()) clearTimeout(p.timer);
    for (const a of aborts) a();
  });
  conn.on('stream', (s) => {
    const type = s.headers.streamtype;
    const id = s.headers.requestid;
    if ((type !== 'data' && type !== 'error') || id === undefined || id === '') {
      s.reset(RST.REFUSED_STREAM);
      return;
    }
    s.on('error', () => undefined);
    let p = pending.get(id);
    if (p === undefined) {
      if (pending.size >= MAX_PENDING) {
        s.reset(RST.REFUSED_STREAM);
        return;
      }
      const timer = setTimeout(() => {
        pending.delete(id);
        p?.data?.reset(RST.CANCEL);
        p?.error?.reset(RST.CANCEL);
      }, timeoutMs);
      p = { timer };
      pending.set(id, p);
    }
    if (p[type] !== undefined) {
      s.reset(RST.STREAM_IN_USE);
      return;
    }
    p[type] = s;
    s.reply();
    if (p.data === undefined || p.error === undefined) return;
    clearTimeout(p.timer);
    pending.delete(id);
    const { data, error } = p;
    error.resume(); // the client writes nothing there; its FIN is expected
    const port = checkPort(data.headers.port, t);
    if (typeof port === 'string') {
      error.end(Buffer.from(port));
      data.end();
      return;
    }
    try {
      const f = forwardOne(t, port, data, error);
      aborts.add(f.abort);
      void f.done.then(() => aborts.delete(f.abort));
    } catch (err) {
      error.end(Buffer.from(`error forwarding port ${port} to pod ${t.pod}: ${oneLine(err)}`));
      data.end();
    }
  });
}
