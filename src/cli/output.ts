// Output for people and for scripts: aligned tables, colour only on a TTY (NO_COLOR respected), JSON with -o json.
import { fstatSync, writeSync } from 'node:fs';
import { loadNative } from '../native/index.js';

export interface Writer {
  write(s: string): unknown;
  isTTY?: boolean;
}

/**
 * The CLI's stdout and stderr: synchronous writes to fds 1 and 2. Not process.stdout/stderr: the first
 * touch of either builds a Node stream for the fd (for a pipe a net.Socket, for a terminal a
 * tty.WriteStream), loading the stream modules on the way — ~8 ms of a `podns create` that prints one
 * line. A reader that went away (`podns get | head -1`) ends the output silently, as SIGPIPE would.
 */
// a 1 ms sleep for a full non-blocking fd: Atomics.wait on a cell nobody notifies
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

function fdWriter(fd: number): Writer {
  let closed = false;
  let tty: boolean | undefined;
  return {
    write(s: string): boolean {
      if (closed) return false;
      const buf = Buffer.from(s, 'utf8');
      for (let off = 0; off < buf.length;) {
        try {
          off += writeSync(fd, buf, off, buf.length - off);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EPIPE') { closed = true; return false; }
          // a non-blocking fd shared with another process: wait for room rather than lose output
          if (code === 'EAGAIN') { Atomics.wait(PAUSE, 0, 0, 1); continue; }
          throw err;
        }
      }
      return true;
    },
    get isTTY(): boolean {
      if (tty === undefined) {
        try {
          tty = fstatSync(fd).isCharacterDevice() && loadNative().isatty(fd);
        } catch {
          tty = false;
        }
      }
      return tty;
    },
  };
}

export const stdout: Writer = fdWriter(1);
export const stderr: Writer = fdWriter(2);

export function useColor(stream: Writer = stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

const codes = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], blue: [34, 39], cyan: [36, 39], magenta: [35, 39] } as const;
export type Style = keyof typeof codes;

export function paint(text: string, style: Style, stream: Writer = stdout): string {
  if (!useColor(stream)) return text;
  const [a, b] = codes[style];
  return `\u001b[${a}m${text}\u001b[${b}m`;
}

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;]*m/g;
export function visibleWidth(s: string): number {
  let w = 0;
  for (const ch of s.replace(ansi, '')) {
    const cp = ch.codePointAt(0)!;
    // CJK and full-width forms take two cells in a terminal (the zh-TW tour).
    w += (cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6))) ? 2 : 1;
  }
  return w;
}

/** An aligned table, columns separated by three spaces as kubectl prints them. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleWidth(c)))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** "5s", "3m", "2h", "4d" like kubectl's AGE column. */
export function age(since: Date | string | number, now = Date.now()): string {
  const ms = now - new Date(since).getTime();
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}
