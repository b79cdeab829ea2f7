// image load / image save end to end: archives skopeo writes in each format (docker-archive, oci-archive, an OCI
// directory) of images umoci makes from busybox-static, the layouts other producers write (docker save's legacy
// layout with shared layers as symlinks and no `repositories`, Docker >= 25's), several images per archive,
// standard input, compressed archives, a layer whose media type says gzip but is a plain tar; then save → skopeo
// inspect / copy and podman load (where podman is installed), save → load round trips, and run --image of a
// loaded image (and of an imported rootfs saved as a one-layer image and loaded back).
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chainIds } from '../../src/image/digest.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { listImageRecords, readImage, readNames } from '../../src/image/records.js';
import { createTestPod, useContainerEnv } from '../container/env.js';
import { bin, type TestEnv } from '../pod/env.js';
import { asDockerSchema2, decompressLayers, dockerArchiveParts, writeDocker25Archive, writeLegacyArchive } from '../helpers/archive.js';
import { makeBusyboxTar } from '../helpers/busybox.js';
import { logsOf } from '../helpers/logs.js';
import { skipReason } from '../helpers/root.js';
import { makeOciImage, registryToolsMissing, skopeoCopy } from '../helpers/registry.js';

const missing = registryToolsMissing() ?? skipReason();
let E: TestEnv | undefined;
let W = '';
let layout = '';

useContainerEnv('arc', 227, async (env, work) => {
  if (registryToolsMissing() !== undefined) return;
  E = env;
  W = work;
  ({ layout } = await makeOciImage(join(work, 'img'), { files: { '/etc/hello': 'hello from an archive\n' } }));
  const f = join(work, 'second.txt');
  writeFileSync(f, 'second image\n');
  await execa('umoci', ['insert', '--image', `${layout}:latest`, '--tag', 'second', f, '/etc/second']);
  await skopeoCopy(`oci:${layout}:latest`, `docker-archive:${join(work, 'da.tar')}:busybox:da`);
  await skopeoCopy(`oci:${layout}:second`, `docker-archive:${join(work, 'db.tar')}:busybox:db`);
  await skopeoCopy(`oci:${layout}:latest`, `oci-archive:${join(work, 'oa.tar')}:docker.io/library/busybox:oa`);
  await skopeoCopy(`oci:${layout}:latest`, `oci:${join(work, 'od')}:docker.io/library/busybox:od`);
});

function serial(title: string, fn: (t: ExecutionContext, e: TestEnv) => Promise<void>): void {
  if (missing !== undefined) test.skip(`${title} [skipped: ${missing}]`, () => {});
  else test.serial(title, (t) => fn(t, E!));
}

async function load(e: TestEnv, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const r = await e.cli(['image', 'load', ...args], extraEnv);
  if (r.exitCode !== 0) throw new Error(`image load ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function loadStdin(e: TestEnv, file: string): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const r = await execa('node', [bin, 'image', 'load', '-i', '-'], { env: e.env, inputFile: file, reject: false });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function fileIn(e: TestEnv, name: string, path: string): string | undefined {
  const rec = readImage(e.store, readNames(e.store)[name]!)!;
  const layers = new LayerStore(e.store);
  for (const l of [...rec.layers!].reverse()) {
    const p = join(layers.get(l.chainId)!.dir, path);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  return undefined;
}

serial('load: skopeo docker-archive (HEX.tar layers, legacy dirs as symlinks); the same archive gives the same id', async (t, e) => {
  t.is(await load(e, ['-i', join(W, 'da.tar')]), 'Loaded image: busybox:da');
  const id = readNames(e.store)['busybox:da']!;
  const rec = readImage(e.store, id)!;
  t.is(rec.kind, 'layers');
  t.is(rec.layers!.length, 2);
  t.deepEqual(rec.layers!.map((l) => l.chainId), chainIds(rec.layers!.map((l) => l.diffId)));
  t.true(rec.layers!.every((l) => l.digest === l.diffId), 'docker-archive layers are uncompressed: digest = diff_id');
  t.deepEqual(rec.config.cmd, ['/bin/busybox', 'sh']);
  t.is(fileIn(e, 'busybox:da', 'etc/hello'), 'hello from an archive\n');
  await load(e, ['-i', join(W, 'da.tar')]);
  t.is(readNames(e.store)['busybox:da'], id);
});

serial('load: oci-archive (tar), the same tar gzip-compressed on standard input, zstd-compressed, and an OCI directory', async (t, e) => {
  t.is(await load(e, ['-i', join(W, 'oa.tar')]), 'Loaded image: busybox:oa');
  const id = readNames(e.store)['busybox:oa']!;
  const index = JSON.parse(readFileSync(join(W, 'od', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  t.is(id, index.manifests[0]!.digest, 'the id is the manifest digest skopeo wrote');
  const gz = join(W, 'oa.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(join(W, 'oa.tar'))));
  const r = await loadStdin(e, gz);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'Loaded image: busybox:oa');
  await execa('zstd', ['-q', '-f', join(W, 'oa.tar'), '-o', join(W, 'oa.tar.zst')]);
  t.is(await load(e, ['-i', join(W, 'oa.tar.zst')]), 'Loaded image: busybox:oa');
  t.is(await load(e, ['-i', join(W, 'od')]), 'Loaded image: busybox:od');
  t.is(readNames(e.store)['busybox:od'], id);
  t.is(fileIn(e, 'busybox:od', 'etc/hello'), 'hello from an archive\n');
});

serial('load: Docker >= 25 layout (OCI layout + manifest.json, containerd name + bare tag annotations): one image, one name', async (t, e) => {
  const f = join(W, 'd25.tar');
  await writeDocker25Archive(f, W, layout, 'latest', 'busybox:d25');
  t.is(await load(e, ['-i', f]), 'Loaded image: busybox:d25');
  const rec = readImage(e.store, readNames(e.store)['busybox:d25']!)!;
  t.true(rec.layers!.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar'));
  t.is(fileIn(e, 'busybox:d25', 'etc/hello'), 'hello from an archive\n');
});

serial('load: legacy docker save of two images sharing layers (symlinked layer.tar, no repositories, a gzip layer.tar)', async (t, e) => {
  const a = await dockerArchiveParts(join(W, 'da.tar'), join(W, 'parts-a'));
  const b = await dockerArchiveParts(join(W, 'db.tar'), join(W, 'parts-b'));
  const f = writeLegacyArchive(join(W, 'legacy.tar'), [{ ...a, tags: ['busybox:la'] }, { ...b, tags: ['busybox:lb', 'other/name:v2'] }], { repositories: false, gzipTop: [1] });
  const listing = (await execa('tar', ['-tvf', f])).stdout;
  t.regex(listing, /layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar/, 'the shared layer is a symlink, as docker writes it');
  t.notRegex(listing, /repositories/);
  t.is(await load(e, ['-i', f]), 'Loaded image: busybox:la\nLoaded image: busybox:lb\nLoaded image: other/name:v2');
  const ra = readImage(e.store, readNames(e.store)['busybox:la']!)!;
  const rb = readImage(e.store, readNames(e.store)['busybox:lb']!)!;
  t.is(rb.layers!.length, 3);
  t.deepEqual(rb.layers!.slice(0, 2).map((l) => l.chainId), ra.layers!.map((l) => l.chainId), 'the base is one chain');
  t.is(rb.layers![2]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip', 'told by magic, not by name');
  t.not(rb.layers![2]!.digest, rb.layers![2]!.diffId);
  t.is(fileIn(e, 'busybox:lb', 'etc/second'), 'second image\n');
  t.is(readNames(e.store)['other/name:v2'], rb.id);
});

serial('load: an OCI tar of several images, one named only by a bare tag (loaded by id)', async (t, e) => {
  const dir = join(W, 'multi');
  await skopeoCopy(`oci:${layout}:latest`, `oci:${dir}:docker.io/library/multi:one`);
  await skopeoCopy(`oci:${layout}:second`, `oci:${dir}:two`);
  const f = join(W, 'multi.tar');
  await execa('tar', ['-cf', f, '-C', dir, ...readdirSync(dir)]);
  const out = await load(e, ['-i', f]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  t.is(out, `Loaded image: multi:one\nLoaded image ID: ${index.manifests[1]!.digest}`);
  t.truthy(readImage(e.store, index.manifests[1]!.digest));
  const json = await e.cli(['image', 'load', '-i', f, '-o', 'json']);
  t.deepEqual(JSON.parse(json.stdout), [{ id: index.manifests[0]!.digest, names: ['multi:one'] }, { id: index.manifests[1]!.digest, names: [] }]);
});

serial('load: a layer whose media type says gzip but is a plain tar (a producer quirk) loads and runs', async (t, e) => {
  const dir = join(W, 'quirk');
  await skopeoCopy(`oci:${layout}:latest`, `oci:${dir}:docker.io/library/busybox:quirk`);
  const m = decompressLayers(dir, 'application/vnd.oci.image.layer.v1.tar+gzip');
  t.is(readFileSync(join(dir, 'blobs', 'sha256', m.layers[0]!.digest.slice(7))).subarray(0, 2).toString('hex') === '1f8b', false, 'the blob is a plain tar');
  t.is(await load(e, ['-i', dir]), 'Loaded image: busybox:quirk');
  t.is(fileIn(e, 'busybox:quirk', 'etc/hello'), 'hello from an archive\n');
});

serial('run --image of a loaded image runs from its layers', async (t, e) => {
  await createTestPod(e, 'p1');
  const run = await e.cli(['run', 'p1', '--name', 'c', '--image', 'busybox:lb', '--', '/bin/busybox', 'cat', '/etc/hello', '/etc/second']);
  t.is(run.exitCode, 0, run.stderr);
  t.regex(await logsOf(e, 'p1', 'c', /second image/), /hello from an archive\nsecond image/);
});

serial('save: an OCI archive skopeo reads (inspect, copy by ref.name) and podns loads back to the same ids', async (t, e) => {
  const f = join(W, 'saved.tar');
  const r = await e.cli(['image', 'save', 'busybox:la', 'busybox:lb', 'other/name:v2', '-o', f]);
  t.is(r.exitCode, 0, r.stderr);
  const names = readNames(e.store);
  const raw = JSON.parse((await execa('skopeo', ['inspect', '--raw', `oci-archive:${f}:docker.io/library/busybox:lb`])).stdout) as { layers: unknown[] };
  t.is(raw.layers.length, 3);
  const ins = JSON.parse((await execa('skopeo', ['inspect', `oci-archive:${f}:docker.io/other/name:v2`])).stdout) as { Digest: string };
  t.is(ins.Digest, names['busybox:lb']);
  await skopeoCopy(`oci-archive:${f}:docker.io/library/busybox:la`, `oci:${join(W, 'copied')}:x`, ['--preserve-digests']);
  const copied = JSON.parse(readFileSync(join(W, 'copied', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  t.is(copied.manifests[0]!.digest, names['busybox:la'], 'skopeo copied the manifest byte for byte');
  // into a fresh store: the same images, the same names
  const other = join(W, 'store2');
  const out = await load(e, ['-i', f], { PODNS_STORE: other });
  t.is(out, 'Loaded image: busybox:la\nLoaded image: busybox:lb\nLoaded image: other/name:v2');
  t.deepEqual(readNames(other), { 'busybox:la': names['busybox:la'], 'busybox:lb': names['busybox:lb'], 'other/name:v2': names['other/name:v2'] });
});

serial('save of an image with a Docker schema 2 manifest (as pulled from Docker Hub): kept byte for byte, skopeo reads it', async (t, e) => {
  const dir = join(W, 'v2s2');
  await skopeoCopy(`oci:${layout}:latest`, `oci:${dir}:x`);
  const digest = asDockerSchema2(dir, 'docker.io/library/v2s2:x');
  t.is(await load(e, ['-i', dir]), 'Loaded image: v2s2:x');
  t.is(readNames(e.store)['v2s2:x'], digest);
  const f = join(W, 'v2s2.tar');
  const r = await e.cli(['image', 'save', 'v2s2:x', '-o', f]);
  t.is(r.exitCode, 0, r.stderr);
  const ins = JSON.parse((await execa('skopeo', ['inspect', `oci-archive:${f}`])).stdout) as { Digest: string };
  t.is(ins.Digest, digest);
  t.is(await load(e, ['-i', f], { PODNS_STORE: join(W, 'store4') }), 'Loaded image: v2s2:x');
  t.is(readNames(join(W, 'store4'))['v2s2:x'], digest);
});

const podman = existsSync('/usr/bin/podman') ? undefined : 'podman is not installed (apt-get install podman)';
(podman === undefined && missing === undefined ? test.serial : test.skip)(`save: podman load reads one image and several; podns loads what podman save writes${podman !== undefined ? ` [skipped: ${podman}]` : ''}`, async (t) => {
  const e = E!;
  const pm = (args: string[]) => execa('podman', ['--root', join(W, 'podman'), '--runroot', join(W, 'podman-run'), '--storage-driver', 'vfs', ...args], { env: { ...process.env, TMPDIR: W }, reject: false });
  const one = join(W, 'one.tar');
  t.is((await e.cli(['image', 'save', 'busybox:la', '-o', one])).exitCode, 0);
  const a = await pm(['load', '-i', one]);
  t.is(a.exitCode, 0, String(a.stderr));
  t.regex(String(a.stdout), /Loaded image: docker\.io\/library\/busybox:la/);
  const two = join(W, 'two.tar');
  t.is((await e.cli(['image', 'save', 'busybox:lb', 'other/name:v2', '-o', two])).exitCode, 0);
  const b = await pm(['load', '-i', two]);
  t.is(b.exitCode, 0, String(b.stderr));
  t.regex(String(b.stdout), /docker\.io\/library\/busybox:lb/);
  t.regex(String(b.stdout), /docker\.io\/other\/name:v2/);
  // and what podman writes, podns loads: a several-image docker-archive (podman save -m) and an oci-archive
  const pmd = join(W, 'podman-m.tar');
  t.is((await pm(['save', '-q', '-m', '-o', pmd, 'docker.io/library/busybox:lb', 'docker.io/other/name:v2'])).exitCode, 0);
  const store3 = join(W, 'store3');
  t.is(await load(e, ['-i', pmd], { PODNS_STORE: store3 }), 'Loaded image: busybox:lb\nLoaded image: other/name:v2');
  const pmo = join(W, 'podman-o.tar');
  t.is((await pm(['save', '-q', '--format', 'oci-archive', '-o', pmo, 'docker.io/library/busybox:la'])).exitCode, 0);
  t.is(await load(e, ['-i', pmo], { PODNS_STORE: store3 }), 'Loaded image: busybox:la');
  t.is(fileIn({ ...e, store: store3 }, 'busybox:lb', 'etc/second'), 'second image\n');
});

serial('save of an imported rootfs: a one-layer image that loads back and runs', async (t, e) => {
  const tar = makeBusyboxTar(join(W, 'imp'), join(W, 'imp.tar'), { files: { '/etc/imported': 'from an import\n' } });
  const imp = await e.cli(['image', 'import', 'imp:v1', tar, '--cmd', '["/bin/sh"]', '--env', 'A=b']);
  t.is(imp.exitCode, 0, imp.stderr);
  const f = join(W, 'imp-saved.tar');
  const r = await e.cli(['image', 'save', 'imp:v1', '-o', f]);
  t.is(r.exitCode, 0, r.stderr);
  const cfg = JSON.parse((await execa('skopeo', ['inspect', '--config', `oci-archive:${f}`])).stdout) as { config: { Cmd: string[]; Env: string[] }; rootfs: { diff_ids: string[] } };
  t.deepEqual(cfg.config.Cmd, ['/bin/sh']);
  t.deepEqual(cfg.config.Env, ['A=b']);
  t.is(cfg.rootfs.diff_ids.length, 1);
  t.is(await load(e, ['-i', f]), 'Loaded image: imp:v1');
  const rec = readImage(e.store, readNames(e.store)['imp:v1']!)!;
  t.is(rec.kind, 'layers');
  await createTestPod(e, 'p2');
  const run = await e.cli(['run', 'p2', '--name', 'c', '--image', 'imp:v1', '--', '/bin/busybox', 'cat', '/etc/imported']);
  t.is(run.exitCode, 0, run.stderr);
  t.regex(await logsOf(e, 'p2', 'c', /from an import/), /from an import/);
});

serial('load/save usage errors: one line each, nothing stored', async (t, e) => {
  const before = listImageRecords(e.store).length;
  const cases: Array<[string[], RegExp]> = [
    [['image', 'load'], /give the archive with -i FILE/],
    [['image', 'load', '-i', join(W, 'nope.tar')], /no such file or directory/],
    [['image', 'save', '-o', join(W, 'x.tar')], /name at least one image/],
    [['image', 'save', 'nosuch:v1', '-o', join(W, 'x.tar')], /image "nosuch:v1" not found/],
  ];
  for (const [args, re] of cases) {
    const r = await e.cli(args);
    t.not(r.exitCode, 0, args.join(' '));
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  t.false(existsSync(join(W, 'x.tar')));
  t.is(listImageRecords(e.store).length, before);
});
