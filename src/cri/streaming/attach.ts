// Attach (kubectl attach) — the minimal version podns can give: the container's output from now on, read
// from its log (the CRI log file at log_directory/log_path when kubelet gave one, else podns's own log),
// stdout lines to the stdout channel and stderr lines to stderr, until the container exits. A podns
// workload's stdin is /dev/null and it has no tty (the watcher keeps no attach socket): an attach's stdin
// channel is accepted and drained but reaches nothing, and a tty attach gets the output lines as they are.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerLogs, LineAssembler, readContainerStatus, type LogLine } from '../../container/index.js';
import { oneLine } from '../../errors.js';
import { failureStatus, successStatus, writeStatus, type Channels, type StreamFlags } from './remotecommand.js';

export interface AttachTarget {
  root: string;
  pod: string;
  container: string;
  /** the CRI log file ('' when kubelet gave none: podns's own log is followed) */
  logPath: string;
}

const POLL_MS = 100;

export async function runAttach(ch: Channels, t: AttachTarget, flags: StreamFlags): Promise<void> {
  ch.stdin?.resume();
  ch.resize?.resume();
  const ac = new AbortController();
  ch.onAbort(() => ac.abort());
  const write = (w: Writable | null, text: string): void => { if (w !== null && !w.destroyed && !w.writableEnded) w.write(text); };
  const out = { stdout: { write: (s: string) => write(ch.stdout, s) }, stderr: { write: (s: string) => write(flags.tty ? ch.stdout : ch.stderr, s) } };
  try {
    if (t.logPath !== '') {
      await followFile(t.logPath, ac.signal, () => running(t), (l) => (l.stream === 'stderr' ? out.stderr : out.stdout).write(`${l.text}\n`));
    } else {
      await containerLogs({ root: t.root, pod: t.pod, container: t.container, follow: true, tail: 0, out, signal: ac.signal, pollMs: POLL_MS });
    }
  } catch (err) {
    if (!ac.signal.aborted) {
      end(ch);
      await writeStatus(ch, failureStatus(oneLine(err)));
      return;
    }
  }
  end(ch);
  await writeStatus(ch, successStatus());
}

function end(ch: Channels): void {
  for (const w of [ch.stdout, ch.stderr]) if (w !== null && !w.destroyed && !w.writableEnded) w.end();
}

function running(t: AttachTarget): boolean {
  const st = readContainerStatus({ root: t.root, pod: t.pod, name: t.container });
  return st !== undefined && st.state !== 'exited';
}

/**
 * Follows a CRI log file from its end: entries as whole lines, across ReopenContainerLog (a new file at
 * the path: the old one is read to its end first), until isRunning() says no (then read once more).
 */
async function followFile(path: string, signal: AbortSignal, isRunning: () => boolean, line: (l: LogLine) => void): Promise<void> {
  const asm = new LineAssembler();
  let fd = -1;
  let pos = 0;
  let carry = '';
  const open = (fromEnd: boolean): void => {
    try {
      fd = openSync(path, 'r');
      pos = fromEnd ? fstatSync(fd).size : 0;
      carry = '';
    } catch {
      fd = -1;
    }
  };
  const drain = (): void => {
    if (fd < 0) return;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      const text = carry + buf.toString('utf8', 0, n);
      const parts = text.split('\n');
      carry = parts.pop() ?? '';
      for (const p of parts) {
        const l = asm.push(p);
        if (l) line(l);
      }
    }
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
