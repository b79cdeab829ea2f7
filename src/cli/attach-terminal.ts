// `podns attach` and `podns run -i/-t`: this process's stdio joined to a container's main process through its
// watcher's attach socket (src/container/attach.ts). With a tty container and a terminal here: raw mode (every
// key goes to the container, ^C too), the pty's size follows this terminal's, and ctrl-p ctrl-q detaches (as
// podman and docker), leaving the container running. The end of a piped stdin ends the workload's stdin when
// the container says so (stdinEndsWorkloadStdin: stdinOnce, no tty), else it ends the session.
import { attachContainer, readContainerConfig, readContainerStatus, stdinEndsWorkloadStdin } from '../container/index.js';
import { stderr } from './output.js';

/** ctrl-p ctrl-q, podman's and docker's default detach keys */
export const DETACH_KEYS: readonly number[] = [0x10, 0x11];

/**
 * Finds the detach sequence in what is typed: push() returns the bytes to send on (a prefix of the
 * sequence is held back until the next byte tells, then sent if it was not the sequence) and whether the
 * whole sequence came (then nothing after it is sent).
 */
export class DetachScanner {
  private matched = 0;

  constructor(private readonly keys: readonly number[] = DETACH_KEYS) {}

  push(b: Buffer): { data: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const c of b) {
      if (c === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { data: Buffer.from(out), detach: true };
        }
        continue;
      }
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (c === this.keys[0]) this.matched = 1;
      else out.push(c);
    }
    return { data: Buffer.from(out), detach: false };
  }
}

export interface AttachTerminalOptions {
  root: string;
  pod: string;
  container: string;
  /** send this process's stdin (when the container has stdin) */
  stdin: boolean;
  /** a tty's output before the attach first (run -it: the container has just started) */
  replay?: boolean;
}

/**
 * Attaches until the container's run ends (its exit code), the user detaches (0) or the session ends
 * otherwise (the container's exit code when it has exited meanwhile, else 0).
 */
export async function attachTerminal(o: AttachTerminalOptions): Promise<number> {
  const config = readContainerConfig({ root: o.root, pod: o.pod, name: o.container });
  const s = await attachContainer({ root: o.root, pod: o.pod, container: o.container, ...(o.replay === true ? { replay: true } : {}) });
  const tty = config?.tty === true;
  const input = process.stdin;
  const output = process.stdout;
  const terminal = input.isTTY === true;
  let detached = false;
  let rawSet = false;
  let done!: () => void;
  const over = new Promise<void>((res) => { done = res; });
  void s.ended.then(() => done());

  s.onOutput((stream, data) => {
    const to = stream === 'stdout' ? output : process.stderr;
    if (!to.write(data)) {
      s.pause();
      to.once('drain', () => s.resume());
    }
  });
  const onResize = (): void => { if (output.columns > 0 && output.rows > 0) s.resize(output.columns, output.rows); };
  if (tty && output.isTTY === true) {
    onResize();
    output.on('resize', onResize);
  }
  const withStdin = o.stdin && config?.stdin === true;
  const onData = (b: Buffer): void => {
    let data = b;
    if (scanner !== undefined) {
      const r = scanner.push(b);
      data = r.data;
      if (r.detach) {
        if (data.length > 0) s.write(data);
        detached = true;
        done();
        return;
      }
    }
    if (data.length > 0 && !s.write(data)) {
      input.pause();
      s.onDrain(() => input.resume());
    }
  };
  const onEnd = (): void => {
    if (stdinEndsWorkloadStdin(config ?? {}, tty)) s.closeStdin(); // then the run's end ends the session
    else done();
  };
  const scanner = withStdin && terminal ? new DetachScanner() : undefined;
  if (withStdin) {
    if (terminal && tty) {
      input.setRawMode(true);
      rawSet = true;
    }
    input.on('data', onData);
    input.once('end', onEnd);
  }
  try {
    await over;
  } finally {
    if (rawSet) input.setRawMode(false);
    input.off('data', onData);
    input.off('end', onEnd);
    if (withStdin) input.destroy();
    output.off('resize', onResize);
    s.close();
  }
  if (detached) {
    stderr.write(`${tty ? '\r\n' : ''}detached from ${o.pod}/${o.container}: it is still running (podns attach ${o.pod} -c ${o.container})\n`);
    return 0;
  }
  const code = await s.ended;
  if (code !== null) return code;
  const st = readContainerStatus({ root: o.root, pod: o.pod, name: o.container });
  return st?.state === 'exited' ? st.exitCode ?? 0 : 0;
}
