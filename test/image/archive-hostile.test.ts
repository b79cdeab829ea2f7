// Hostile archives for image load: every guard of src/image/archive gets a fixture that trips it (and the
// assertion names the guard's own message, so the fixture would load — or fail elsewhere — without it). After
// each refusal the store has no record and no name, and no ingest file is left. The first tests load the
// untouched fixtures, so each hostile one differs from a loadable archive by its one defect.
import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadImages } from '../../src/image/archive/load.js';
import { ContentStore } from '../../src/image/content/store.js';
import { withStoreLock } from '../../src/image/gc.js';
import { pruneImages } from '../../src/image/usage.js';
import { MAX_DOCUMENT } from '../../src/image/archive/contents.js';
import { listImageRecords, readNames } from '../../src/image/records.js';
import { sha } from '../helpers/archive.js';
import { privileged } from '../helpers/root.js';
import { bin } from '../pod/env.js';
import { tarBuffer, type TarEntry } from '../helpers/tar.js';

const layer = tarBuffer([{ name: 'etc/', type: '5' }, { name: 'etc/hello', data: 'hello\n' }]);
const layer2 = tarBuffer([{ name: 'etc/second', data: 'second\n' }]);

function configFor(diffIds: string[]): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
}

interface LegacyImage { tags: string[]; layers: Buffer[]; config?: Buffer; names?: string[] }

/** A legacy docker save archive; each image's config lists the sha256 of its layers as given (or CONFIG). */
function legacy(images: LegacyImage[], o: { manifest?: unknown; extra?: TarEntry[] } = {}): TarEntry[] {
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  const manifest = images.map((img, i) => {
    const names = img.layers.map((l, j) => img.names?.[j] ?? `${sha(`${i} ${j} ${sha(l)}`)}/layer.tar`);
    for (const [j, l] of img.layers.entries()) {
      if (seen.has(names[j]!)) continue;
      seen.add(names[j]!);
      entries.push({ name: names[j]!, data: l });
    }
    const cfg = img.config ?? configFor(img.layers.map((l) => `sha256:${sha(l)}`));
    entries.push({ name: `${sha(cfg)}.json`, data: cfg });
    return { Config: `${sha(cfg)}.json`, RepoTags: img.tags, Layers: names };
  });
  entries.push(...(o.extra ?? []));
  entries.push({ name: 'manifest.json', data: JSON.stringify(o.manifest ?? manifest) });
  return entries;
}

/** An OCI layout (as tar entries) with one image named h:oci; MUTATE changes the documents before hashing. */
function oci(o: { manifest?: (m: Record<string, unknown>) => void; index?: (i: Record<string, unknown>) => void; blobs?: (b: TarEntry[]) => void } = {}): TarEntry[] {
  const cfg = configFor([`sha256:${sha(layer)}`]);
  const m: Record<string, unknown> = {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(cfg)}`, size: cfg.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}`, size: layer.length }],
  };
  o.manifest?.(m);
  const mb = Buffer.from(JSON.stringify(m));
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(mb)}`, size: mb.length, annotations: { 'org.opencontainers.image.ref.name': 'h:oci' } }],
  };
  o.index?.(index);
  const blobs: TarEntry[] = [
    { name: `blobs/sha256/${sha(layer)}`, data: layer },
    { name: `blobs/sha256/${sha(cfg)}`, data: cfg },
    { name: `blobs/sha256/${sha(mb)}`, data: mb },
  ];
  o.blobs?.(blobs);
  return [{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: JSON.stringify(index) }, ...blobs];
}

function setup(t: ExecutionContext): { store: string; dir: string } {
  const dir = mkdtempSync(join(process.env.PODNS_SANDBOX === '1' ? '/run' : tmpdir(), 'podns-archive-hostile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { store: join(dir, 'store'), dir };
}

function write(dir: string, name: string, data: Buffer | TarEntry[]): string {
  const f = join(dir, name);
  writeFileSync(f, Buffer.isBuffer(data) ? data : tarBuffer(data));
  return f;
}

/** Loads FILE expecting a refusal matching RE; then nothing is recorded or named, and no ingest file is left. */
async function refused(t: ExecutionContext, store: string, file: string, re: RegExp, code = 'EBADARCHIVE'): Promise<void> {
  const err = await t.throwsAsync(loadImages({ store, input: file }));
  t.regex(err?.message ?? '', re);
  t.is((err as { code?: string } | undefined)?.code, code, err?.message);
  t.false(err?.message.includes('\n'), 'one line');
  t.deepEqual(readNames(store), {});
  t.deepEqual(listImageRecords(store), []);
  t.deepEqual(existsSync(join(store, 'ingest')) ? readdirSync(join(store, 'ingest')) : [], [], 'no ingest file left');
}

privileged('the untouched fixtures load (legacy and OCI), so each hostile one fails by its defect', async (t) => {
  const { store, dir } = setup(t);
  t.deepEqual(await loadImages({ store, input: write(dir, 'ok.tar', legacy([{ tags: ['h:1'], layers: [layer] }])) }), [{ id: (await loadImages({ store, input: join(dir, 'ok.tar') }))[0]!.id, names: ['h:1'] }]);
  const r = await loadImages({ store, input: write(dir, 'oci.tar', oci()) });
  t.deepEqual(r[0]!.names, ['h:oci']);
});

privileged('entry names: "..", absolute, duplicated; a damaged header', async (t) => {
  const { store, dir } = setup(t);
  const base = legacy([{ tags: ['h:1'], layers: [layer] }]);
  await refused(t, store, write(dir, 'dotdot.tar', [{ name: '../evil.json', data: '{}' }, ...base]), /"\.\.\/evil\.json" has a "\.\." component/);
  await refused(t, store, write(dir, 'abs.tar', [{ name: '/abs.json', data: '{}' }, ...base]), /"\/abs\.json" is an absolute path/);
  await refused(t, store, write(dir, 'twice.tar', [...base, { name: 'manifest.json', data: '[]' }]), /"manifest\.json" appears twice/);
  const bad = Buffer.from(tarBuffer(base));
  bad[148] = 0x37; // checksum field
  await refused(t, store, write(dir, 'sum.tar', bad), /header checksum does not match/);
});

privileged('manifest.json paths are names inside the archive: "..", absolute, missing', async (t) => {
  const { store, dir } = setup(t);
  const cfg = configFor([`sha256:${sha(layer)}`]);
  const good = legacy([{ tags: ['h:1'], layers: [layer] }]);
  const layerName = (good.find((e) => e.name.endsWith('/layer.tar'))!).name;
  const with_ = (m: unknown) => legacy([{ tags: ['h:1'], layers: [layer] }], { manifest: m });
  await refused(t, store, write(dir, 'cfg-dotdot.tar', with_([{ Config: `x/../../${sha(cfg)}.json`, RepoTags: ['h:1'], Layers: [layerName] }])), /Config: ".*" has a "\.\." component/);
  await refused(t, store, write(dir, 'layer-abs.tar', with_([{ Config: `${sha(cfg)}.json`, RepoTags: ['h:1'], Layers: ['/etc/passwd'] }])), /Layers?.*"\/etc\/passwd" is an absolute path|layer 1.*absolute path/);
  await refused(t, store, write(dir, 'layer-missing.tar', with_([{ Config: `${sha(cfg)}.json`, RepoTags: ['h:1'], Layers: ['nothere/layer.tar'] }])), /"nothere\/layer\.tar" is not in the archive/);
  await refused(t, store, write(dir, 'badtag.tar', with_([{ Config: `${sha(cfg)}.json`, RepoTags: ['Bad Name!'], Layers: [layerName] }])), /is not an image reference/);
});

privileged('symlinked entries: absolute target, escaping target, a loop; a symlink in a layout directory', async (t) => {
  const { store, dir } = setup(t);
  const cfg = configFor([`sha256:${sha(layer)}`]);
  const doc = (layers: string[]) => ({ manifest: [{ Config: `${sha(cfg)}.json`, RepoTags: ['h:1'], Layers: layers }] });
  const mk = (extra: TarEntry[], layers: string[]) => legacy([{ tags: ['h:1'], layers: [layer] }], { ...doc(layers), extra });
  await refused(t, store, write(dir, 'ln-abs.tar', mk([{ name: 'l/layer.tar', type: '2', link: '/etc/passwd' }], ['l/layer.tar'])), /symbolic link "l\/layer\.tar" points at the absolute path "\/etc\/passwd"/);
  await refused(t, store, write(dir, 'ln-out.tar', mk([{ name: 'l/layer.tar', type: '2', link: '../../etc/passwd' }], ['l/layer.tar'])), /points at "\.\.\/\.\.\/etc\/passwd", outside the archive/);
  await refused(t, store, write(dir, 'ln-loop.tar', mk([{ name: 'a.tar', type: '2', link: 'b.tar' }, { name: 'b.tar', type: '2', link: 'a.tar' }], ['a.tar'])), /chain of more than 8 links/);
  await refused(t, store, write(dir, 'hl-out.tar', mk([{ name: 'h.tar', type: '1', link: '../x.tar' }], ['h.tar'])), /hard link "h\.tar".*"\.\." component/);
  // a layout directory: its blob is a symlink to a file outside
  const lay = join(dir, 'layout');
  for (const e of oci()) {
    mkdirSync(join(lay, e.name, '..'), { recursive: true });
    writeFileSync(join(lay, e.name), e.data!);
  }
  const blob = join(lay, 'blobs', 'sha256', sha(layer));
  rmSync(blob);
  writeFileSync(join(dir, 'outside'), layer);
  symlinkSync(join(dir, 'outside'), blob);
  await refused(t, store, lay, /is a symbolic link \(links are not followed in a layout directory\)/);
});

privileged('digests: a blob that does not hash to its name, a name that is not a digest, a descriptor digest with a path in it', async (t) => {
  const { store, dir } = setup(t);
  await refused(t, store, write(dir, 'corrupt.tar', oci({ blobs: (b) => { b[0]!.data = Buffer.concat([layer.subarray(0, 600), Buffer.from('X'), layer.subarray(601)]); } })), /its content hashes to sha256:/, 'EBADBLOB');
  await refused(t, store, write(dir, 'notdigest.tar', [...oci(), { name: 'blobs/sha256/notahexdigest', data: 'x' }]), /"sha256:notahexdigest" is not a valid sha256 digest/, 'EBADDIGEST');
  await refused(t, store, write(dir, 'pathdigest.tar', oci({ index: (i) => { (i.manifests as Array<Record<string, unknown>>)[0]!.digest = 'sha256:../../../../etc/passwd'; } })), /is not a valid sha256 digest/, 'EBADDIGEST');
  await refused(t, store, write(dir, 'size.tar', oci({ manifest: (m) => { (m.layers as Array<Record<string, unknown>>)[0]!.size = 10; } })), /is \d+ bytes, but the manifest says 10/);
});

privileged('diff_ids: an uncompressed layer (legacy and OCI) and a gzip one whose diff_id is not the config\'s; the other image of the archive is not kept', async (t) => {
  const { store, dir } = setup(t);
  const wrong = configFor([`sha256:${sha(layer2)}`]);
  await refused(t, store, write(dir, 'legacy.tar', legacy([{ tags: ['h:1'], layers: [layer], config: wrong }])), /hashes to sha256:[0-9a-f]{64}, but the config's diff_id for it is sha256:/);
  await refused(t, store, write(dir, 'oci.tar', oci({ blobs: (b) => { b[1]!.data = wrong; b[1]!.name = `blobs/sha256/${sha(wrong)}`; }, manifest: (m) => { m.config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(wrong)}`, size: wrong.length }; } })), /is an uncompressed tar whose digest is not the config's diff_id/);
  // two images: the first is fine, the second's gzip layer unpacks to another diff_id (found while unpacking)
  const gz = gzipSync(layer2);
  const second = configFor([`sha256:${sha(layer)}`, `sha256:${sha(layer)}`]);
  const err = await t.throwsAsync(loadImages({ store, input: write(dir, 'two.tar', legacy([{ tags: ['h:ok'], layers: [layer] }, { tags: ['h:bad'], layers: [layer, gz], config: second }])) }));
  t.regex(err?.message ?? '', /diff_?id/i);
  t.deepEqual(readNames(store), {}, 'no name, not even the good image\'s');
  t.deepEqual(listImageRecords(store), [], 'no record');
});

privileged('sizes: an oversized manifest.json and too many layers are refused before they are read', async (t) => {
  const { store, dir } = setup(t);
  const big = Buffer.alloc(MAX_DOCUMENT + 1, 0x20);
  await refused(t, store, write(dir, 'big.tar', [...legacy([{ tags: ['h:1'], layers: [layer] }]).filter((e) => e.name !== 'manifest.json'), { name: 'manifest.json', data: big }]), /"manifest\.json" is \d+ bytes, more than the \d+ allowed for a JSON document/);
  const many = legacy([{ tags: ['h:1'], layers: [layer] }], { manifest: [{ Config: 'x.json', RepoTags: [], Layers: Array.from({ length: 501 }, () => 'a.tar') }] });
  await refused(t, store, write(dir, 'many.tar', many), /Layers: expected a list of at most 500 strings/);
});

privileged('not an image archive, an old docker save, xz: one line naming the fix', async (t) => {
  const { store, dir } = setup(t);
  await refused(t, store, write(dir, 'text', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'.repeat(40))), /text is not a tar archive \(nor gzip or zstd of one\)/);
  await refused(t, store, write(dir, 'plain.tar', [{ name: 'etc/hello', data: 'x' }]), /neither index\.json \(an OCI layout\) nor manifest\.json/);
  await refused(t, store, write(dir, 'old.tar', [{ name: 'repositories', data: '{}' }]), /from before Docker 1\.10/);
  await refused(t, store, write(dir, 'xz.tar.xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3])), /compressed with xz.*xz -dc FILE \| podns image load -i -/);
});

privileged('a load holds the store\'s gc lock (image prune waits for it); prune then collects what a refused load left', async (t) => {
  const { store, dir } = setup(t);
  const ok = write(dir, 'ok.tar', legacy([{ tags: ['h:1'], layers: [layer] }]));
  let release: () => void = () => {};
  let held!: () => void;
  const holding = new Promise<void>((r) => (held = r));
  const prune = withStoreLock(store, 'ex', () => new Promise<void>((r) => { release = r; held(); }));
  await holding;
  t.teardown(() => release());
  const load = loadImages({ store, input: ok });
  await sleep(300);
  t.deepEqual(listImageRecords(store), [], 'the load waits while a collector holds the lock');
  t.false(existsSync(join(store, 'blobs')), 'not one blob yet');
  release();
  await prune;
  t.deepEqual((await load)[0]!.names, ['h:1']);
  // a refused load leaves verified blobs and no record: image prune removes them
  const wrong = configFor([`sha256:${sha(layer2)}`]);
  const before = new ContentStore(store).list();
  await t.throwsAsync(loadImages({ store, input: write(dir, 'bad.tar', legacy([{ tags: ['h:2'], layers: [layer2, layer], config: wrong }])) }));
  const left = new ContentStore(store).list().filter((d) => !before.includes(d));
  t.true(left.length > 0, 'the refused load left blobs');
  const r = await pruneImages({ store, root: join(dir, 'root') });
  t.deepEqual(r.blobs.slice().sort(), left.slice().sort());
  t.deepEqual(new ContentStore(store).list(), before, 'the loaded image keeps its blobs');
});

privileged('kill -9 of a load mid-stream: no record, no name; image prune removes its ingest file', async (t) => {
  const { store, dir } = setup(t);
  const big = tarBuffer([{ name: 'data', data: randomBytes(4 << 20) }]);
  const archive = tarBuffer(legacy([{ tags: ['h:big'], layers: [big] }]));
  const child = spawn('node', [bin, 'image', 'load', '-i', '-'], { env: { ...process.env, PODNS_STORE: store }, stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => child.kill('SIGKILL'));
  child.stdin.on('error', () => {});
  child.stdin.write(archive.subarray(0, 2 << 20));
  const ingest = join(store, 'ingest');
  for (let i = 0; i < 200 && !(existsSync(ingest) && readdirSync(ingest).some((f) => f.startsWith(`put-${child.pid}-`))); i++) await sleep(25);
  t.true(readdirSync(ingest).some((f) => f.startsWith(`put-${child.pid}-`)), 'the layer was being ingested');
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.deepEqual(readNames(store), {});
  t.deepEqual(listImageRecords(store), []);
  const r = await pruneImages({ store, root: join(dir, 'root') });
  t.true(r.ingest.some((f) => f.startsWith(`put-${child.pid}-`)), r.ingest.join(' '));
  t.deepEqual(readdirSync(ingest), []);
});
