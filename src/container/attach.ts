// Attaching to a container's main process: the client side of its watcher's attach socket
// (native/helper/shim_attach.c; docs/DESIGN.md "attach socket"). Only a container with stdin or a tty has
// one. Frames both ways: u8 type, u32 length (big-endian), payload. The CRI's Attach and `podns attach`
// both go through attachContainer; stdinEndsWorkloadStdin is the one rule of when an attach's end of input
// ends the workload's.
import { closeSync, constants as fsc, fstatSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, PodnsError } from '../errors.js';
import type { ContainerConfig } from '../pod/types.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';

/** The frame types (shim.h ATTACH_*). */
export const ATTACH_FRAME = { hello: 0, stdin: 1, stdinEof: 2, resize: 3, replay: 4, stdout: 17, stderr: 18, exit: 19 } as const;
/** The most a frame may carry (the watcher drops a client that sends more: ATTACH_MAX_FRAME). */
export const ATTACH_MAX_FRAME = 65536;
const HEADER = 5;
const STDIN_CHUNK = 32768;
/** open(2)'s O_PATH (010000000 in every Linux ABI podns builds for); Node's fs.constants lacks it */
const O_PATH = 0o10000000;

/**
 * containerd's rule (kubectl attach, run -i): with stdinOnce, the end of an attach session's input (or the
 * session's end) ends the workload's stdin, unless the session has a tty (then only the session ends);
 * without stdinOnce the workload's stdin stays open for the next session.
 */
export function stdinEndsWorkloadStdin(c: Pick<ContainerConfig, 'stdin' | 'stdinOnce'>, sessionTty: boolean): boolean {
  return c.stdin === true && c.stdinOnce === true && !sessionTty;
}

/** Has this container an attach socket (stdin or a tty)? */
export function attachable(c: Pick<ContainerConfig, 'stdin' | 'tty'>): boolean {
  return c.stdin === true || c.tty === true;
}

export interface AttachSession {
  /** bytes for the workload's stdin (the watcher drops them when the container has none); false: wait for onDrain */
  write(data: Buffer): boolean;
  onDrain(fn: () => void): void;
  /** ends the workload's stdin (a pipe is closed; on a pty the EOF character is typed) */
  closeStdin(): void;
  /** the pty's window size (ignored without a tty) */
  resize(columns: number, rows: number): void;
  /** the workload's output as it is read, from now on; pause()/resume() hold it back (the watcher drops a client that falls 1 MiB behind) */
  onOutput(fn: (stream: 'stdout' | 'stderr', data: Buffer) => void): void;
  pause(): void;
  resume(): void;
  /** the run's exit code once it ends, or null when the connection ended without one (closed, dropped) */
  readonly ended: Promise<number | null>;
  /** ends the session (what was written is sent first) */
  close(): void;
}

/**
 * Connects to the container's attach socket. The socket is opened by name without following a symlink
 * (O_PATH|O_NOFOLLOW), checked to be a socket, and connected through /proc/self/fd/N: that very inode,
 * whatever is planted at the name meanwhile, and no sun_path length limit on the state root.
 */
export async function attachContainer(o: RootOption & {
  pod: string; container: string;
  /** with a tty: the run's output before this connection (its last 4 KiB) first (podns run -it: the shell's first prompt) */
  replay?: boolean;
}): Promise<AttachSession> {
  const root = resolveRoot(o.root);
  const path = paths.containerAttach(root, validateName('pod', o.pod), validateName('container', o.container));
  let fd: number;
  try {
    fd = openSync(path, O_PATH | fsc.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new PodnsError('ENOATTACH', `container "${o.container}" of pod "${o.pod}" cannot be attached to: it has no attach socket (it runs without stdin and tty, or has exited)`);
    throw err;
  }
  let sock: Socket;
  try {
    if (!fstatSync(fd).isSocket()) throw new PodnsError('ENOTSOCK', `${path} is not a socket (a symlink or file there is never followed); remove it and run the container again`);
    const once = (): Promise<Socket> => new Promise<Socket>((res, rej) => {
      const s = connect({ path: `/proc/self/fd/${fd}` });
      s.once('connect', () => { s.off('error', rej); res(s); });
      s.once('error', rej);
    });
    // EAGAIN: its backlog is full for the moment (many clients at once); the watcher accepts them in turn
    for (let tries = 0; ; tries++) {
      try {
        sock = await once();
        break;
      } catch (err) {
        if (!isErrno(err, 'EAGAIN') || tries === 50) throw err;
        await sleep(10);
      }
    }
  } catch (err) {
    if (isErrno(err, 'ECONNREFUSED')) throw new PodnsError('ENOATTACH', `container "${o.container}" of pod "${o.pod}" cannot be attached to: its watcher is gone (the container has exited)`);
    throw err;
  } finally {
    closeSync(fd);
  }
  // the first frame: nothing comes from the watcher before it (HELLO, or REPLAY to get the output so far)
  sock.write(frame(o.replay === true ? ATTACH_FRAME.replay : ATTACH_FRAME.hello));
  return session(sock);
}

function frame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(HEADER);
  h[0] = type;
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

function session(sock: Socket): AttachSession {
  // output before onOutput is called is held (so a caller may connect first, then wire its streams)
  let output: ((stream: 'stdout' | 'stderr', data: Buffer) => void) | undefined;
  let pending: Array<{ stream: 'stdout' | 'stderr'; data: Buffer }> = [];
  let exitCode: number | null = null;
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (b: Buffer) => {
    buf = buf.length === 0 ? b : Buffer.concat([buf, b]);
    while (buf.length >= HEADER) {
      const len = buf.readUInt32BE(1);
      if (buf.length < HEADER + len) break;
      const type = buf[0];
      const data = buf.subarray(HEADER, HEADER + len);
      buf = buf.subarray(HEADER + len);
      if (type === ATTACH_FRAME.stdout || type === ATTACH_FRAME.stderr) {
        const stream = type === ATTACH_FRAME.stdout ? 'stdout' : 'stderr';
        if (output === undefined) pending.push({ stream, data });
        else output(stream, data);
      } else if (type === ATTACH_FRAME.exit && len === 4) {
        exitCode = data.readInt32BE(0);
      }
    }
  });
  const ended = new Promise<number | null>((res) => {
    sock.once('close', () => res(exitCode));
  });
  sock.on('error', () => undefined);
  const send = (b: Buffer): boolean => (sock.destroyed || sock.writableEnded ? true : sock.write(b));
  return {
    write: (data) => {
      let ok = true;
      for (let i = 0; i < data.length; i += STDIN_CHUNK) ok = send(frame(ATTACH_FRAME.stdin, data.subarray(i, i + STDIN_CHUNK))) && ok;
      return ok;
    },
    onDrain: (fn) => { sock.once('drain', fn); },
    closeStdin: () => { send(frame(ATTACH_FRAME.stdinEof)); },
    resize: (columns, rows) => {
      const p = Buffer.alloc(4);
      p.writeUInt16BE(Math.min(0xffff, Math.max(0, columns)), 0);
      p.writeUInt16BE(Math.min(0xffff, Math.max(0, rows)), 2);
      send(frame(ATTACH_FRAME.resize, p));
    },
    onOutput: (fn) => {
      output = fn;
      const held = pending;
      pending = [];
      for (const p of held) fn(p.stream, p.data);
    },
    pause: () => { sock.pause(); },
    resume: () => { sock.resume(); },
    ended,
    close: () => { if (!sock.destroyed) sock.end(); },
  };
}
