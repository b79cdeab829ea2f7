// What `podns image pull` (and run/apply when they pull) shows while it works: on a TTY, one line per layer with a
// bar, bytes, rate and ETA, redrawn in place (at most every REDRAW_MS); on a pipe, one plain line per step
// (a layer resolved, downloaded, unpacked), nothing redrawn. The digest is the caller's to print last.
import type { ImagePullEvent } from '../image/pull.js';
import { humanSize } from './format.js';
import type { Writer } from './output.js';

export const REDRAW_MS = 100;
const BAR = 24;

interface Row {
  index: number;
  digest: string;
  total: number;
  bytes: number;
  /** when the first downloaded byte was seen, and how many bytes were there then (a resumed ingest) */
  startedAt?: number;
  startBytes: number;
  endedAt?: number;
  /** the blob: not yet, already stored, downloading, downloaded */
  dl: 'waiting' | 'cached' | 'downloading' | 'done';
  /** the layer: not yet, unpacking (maybe while it downloads), unpacked now, already there */
  up: 'waiting' | 'unpacking' | 'done' | 'present';
}

/** "1.2MB/s", "ETA 3s": the rate since the layer started, and what is left at that rate. */
function rate(r: Row, now: number): { perSec: number; eta?: number } {
  if (r.startedAt === undefined) return { perSec: 0 };
  const secs = ((r.endedAt ?? now) - r.startedAt) / 1000;
  const perSec = secs > 0 ? (r.bytes - r.startBytes) / secs : 0;
  return perSec > 0 ? { perSec, eta: Math.ceil((r.total - r.bytes) / perSec) } : { perSec };
}

function eta(secs: number): string {
  if (secs < 60) return `${secs}s`;
  const m = Math.floor(secs / 60);
  return m < 60 ? `${m}m${String(secs % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class PullProgress {
  private rows: Row[] = [];
  private drawn = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(private readonly out: Writer, private readonly mode: 'tty' | 'plain', private readonly now: () => number = Date.now) {}

  event(e: ImagePullEvent): void {
    if (this.finished) return;
    const t = this.now();
    if (e.type === 'resolved') {
      this.line(`${e.ref}: ${e.manifestDigest} (${e.layers} layer${e.layers === 1 ? '' : 's'}, ${humanSize(e.bytes)})`);
      return;
    }
    if (e.type === 'blob' && e.what === 'config') return;
    const r = this.row(e.index, e.digest, e.type === 'blob' ? e.total : undefined);
    let line: string | undefined;
    if (e.type === 'blob') {
      if (e.state === 'cached') {
        r.dl = 'cached';
        line = `already downloaded (${humanSize(r.total)})`;
      } else if (e.state === 'downloading') {
        if (r.startedAt === undefined) {
          r.startedAt = t;
          r.startBytes = e.bytes;
        }
        r.bytes = e.bytes;
        r.dl = 'downloading';
      } else {
        r.bytes = r.total;
        r.endedAt = t;
        r.dl = 'done';
        const secs = r.startedAt !== undefined ? (t - r.startedAt) / 1000 : 0;
        line = `downloaded ${humanSize(r.total)} in ${secs.toFixed(1)}s`;
      }
    } else if (e.state === 'unpacking') {
      r.up = 'unpacking';
    } else if (e.state === 'done') {
      r.up = 'done';
      line = 'unpacked';
    } else if (r.up !== 'done') {
      r.up = 'present';
      line = 'already unpacked';
    }
    if (this.mode === 'plain') {
      if (line !== undefined) this.line(`${this.label(r)}: ${line}`);
      return;
    }
    this.schedule(line !== undefined || (e.type === 'unpack' && e.state === 'unpacking'));
  }

  /** The final state drawn (TTY); nothing more is drawn after it (a second call does nothing). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty' && this.rows.length > 0) this.draw();
  }

  private row(index: number, digest: string, total: number | undefined): Row {
    let r = this.rows.find((x) => x.index === index);
    if (r === undefined) {
      r = { index, digest, total: total ?? 0, bytes: 0, startBytes: 0, dl: 'waiting', up: 'waiting' };
      this.rows.push(r);
      this.rows.sort((a, b) => a.index - b.index);
    }
    if (total !== undefined) r.total = total;
    return r;
  }

  private line(s: string): void {
    if (this.mode === 'tty') {
      // a line above the bars: the bars are drawn again below it
      this.clear();
      this.out.write(`${s}\n`);
      this.drawn = 0;
      if (this.rows.length > 0) this.draw();
      return;
    }
    this.out.write(`${s}\n`);
  }

  private label(r: Row): string {
    return `layer ${r.index + 1} ${r.digest.slice(7, 19)}`;
  }

  private tty(r: Row, now: number): string {
    const l = this.label(r);
    if (r.up === 'done') return `${l}  pull complete`;
    if (r.up === 'present') return `${l}  already unpacked`;
    if (r.dl === 'downloading') {
      const frac = r.total > 0 ? Math.min(1, r.bytes / r.total) : 0;
      const fill = Math.floor(frac * BAR);
      const bar = `[${'='.repeat(Math.max(0, fill - 1))}${fill > 0 ? '>' : ''}${' '.repeat(BAR - fill)}]`;
      const { perSec, eta: left } = rate(r, now);
      return `${l}  ${bar} ${humanSize(r.bytes)}/${humanSize(r.total)}  ${humanSize(perSec)}/s${left !== undefined ? `  ETA ${eta(left)}` : ''}${r.up === 'unpacking' ? '  (unpacking)' : ''}`;
    }
    if (r.up === 'unpacking') return `${l}  unpacking`;
    if (r.dl === 'done') return `${l}  downloaded ${humanSize(r.total)}`;
    if (r.dl === 'cached') return `${l}  already downloaded`;
    return `${l}  waiting`;
  }

  private schedule(now: boolean): void {
    const t = this.now();
    if (now || t - this.lastDraw >= REDRAW_MS) {
      this.draw();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.finished) this.draw();
      }, REDRAW_MS - (t - this.lastDraw));
      this.timer.unref();
    }
  }

  /** Moves the cursor up over the lines drawn last time and clears from there down. */
  private up(): string {
    return this.drawn > 0 ? `\u001b[${this.drawn}A\r\u001b[J` : '';
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(this.up());
  }

  /** One write per frame: the cursor goes up over the last frame, then the rows. */
  private draw(): void {
    const t = this.now();
    this.lastDraw = t;
    this.out.write(this.up() + this.rows.map((r) => `${this.tty(r, t)}\u001b[K\n`).join(''));
    this.drawn = this.rows.length;
  }
}

/** How a command shows a pull: progress on OUT (bars on a TTY, lines on a pipe), or nothing. */
export function pullDisplay(out: Writer, show: boolean): { onProgress?: (e: ImagePullEvent) => void; finish(): void } {
  if (!show) return { finish: () => undefined };
  const p = new PullProgress(out, out.isTTY === true ? 'tty' : 'plain');
  return { onProgress: (e) => p.event(e), finish: () => p.finish() };
}
