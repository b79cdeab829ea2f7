// The Kubernetes remote-command protocol (kubectl exec/attach through kubelet), independent of the
// transport (SPDY streams or WebSocket channels): which channels a session has, the window sizes on the
// resize channel, and the final status on the error channel.
//
// Versions: v4.channel.k8s.io writes a metav1.Status as JSON on the error channel (Success, or Failure with
// reason NonZeroExitCode and the exit code in details.causes); v3 and v2 write a plain error message and
// nothing on success; v2 has no resize channel. With a tty there is no stderr channel (the pty merges it).
import type { Readable, Writable } from 'node:stream';

export const REMOTECOMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io'] as const;
export type RemoteCommandProtocol = typeof REMOTECOMMAND_PROTOCOLS[number];

/** What the client asked for in the CRI request (ExecRequest / AttachRequest). */
export interface StreamFlags {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export type ChannelName = 'stdin' | 'stdout' | 'stderr' | 'error' | 'resize';

/** The channels a session expects for these flags and protocol (kubelet's rule: no stderr with a tty). */
export function expectedChannels(f: StreamFlags, protocol: RemoteCommandProtocol): ChannelName[] {
  const out: ChannelName[] = ['error'];
  if (f.stdin) out.push('stdin');
  if (f.stdout) out.push('stdout');
  if (f.stderr && !f.tty) out.push('stderr');
  if (f.tty && protocol !== 'v2.channel.k8s.io') out.push('resize');
  return out;
}

/** A session's channels, whatever carries them. */
export interface Channels {
  protocol: RemoteCommandProtocol;
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  resize: Readable | null;
  error: Writable;
  /** the client went away (the connection closed before the session ended) */
  onAbort(fn: () => void): void;
}

/** metav1.Status, as client-go's remotecommand reads it from the error channel. */
export interface Status {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: Array<{ reason: string; message: string }> };
}

export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/** The command ran and exited non-zero (kubectl exits with this code). */
export function exitCodeStatus(code: number, argv: readonly string[]): Status {
  return {
    metadata: {},
    status: 'Failure',
    // the words of containerd's (kubelet's streaming library): the command as Go's %v prints a []string
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export function failureStatus(message: string): Status {
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError' };
}

/** Ends the session's stdout and stderr (those the client asked for and that are still open). */
export function endOutput(ch: Channels): void {
  for (const w of [ch.stdout, ch.stderr]) if (w !== null && !w.destroyed && !w.writableEnded) w.end();
}

/** The final status on the error channel, which is then closed. */
export function writeStatus(ch: Channels, st: Status): Promise<void> {
  return new Promise((res) => {
    const done = (): void => res();
    if (ch.error.destroyed || ch.error.writableEnded) return done();
    ch.error.once('error', done);
    if (ch.protocol === 'v4.channel.k8s.io') ch.error.end(Buffer.from(JSON.stringify(st)), done);
    else if (st.status === 'Failure') ch.error.end(Buffer.from(st.message ?? 'error'), done);
    else ch.error.end(done);
  });
}

/** The most a resize message may hold before it is dropped (they are ~30 bytes). */
const MAX_RESIZE_TEXT = 4096;

/**
 * Window sizes from a resize channel: JSON objects {"Width":W,"Height":H} one after another (Go's
 * json.Encoder: each followed by a newline, though a decoder does not need it). Malformed objects are
 * skipped; an object longer than MAX_RESIZE_TEXT is dropped whole.
 */
export function onResize(stream: Readable, fn: (width: number, height: number) => void): void {
  let text = '';
  stream.on('error', () => undefined);
  stream.on('data', (b: Buffer) => {
    text += b.toString('utf8');
    for (;;) {
      const start = text.indexOf('{');
      if (start < 0) {
        text = '';
        return;
      }
      const end = objectEnd(text, start);
      if (end < 0) {
        text = text.slice(start);
        if (text.length > MAX_RESIZE_TEXT) text = '';
        return;
      }
      const obj = text.slice(start, end + 1);
      text = text.slice(end + 1);
      let v: unknown;
      try {
        v = JSON.parse(obj);
      } catch {
        continue;
      }
      const w = (v as { Width?: unknown }).Width;
      const h = (v as { Height?: unknown }).Height;
      if (typeof w === 'number' && typeof h === 'number' && Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0 && w <= 0xffff && h <= 0xffff) fn(w, h);
    }
  });
}

/** Index of the brace closing the object that opens at start, or -1 (not complete yet). */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}
