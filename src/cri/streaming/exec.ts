// Exec over the streaming server: the command runs through podns's exec path (src/container/exec.ts:
// podns-helper exec joins the workload's namespaces, user, capabilities, seccomp and cgroups) with its
// stdio wired to the session's channels, window sizes from the resize channel (tty), and the exit status
// on the error channel. A client that goes away takes the command with it (SIGKILL), so no session
// outlives its connection.
import { execStream, type ExecSession } from '../../container/index.js';
import { oneLine } from '../../errors.js';
import { endOutput, exitCodeStatus, failureStatus, onResize, successStatus, writeStatus, type Channels } from './remotecommand.js';
import type { Readable, Writable } from 'node:stream';

export interface ExecTarget {
  root: string;
  pod: string;
  container: string;
  argv: string[];
  tty: boolean;
}

/** How long output may keep coming after the command exited (a process it left behind holds the pipe). */
const DRAIN_MS = 1000;

export async function runExec(ch: Channels, t: ExecTarget): Promise<void> {
  let s: ExecSession;
  try {
    s = execStream({ root: t.root, pod: t.pod, container: t.container, argv: t.argv, tty: t.tty, stdin: ch.stdin !== null });
  } catch (err) {
    endOutput(ch);
    await writeStatus(ch, failureStatus(oneLine(err)));
    return;
  }
  ch.onAbort(() => s.kill());
  if (ch.stdin !== null && s.stdin !== null) {
    ch.stdin.on('error', () => s.stdin?.end());
    ch.stdin.pipe(s.stdin);
  }
  if (ch.resize !== null) onResize(ch.resize, (w, h) => s.resize(w, h));
  // with a tty the helper's stderr carries only its own error line: it goes to stdout, where the pty's is
  const outDone = copy(s.stdout, ch.stdout, true);
  const errDone = copy(s.stderr, t.tty ? ch.stdout : ch.stderr, !t.tty);
  const code = await s.exited;
  const timer = setTimeout(() => { s.stdout.destroy(); s.stderr.destroy(); }, DRAIN_MS);
  await Promise.all([outDone, errDone]);
  clearTimeout(timer);
  endOutput(ch);
  await writeStatus(ch, code === 0 ? successStatus() : exitCodeStatus(code, t.argv));
}

/** Copies from to to (or drops it when the client did not ask for it); resolves at from's end. */
function copy(from: Readable, to: Writable | null, endTo: boolean): Promise<void> {
  return new Promise((res) => {
    from.on('data', (b: Buffer) => {
      if (to === null || to.destroyed || to.writableEnded) return;
      if (!to.write(b)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    const done = (): void => {
      if (endTo && to !== null && !to.destroyed && !to.writableEnded) to.end();
      res();
    };
    from.once('end', done);
    from.once('close', done);
    from.once('error', done);
  });
}
