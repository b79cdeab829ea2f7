// Attach (kubectl attach, kubectl run -it): the session's channels joined to the container's main process.
// A container created with stdin or tty has an attach socket on its watcher (src/container/attach.ts,
// native/helper/shim_attach.c): the session's stdin goes to the workload's stdin (a pipe, or its pty),
// resize sets the pty's size, and the workload's output from now on comes to stdout and stderr (with a
// tty there is only stdout), until the container exits. As containerd does: an attach's stdin reaches a
// container only if it was created with stdin; with stdin_once (and no tty on the session) the end of the
// session's stdin, or of the session, ends the workload's stdin and the session goes on until the
// container exits; otherwise the end of the session's stdin ends the session and the workload's stdin
// stays open for the next one. A tty session gets no stderr (a tty container has none anyway).
// A container with neither gets what containerd gives it too, from its log: its output from now on,
// stdout lines to stdout and stderr lines to stderr (the CRI log file at log_directory/log_path when
// kubelet gave one, else podns's own log), until it exits; its stdin is /dev/null, so an attach's stdin
// channel is drained and reaches nothing.
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { attachable, attachContainer, containerLogs, drainEntries, LineAssembler, readContainerStatus, stdinEndsWorkloadStdin, type AttachSession, type LogLine } from '../../container/index.js';
import { oneLine } from '../../errors.js';
import { endOutput, failureStatus, onResize, successStatus, writeStatus, type Channels, type StreamFlags } from './remotecommand.js';

export interface AttachTarget {
  root: string;
  pod: string;
  container: string;
  /** the CRI log file ('' when kubelet gave none: podns's own log is followed) */
  logPath: string;
  /** the container's ContainerConfig stdin, stdin_once and tty */
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
}

const POLL_MS = 100;

export async function runAttach(ch: Channels, t: AttachTarget, flags: StreamFlags): Promise<void> {
  if (attachable(t)) return attachToWatcher(ch, t, flags);
  ch.stdin?.resume();
  ch.resize?.resume();
  const ac = new AbortController();
  ch.onAbort(() => ac.abort());
  const write = (w: Writable | null, text: string): void => { if (w !== null && !w.destroyed && !w.writableEnded) w.write(text); };
  // a tty session has no stderr: the container's goes nowhere (containerd's answer)
  const out = { stdout: { write: (s: string) => write(ch.stdout, s) }, stderr: { write: (s: string) => write(flags.tty ? null : ch.stderr, s) } };
  try {
    if (t.logPath !== '') {
      await followFile(t.logPath, ac.signal, () => running(t), (l) => (l.stream === 'stderr' ? out.stderr : out.stdout).write(`${l.text}\n`));
    } else {
      await containerLogs({ root: t.root, pod: t.pod, container: t.container, follow: true, tail: 0, out, signal: ac.signal, pollMs: POLL_MS });
    }
  } catch (err) {
    if (!ac.signal.aborted) {
      endOutput(ch);
      await writeStatus(ch, failureStatus(oneLine(err)));
      return;
    }
  }
  endOutput(ch);
  await writeStatus(ch, successStatus());
}

async function attachToWatcher(ch: Channels, t: AttachTarget, flags: StreamFlags): Promise<void> {
  let s: AttachSession;
  try {
    s = await attachContainer({ root: t.root, pod: t.pod, container: t.container });
  } catch (err) {
    ch.stdin?.resume();
    endOutput(ch);
    await writeStatus(ch, failureStatus(oneLine(err)));
    return;
  }
  const closesStdin = stdinEndsWorkloadStdin(t, flags.tty);
  let done!: () => void;
  const over = new Promise<void>((res) => { done = res; });
  void s.ended.then(() => done());
  // output: a slow client holds the socket back; the watcher drops a client that falls 1 MiB behind
  s.onOutput((stream, data) => {
    const to = stream === 'stdout' ? ch.stdout : flags.tty ? null : ch.stderr;
    if (to === null || to.destroyed || to.writableEnded) return;
    if (!to.write(data)) {
      s.pause();
      to.once('drain', () => s.resume());
    }
  });
  if (ch.resize !== null) onResize(ch.resize, (w, h) => s.resize(w, h));
  const stdin = ch.stdin;
  const withStdin = stdin !== null && t.stdin;
  if (stdin !== null && !withStdin) stdin.resume(); // a container without stdin: it reaches nothing
  if (withStdin) {
    stdin.on('data', (b: Buffer) => {
      if (!s.write(b)) {
        stdin.pause();
        s.onDrain(() => stdin.resume());
      }
    });
    let ended = false;
    const stdinEnded = (): void => {
      if (ended) return;
      ended = true;
      if (closesStdin) s.closeStdin(); // the session goes on until the container exits
      else done();
    };
    stdin.once('end', stdinEnded);
    stdin.once('error', stdinEnded);
  }
  ch.onAbort(() => {
    if (withStdin && closesStdin) s.closeStdin();
    done();
  });
  await over;
  s.close();
  endOutput(ch);
  await writeStatus(ch, successStatus());
}

function running(t: AttachTarget): boolean {
  const st = readContainerStatus({ root: t.root, pod: t.pod, name: t.container });
  return st !== undefined && st.state !== 'exited';
}

/**
 * Follows a CRI log file from its end: entries as whole lines, across ReopenContainerLog (a new file at
 * the path: the old one is read to its end first), until isRunning() says no (then read once more).
 */
export async function followFile(path: string, signal: AbortSignal, isRunning: () => boolean, line: (l: LogLine) => void): Promise<void> {
  const asm = new LineAssembler();
  let fd = -1;
  let pos = 0;
  // bytes after the last newline: a read may end inside a character, decoded once its line is whole
  const carry = { b: Buffer.alloc(0) };
  const open = (fromEnd: boolean): void => {
    try {
      fd = openSync(path, 'r');
      pos = fromEnd ? fstatSync(fd).size : 0;
      carry.b = Buffer.alloc(0);
    } catch {
      fd = -1;
    }
  };
  const drain = (): void => {
    if (fd < 0) return;
    pos = drainEntries(fd, pos, carry, (e) => {
      const l = asm.push(e);
      if (l) line(l);
    });
  };
  open(true);
  try {
    while (!signal.aborted) {
      const alive = isRunning();
      drain();
      // a new file at the path (ReopenContainerLog): finish the old one, go on from the new one's start
      try {
        const st = statSync(path);
        if (fd < 0 || st.ino !== fstatSync(fd).ino) {
          if (fd >= 0) closeSync(fd);
          open(false);
          drain();
        }
      } catch {
        // not there right now (being reopened)
      }
      if (!alive) return;
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
