// storeLayeredImage's guards (hostile or inconsistent image parts: nothing stored, nothing named) and the store
// lock between adding (shared) and collecting (exclusive). Blobs are put in a real ContentStore; layers are
// unpacked by the real helper.
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PodnsError } from '../../src/errors.js';
import { ContentStore } from '../../src/image/content/store.js';
import { withStoreLock } from '../../src/image/gc.js';
import { storeLayeredImage, type StoreLayeredOptions } from '../../src/image/layered.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { MediaType, type ImageConfigFile, type ImageManifest } from '../../src/image/oci.js';
import { listImageRecords, readNames } from '../../src/image/records.js';
import { pruneImages } from '../../src/image/usage.js';
import { skipReason } from '../helpers/root.js';
import { tarBuffer } from '../helpers/tar.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const run = skipReason() === undefined ? test.serial : test.serial.skip;

function image(t: { teardown(fn: () => void): void }, o: { env?: string[]; files?: string[] } = {}): StoreLayeredOptions {
  const store = mkdtempSync(join(process.env.PODNS_SANDBOX === '1' ? '/run' : '/tmp', 'podns-test-layered-'));
  t.teardown(() => rmSync(store, { recursive: true, force: true }));
  const content = new ContentStore(store);
  const tars = (o.files ?? ['a', 'b']).map((f) => tarBuffer([{ name: f, data: `${f}\n` }]));
  const blobs = tars.map((x) => gzipSync(x));
  for (const b of blobs) content.put(b);
  const config: ImageConfigFile = {
    architecture: 'amd64', os: 'linux', created: '2026-01-02T03:04:05Z',
    config: { Cmd: ['sh'], Env: o.env ?? ['PATH=/bin', 'EMPTY=', 'NOEQUALS'], WorkingDir: 'app', User: '1000' },
    rootfs: { type: 'layers', diff_ids: tars.map(sha) },
  };
  const cfg = Buffer.from(JSON.stringify(config));
  content.put(cfg);
  const layers = blobs.map((b) => ({ mediaType: MediaType.ociLayerGzip, digest: sha(b), size: b.length }));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha(cfg), size: cfg.length }, layers };
  const mbuf = Buffer.from(JSON.stringify(manifest));
  content.put(mbuf);
  return { store, content, name: 'local/t:v1', manifestDigest: sha(mbuf), manifest, configDigest: sha(cfg), config, layers, diffIds: config.rootfs.diff_ids };
}

function nothingStored(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, o: StoreLayeredOptions, what: string): void {
  t.deepEqual(listImageRecords(o.store), [], `no record: ${what}`);
  t.deepEqual(readNames(o.store), {}, `no name: ${what}`);
}

run('a good image: layers unpacked, the record from the config (env, relative WorkingDir, user), then its name', async (t) => {
  const o = image(t);
  const events: string[] = [];
  const { id, record } = await storeLayeredImage({ ...o, onUnpack: (e) => events.push(`${e.index}:${e.state}`) });
  t.is(id, o.manifestDigest);
  t.deepEqual(record.config, { cmd: ['sh'], env: { PATH: '/bin', EMPTY: '' }, workingDir: '/app', user: '1000' });
  t.is(record.created, '2026-01-02T03:04:05Z');
  t.is(record.platform, 'linux/amd64');
  t.is(readNames(o.store)['local/t:v1'], id);
  t.deepEqual(events.filter((e) => e.endsWith(':done')).sort(), ['0:done', '1:done']);
  t.is(new LayerStore(o.store).list().length, 2);
});

run('refused before anything is unpacked or stored: a missing blob, layers not the manifest\'s, diff_ids miscounted, a bad name', async (t) => {
  const o = image(t);
  o.content.remove(o.layers[1]!.digest);
  const e1 = await t.throwsAsync(storeLayeredImage(o), { instanceOf: PodnsError });
  t.is(e1!.code, 'ENOBLOB');
  t.regex(e1!.message, /blob sha256:[a-f0-9]{64} is not in the content store .*; pull or load the image again$/);
  t.is(new LayerStore(o.store).list().length, 0, 'nothing unpacked');
  nothingStored(t, o, 'missing blob');

  const p = image(t);
  const e2 = await t.throwsAsync(storeLayeredImage({ ...p, layers: [p.layers[1]!, p.layers[0]!] }), { instanceOf: PodnsError });
  t.regex(e2!.message, /the layers given are not the manifest's; the image is broken \(nothing was stored\)$/);
  const e3 = await t.throwsAsync(storeLayeredImage({ ...p, diffIds: [p.diffIds[0]!] }), { instanceOf: PodnsError });
  t.regex(e3!.message, /the config lists 1 diff_ids for 2 layers/);
  const e4 = await t.throwsAsync(storeLayeredImage({ ...p, name: 'Bad/Name' }), { instanceOf: PodnsError });
  t.is(e4!.code, 'EINVALIDREF');
  const e5 = await t.throwsAsync(storeLayeredImage({ ...p, configDigest: p.layers[0]!.digest }), { instanceOf: PodnsError });
  t.regex(e5!.message, /the manifest's config is sha256:[a-f0-9]{64}, not sha256:/);
  t.is(new LayerStore(p.store).list().length, 0);
  nothingStored(t, p, 'inconsistent parts');
});

run('hostile config: a NUL byte in Env refuses the image (no record, no name); a wrong diff_id keeps no layer', async (t) => {
  const o = image(t, { env: ['A=b\u0000c'] });
  const e = await t.throwsAsync(storeLayeredImage(o), { instanceOf: PodnsError });
  t.is(e!.code, 'EBADIMAGE');
  t.regex(e!.message, /config\.Env contains a NUL byte; the image is broken/);
  nothingStored(t, o, 'NUL in Env');
  t.is(new LayerStore(o.store).list().length, 0, 'refused before any layer is unpacked');

  const w = image(t);
  const wrong = [w.diffIds[0]!, w.diffIds[0]!];
  const e2 = await t.throwsAsync(storeLayeredImage({ ...w, diffIds: wrong, config: { ...w.config, rootfs: { type: 'layers', diff_ids: wrong } } }), { instanceOf: PodnsError });
  t.is(e2!.code, 'EDIFFID');
  nothingStored(t, w, 'wrong diff_id');
  t.true(new LayerStore(w.store).list().length <= 1, 'only the good layer may stay (shared, collected by prune)');
});

run('prune waits for a pull in flight (the store lock), then collects what no record refers to', async (t) => {
  const o = image(t);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const pull = withStoreLock(o.store, 'sh', () => held);
  let pruned = false;
  const prune = pruneImages({ store: o.store, root: join(o.store, 'no-root') }).then((r) => {
    pruned = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 300));
  t.false(pruned, 'prune waits while a pull holds the store shared');
  release();
  await pull;
  const r = await prune;
  // nothing names the blobs the "pull" put: collected once it is over
  t.is(r.blobs.length, 4);
  t.false(existsSync(join(o.store, 'blobs', 'sha256', o.manifestDigest.slice(7))));
});
