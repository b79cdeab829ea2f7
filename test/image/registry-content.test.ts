// The content store on a real filesystem: verified ingest, resume from a partial file, refusals that keep
// nothing, one writer per blob (in-process and across processes), a kill -9 mid-download, clean().
import test from 'ava';
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PodnsError } from '../../src/errors.js';
import { ContentStore, RANGE_REFUSED } from '../../src/image/content/store.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'podns-content-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An opener over BUF that records the offsets asked and can stop after LIMIT bytes (a killed connection). */
function opener(buf: Buffer, o: { limit?: number; chunk?: number } = {}) {
  const offsets: number[] = [];
  const open = async (offset: number): Promise<Readable> => {
    offsets.push(offset);
    const end = o.limit !== undefined ? Math.min(buf.length, o.limit) : buf.length;
    const chunk = o.chunk ?? 64 * 1024;
    let pos = offset;
    return new Readable({
      read() {
        if (pos >= end) {
          if (end < buf.length) this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
          else this.push(null);
          return;
        }
        const n = Math.min(chunk, end - pos);
        this.push(buf.subarray(pos, pos + n));
        pos += n;
      },
    });
  };
  return { open, offsets };
}

test('ingest: streamed, verified, renamed into blobs/sha256/HEX; put/read/list/remove', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const d = sha(data);
  const progress: number[] = [];
  await store.ingest(d, data.length, opener(data).open, (b) => progress.push(b));
  t.true(store.has(d));
  t.is(store.size(d), data.length);
  t.is(store.path(d), join(store.dir, 'blobs', 'sha256', d.slice(7)));
  t.true(readFileSync(store.path(d)).equals(data));
  t.is(progress.at(-1), data.length);
  t.deepEqual(readdirSync(join(store.dir, 'ingest')), [], 'no ingest file left');
  const small = Buffer.from('{"a":1}');
  const sd = store.put(small);
  t.is(sd, sha(small));
  t.true(store.read(sd, 100).equals(small));
  t.throws(() => store.read(sd, 3), { message: /more than the 3 allowed/ });
  t.throws(() => store.put(small, 'sha256:' + '0'.repeat(64)), { message: /hashes to/ });
  t.deepEqual(store.list(), [d, sd].sort());
  const chunks: Buffer[] = [];
  for await (const c of store.open(d)) chunks.push(c as Buffer);
  t.true(Buffer.concat(chunks).equals(data));
  store.remove(d);
  t.false(store.has(d));
  t.deepEqual(store.list(), [sd]);
});

test('a digest is validated before it reaches a path', (t) => {
  const store = new ContentStore(tmp(t));
  for (const bad of ['sha256:../../etc/passwd', 'sha256:' + 'A'.repeat(64), 'md5:' + 'a'.repeat(32), '../x', 'sha256:' + 'a'.repeat(63) + '/']) {
    t.throws(() => store.path(bad), { instanceOf: PodnsError, message: /not a (valid sha256 )?digest/ }, bad);
  }
});

test('a corrupted blob is refused and nothing is kept', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(200_000);
  const d = sha(data);
  const bad = Buffer.from(data);
  bad[100_000] ^= 0xff;
  const err = await t.throwsAsync(store.ingest(d, data.length, opener(bad).open), { instanceOf: PodnsError });
  t.is(err!.code, 'EBADBLOB');
  t.regex(err!.message, /hashes to sha256:[0-9a-f]{64}; .*nothing was kept/);
  t.false(store.has(d));
  t.deepEqual(readdirSync(join(store.dir, 'ingest')), []);
});

test('more bytes than the descriptor says: refused at once, nothing kept', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(100_000);
  const err = await t.throwsAsync(store.ingest(sha(data), 50_000, opener(data).open));
  t.regex(err!.message, /more than the 50000 bytes/);
  t.deepEqual(readdirSync(join(store.dir, 'ingest')), []);
});

test('an interrupted download leaves a partial; the next ingest resumes from its length', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(1_000_000);
  const d = sha(data);
  const first = opener(data, { limit: 300_000, chunk: 10_000 });
  await t.throwsAsync(store.ingest(d, data.length, first.open), { message: /aborted/ });
  t.false(store.has(d), 'a partial is never a blob');
  t.deepEqual([...store.partials()], [[d, 300_000]]);
  const second = opener(data);
  await store.ingest(d, data.length, second.open);
  t.deepEqual(second.offsets, [300_000], 'asked for the rest only');
  t.true(readFileSync(store.path(d)).equals(data));
  // a stream that ends cleanly but short: ETRUNCATED, the prefix kept
  const d2 = sha(Buffer.concat([data, Buffer.from('x')]));
  const e = await t.throwsAsync(store.ingest(d2, data.length + 1, opener(data).open));
  t.is((e as PodnsError).code, 'ETRUNCATED');
  t.is(store.partials().get(d2), data.length);
});

test('a source that cannot serve the range: ingest starts over from 0', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(100_000);
  const d = sha(data);
  await t.throwsAsync(store.ingest(d, data.length, opener(data, { limit: 40_000 }).open));
  const offsets: number[] = [];
  await store.ingest(d, data.length, async (offset) => {
    offsets.push(offset);
    if (offset > 0) throw new PodnsError(RANGE_REFUSED, 'no ranges here');
    return Readable.from([data]);
  });
  t.deepEqual(offsets, [40_000, 0]);
  t.true(store.has(d));
});

test('a corrupt partial (the prefix on disk is wrong) is refused and removed', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(100_000);
  const d = sha(data);
  await t.throwsAsync(store.ingest(d, data.length, opener(data, { limit: 40_000 }).open));
  const partial = join(store.dir, 'ingest', `sha256-${d.slice(7)}`);
  const buf = readFileSync(partial);
  buf[5] ^= 1;
  writeFileSync(partial, buf);
  const e = await t.throwsAsync(store.ingest(d, data.length, opener(data).open));
  t.is((e as PodnsError).code, 'EBADBLOB');
  t.false(existsSync(partial));
  await store.ingest(d, data.length, opener(data).open);
  t.true(store.has(d));
});

test('two ingests of one blob in one process: one download', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(500_000);
  const d = sha(data);
  const o = opener(data, { chunk: 1000 });
  await Promise.all([store.ingest(d, data.length, o.open), store.ingest(d, data.length, o.open), new ContentStore(store.dir).ingest(d, data.length, o.open)]);
  t.deepEqual(o.offsets, [0], 'one opener call: the second store instance waited on the flock, then found the blob');
  t.true(store.has(d));
});

const CHILD = fileURLToPath(new URL('../helpers/content-child.js', import.meta.url));

test('kill -9 mid-ingest: no blob, a partial nobody holds; resume completes it; clean() removes dead partials only', async (t) => {
  const dir = tmp(t);
  const data = randomBytes(2_000_000);
  const d = sha(data);
  writeFileSync(join(dir, 'data'), data);
  const child = fork(CHILD, [dir, d, join(dir, 'data')], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  // the child writes slowly and says when it has written some
  await new Promise<void>((resolve) => child.on('message', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const store = new ContentStore(dir);
  t.false(store.has(d));
  const got = store.partials().get(d);
  t.true(got !== undefined && got > 0 && got < data.length, `partial ${got}`);
  // a live holder's partial survives clean(); a dead one's does not
  const other = randomBytes(10_000);
  const od = sha(other);
  let release!: () => void;
  const held = store.ingest(od, other.length, async () => Readable.from((async function* () {
    yield other.subarray(0, 10);
    await new Promise<void>((r) => { release = r; });
    yield other.subarray(10);
  })()));
  await sleep(100);
  const removed = new ContentStore(dir).clean();
  t.deepEqual(removed, [`sha256-${d.slice(7)}`]);
  t.true(statSync(join(dir, 'ingest', `sha256-${od.slice(7)}`)).isFile(), 'the live download keeps its file');
  release();
  await held;
  t.true(store.has(od));
  // and a resume after the kill (partial re-made by another killed writer) completes the blob
  await t.throwsAsync(store.ingest(d, data.length, opener(data, { limit: 700_000 }).open));
  const o = opener(data);
  await store.ingest(d, data.length, o.open);
  t.deepEqual(o.offsets, [700_000]);
  t.true(readFileSync(store.path(d)).equals(data));
});
