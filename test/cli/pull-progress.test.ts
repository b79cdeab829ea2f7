// The pull display: on a TTY one line per layer with a bar, bytes, rate and ETA, redrawn in place (cursor up,
// clear); on a pipe one line per step and no escape sequences. Driven with the events pullImage emits and a
// clock the test moves.
import test from 'ava';
import { PullProgress, REDRAW_MS } from '../../src/cli/pull-progress.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function writer(tty: boolean): { out: string[]; w: { write(s: string): boolean; isTTY: boolean } } {
  const out: string[] = [];
  return { out, w: { write: (s: string) => out.push(s) > 0, isTTY: tty } };
}

test('TTY: per-layer bars with bytes, rate and ETA, redrawn in place; final states', (t) => {
  const { out, w } = writer(true);
  let now = 1_000_000;
  const p = new PullProgress(w, 'tty', () => now);
  p.event({ type: 'resolved', ref: 'r/x:1', manifestDigest: D1, layers: 2, bytes: 3_000_000 });
  p.event({ type: 'blob', what: 'config', index: 0, digest: D1, bytes: 10, total: 10, state: 'done' });
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 0, total: 2_000_000, state: 'downloading' });
  p.event({ type: 'blob', what: 'layer', index: 1, digest: D2, bytes: 1_000_000, total: 1_000_000, state: 'cached' });
  now += 1000;
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 1_000_000, total: 2_000_000, state: 'downloading' });
  const screen = out.join('');
  t.true(screen.startsWith(`r/x:1: ${D1} (2 layers, 3MB)\n`));
  // the last frame: cursor up over the two bars, clear, two lines
  const last = out.at(-1)!;
  t.regex(last, /^\u001b\[2A\r\u001b\[J/);
  t.regex(last, /layer 1 111111111111  \[=+> +\] 1MB\/2MB  1MB\/s  ETA 1s\u001b\[K\n/);
  t.regex(last, /layer 2 222222222222  already downloaded\u001b\[K\n$/);
  // a layer unpacked while it downloads (early unpack): the bar stays, marked
  now += REDRAW_MS;
  p.event({ type: 'unpack', index: 0, digest: D1, state: 'unpacking' });
  t.regex(out.at(-1)!, /layer 1 111111111111  \[=+> +\] 1MB\/2MB  [\d.]+kB\/s  ETA \d+s  \(unpacking\)\u001b\[K\n/);
  // updates closer together than REDRAW_MS are not drawn at once
  const frames = out.length;
  now += REDRAW_MS / 2;
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 1_100_000, total: 2_000_000, state: 'downloading' });
  t.is(out.length, frames);
  now += REDRAW_MS;
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 2_000_000, total: 2_000_000, state: 'done' });
  p.event({ type: 'unpack', index: 0, digest: D1, state: 'unpacking' });
  p.event({ type: 'unpack', index: 0, digest: D1, state: 'done' });
  p.event({ type: 'unpack', index: 1, digest: D2, state: 'cached' });
  p.finish();
  t.regex(out.at(-1)!, /layer 1 111111111111  pull complete\u001b\[K\nlayer 2 222222222222  already unpacked\u001b\[K\n$/);
  // the caller prints its last lines: a second finish (its finally) draws nothing over them
  const n = out.length;
  p.finish();
  p.event({ type: 'unpack', index: 1, digest: D2, state: 'done' });
  t.is(out.length, n);
});

test('pipe: one plain line per step, no escape sequences, nothing redrawn', (t) => {
  const { out, w } = writer(false);
  let now = 0;
  const p = new PullProgress(w, 'plain', () => now);
  p.event({ type: 'resolved', ref: 'r/x:1', manifestDigest: D1, layers: 2, bytes: 2048 });
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 0, total: 1024, state: 'downloading' });
  now += 500;
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 512, total: 1024, state: 'downloading' });
  now += 500;
  p.event({ type: 'blob', what: 'layer', index: 0, digest: D1, bytes: 1024, total: 1024, state: 'done' });
  p.event({ type: 'blob', what: 'layer', index: 1, digest: D2, bytes: 1024, total: 1024, state: 'cached' });
  p.event({ type: 'unpack', index: 0, digest: D1, state: 'unpacking' });
  p.event({ type: 'unpack', index: 0, digest: D1, state: 'done' });
  p.event({ type: 'unpack', index: 1, digest: D2, state: 'cached' });
  p.finish();
  t.deepEqual(out.join('').split('\n'), [
    `r/x:1: ${D1} (2 layers, 2.05kB)`,
    'layer 1 111111111111: downloaded 1.02kB in 1.0s',
    'layer 2 222222222222: already downloaded (1.02kB)',
    'layer 1 111111111111: unpacked',
    'layer 2 222222222222: already unpacked',
    '',
  ]);
});
