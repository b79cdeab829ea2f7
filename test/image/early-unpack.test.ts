// Layers unpacked while they download (src/image/early-unpack.ts over ContentStore.follow): a follower reads
// a blob as it arrives and ends only once that very file is the verified blob; a download whose bytes do not
// hash to the digest makes it fail, so nothing made from those bytes is kept — even a layer whose
// uncompressed content is right (a re-encoded gzip header under the manifest's digest).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { PodnsError } from '../../src/errors.js';
import { ContentStore } from '../../src/image/content/store.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { pullImage, type ImagePullEvent } from '../../src/image/pull.js';
import { readNames } from '../../src/image/records.js';
import { FakeRegistry, sha } from '../helpers/fake-registry.js';
import { skipReason } from '../helpers/root.js';
import { tarBuffer } from '../helpers/tar.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'podns-early-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function fake(t: { teardown(fn: () => Promise<void>): void }): Promise<FakeRegistry> {
  const f = new FakeRegistry();
  await f.start();
  t.teardown(() => f.stop());
  return f;
}

/** Collects a stream; resolves with its bytes, rejects with its error. */
async function collect(r: Readable, onChunk?: (n: number) => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) {
    parts.push(c);
    onChunk?.(c.length);
  }
  return Buffer.concat(parts);
}

/** An opener whose stream the test feeds by hand. */
function handFed(): { open: () => Promise<Readable>; feed: PassThrough } {
  const feed = new PassThrough();
  return { open: async () => feed, feed };
}

test('follow: reads a blob while it downloads, and ends only once it is the verified blob', async (t) => {
  const s = new ContentStore(tmp(t));
  const data = Buffer.alloc(3 << 20, 'podns');
  const digest = sha(data);
  const src = handFed();
  const ingest = s.ingest(digest, data.length, src.open);
  let seen = 0;
  let endedBeforeBlob = false;
  const followed = collect(s.follow(digest), (n) => (seen += n)).then((b) => {
    endedBeforeBlob = !s.has(digest);
    return b;
  });
  src.feed.write(data.subarray(0, 1 << 20));
  for (let i = 0; i < 200 && seen < 1 << 20; i++) await sleep(5);
  t.is(seen, 1 << 20, 'the first MiB was read before the rest was sent');
  src.feed.end(data.subarray(1 << 20));
  await ingest;
  t.deepEqual(await followed, data);
  t.false(endedBeforeBlob, 'the follower ended only once the blob was in blobs/');
  // a blob already stored: simply read
  t.deepEqual(await collect(s.follow(digest)), data);
});

test('follow: a download whose bytes do not hash to the digest makes the follower fail (it never ends as if complete)', async (t) => {
  const s = new ContentStore(tmp(t));
  const data = Buffer.alloc(1 << 20, 'x');
  const digest = sha(Buffer.alloc(1 << 20, 'y')); // same size, other bytes
  const src = handFed();
  const ingest = s.ingest(digest, data.length, src.open);
  let seen = 0;
  const followed = collect(s.follow(digest), (n) => (seen += n));
  src.feed.write(data.subarray(0, 4096));
  for (let i = 0; i < 200 && seen === 0; i++) await sleep(5);
  t.is(seen, 4096);
  src.feed.end(data.subarray(4096));
  await t.throwsAsync(ingest, { instanceOf: PodnsError, message: /hashes to sha256:/ });
  const err = await t.throwsAsync(followed, { instanceOf: PodnsError });
  t.is(err!.code, 'ETRUNCATED');
  t.regex(err!.message, /the download was abandoned or started over while it was being read as it downloaded$/);
});

test('follow: cancelled while waiting for a download that never starts', async (t) => {
  const s = new ContentStore(tmp(t));
  const ac = new AbortController();
  const followed = collect(s.follow(sha(Buffer.from('never')), { signal: ac.signal }));
  await sleep(20);
  ac.abort();
  const err = await t.throwsAsync(followed, { instanceOf: PodnsError });
  t.is(err!.code, 'ECANCELED');
});

(skipReason() === undefined ? test : test.skip)('pullImage unpacks layers while they download: each layer reported once, done; the image stored and named', async (t) => {
  const f = await fake(t);
  const layers = [0, 1, 2].map((i) => tarBuffer([{ name: `f${i}`, data: Buffer.alloc(300_000 + i, String(i)) }]));
  const img = f.addImage('e/u', 'v1', { layers });
  const store = tmp(t);
  const events: ImagePullEvent[] = [];
  const r = await pullImage({ ref: `${f.host}/e/u:v1`, store, onProgress: (e) => events.push(e) });
  t.is(r.id, img.manifestDigest);
  const at = (p: (e: ImagePullEvent) => boolean) => events.findIndex(p);
  for (const [i, l] of img.layers.entries()) {
    const started = at((e) => e.type === 'unpack' && e.index === i && e.state === 'unpacking');
    const downloaded = at((e) => e.type === 'blob' && e.what === 'layer' && e.index === i && e.state === 'done');
    t.true(started !== -1 && started < downloaded, `layer ${i}: unpacking started before its download ended`);
    t.deepEqual(events.filter((e) => e.type === 'unpack' && e.index === i).map((e) => (e as { state: string }).state), ['unpacking', 'done'], `layer ${i} (${l.digest})`);
  }
  t.is(new LayerStore(store).list().length, 3);
  t.is(readNames(store)[`${f.host}/e/u:v1`], img.manifestDigest);
});

(skipReason() === undefined ? test : test.skip)('pullImage: a layer re-encoded (other gzip header, same tar) under the manifest digest: refused, and no layer kept although its diff_id matches', async (t) => {
  const f = await fake(t);
  const tar = tarBuffer([{ name: 'payload', data: Buffer.alloc(400_000, 'p') }]);
  const img = f.addImage('e/h', 'v1', { layers: [tar] });
  const d = img.layers[0]!.digest;
  // the same deflate stream with another gzip MTIME: same size, same tar (so the same diff_id), another digest
  const other = Buffer.from(f.blobs.get(d)!);
  other.writeUInt32LE(other.readUInt32LE(4) ^ 0x5a5a5a5a, 4);
  t.not(sha(other), d);
  t.deepEqual(gzipSync(tar, { level: 1 }).subarray(10), other.subarray(10));
  f.blobs.set(d, other);
  const store = tmp(t);
  const err = await t.throwsAsync(pullImage({ ref: `${f.host}/e/h:v1`, store }), { instanceOf: PodnsError });
  t.regex(err!.message, new RegExp(`^blob ${d}: its content hashes to sha256:[0-9a-f]{64}; the registry or the network corrupted it, nothing was kept$`));
  t.deepEqual(new LayerStore(store).list(), [], 'nothing unpacked from the refused bytes was kept');
  t.false(new ContentStore(store).has(d));
  t.false(`${f.host}/e/h:v1` in readNames(store));
});

(skipReason() === undefined ? test : test.skip)('a layer unpacked from follow() of bytes that are not the blob: nothing kept, although the tar has the right diff_id', async (t) => {
  const store = tmp(t);
  const s = new ContentStore(store);
  const tar = tarBuffer([{ name: 'payload', data: Buffer.alloc(400_000, 'p') }]);
  const good = gzipSync(tar, { level: 1 });
  const served = Buffer.from(good);
  served.writeUInt32LE(0x5a5a5a5a, 4); // another gzip MTIME: the same tar inside, other bytes
  const src = handFed();
  const ingest = s.ingest(sha(good), good.length, src.open);
  const layers = new LayerStore(store);
  const unpacked = layers.ensure({ chainId: sha(tar), diffId: sha(tar), open: () => s.follow(sha(good)) });
  src.feed.write(served.subarray(0, 1000));
  await sleep(50);
  src.feed.end(served.subarray(1000));
  await t.throwsAsync(ingest, { message: /hashes to sha256:/ });
  const err = await t.throwsAsync(unpacked, { instanceOf: PodnsError });
  t.is(err!.code, 'ETRUNCATED');
  t.deepEqual(layers.list(), []);
});
