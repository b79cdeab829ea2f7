// Remote-command channels over SPDY: the client opens one stream per channel, named by its `streamtype`
// header (error, stdin, stdout, stderr, resize); the server accepts each (SYN_REPLY) and starts the
// session once every expected one is there, as kubelet does. A stream of a type not expected, or twice,
// is refused (RST_STREAM); missing streams after STREAM_CREATION_TIMEOUT_MS end the connection.
import { expectedChannels, type ChannelName, type Channels, type RemoteCommandProtocol, type StreamFlags } from './remotecommand.js';
import { RST, type SpdyConnection, type SpdyStream } from './spdy.js';

export const STREAM_CREATION_TIMEOUT_MS = 30_000;

export function spdyChannels(conn: SpdyConnection, protocol: RemoteCommandProtocol, flags: StreamFlags, timeoutMs = STREAM_CREATION_TIMEOUT_MS): Promise<Channels> {
  const want = new Set<ChannelName>(expectedChannels(flags, protocol));
  const got = new Map<ChannelName, SpdyStream>();
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      const missing = [...want].filter((w) => !got.has(w));
      rej(new Error(`the client opened no ${missing.join(', ')} stream within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    conn.once('close', () => {
      clearTimeout(timer);
      rej(new Error('the connection closed before the session began'));
    });
    conn.on('stream', (s) => {
      const type = (s.headers.streamtype ?? '') as ChannelName;
      if (!want.has(type) || got.has(type)) {
        s.reset(RST.REFUSED_STREAM);
        return;
      }
      s.on('error', () => undefined);
      s.reply();
      got.set(type, s);
      // stdout, stderr and error are never read (a client's FIN there is expected); stdin and resize never
      // written: they end with the connection, as kubelet's
      if (type !== 'stdin' && type !== 'resize') s.resume();
      if (got.size !== want.size) return;
      clearTimeout(timer);
      const aborts: Array<() => void> = [];
      let over = false;
      conn.once('close', () => { if (!over) for (const f of aborts) f(); });
      res({
        protocol,
        stdin: got.get('stdin') ?? null,
        stdout: got.get('stdout') ?? null,
        stderr: got.get('stderr') ?? null,
        resize: got.get('resize') ?? null,
        error: got.get('error')!,
        onAbort: (f) => aborts.push(f),
      });
      // the session's end is when the error stream is closed by us (writeStatus)
      got.get('error')!.once('finish', () => { over = true; });
    });
  });
}
