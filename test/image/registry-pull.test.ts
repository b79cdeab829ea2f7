// pullToContent against Debian's real docker-registry on 127.0.0.1 (inside the test sandbox), with fixtures made
// by umoci from busybox-static and pushed by skopeo: an OCI image, a Docker schema 2 image, a zstd layer, a
// multi-arch index; cache use (HEAD, offline by digest); registry errors as one line.
import test from 'ava';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PodnsError } from '../../src/errors.js';
import { ContentStore } from '../../src/image/content/store.js';
import { MediaType } from '../../src/image/oci.js';
import { pullToContent, RegistryError, type PullEvent } from '../../src/image/registry/index.js';
import { skipReason } from '../helpers/root.js';
import { getJson, makeOciImage, putManifest, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const missing = registryToolsMissing() ?? skipReason();
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Fixture {
  dir: string;
  reg: RunningRegistry;
  indexDigest: string;
  amd64: string;
  arm64: string;
}

let fx: Fixture | undefined;

function store(t: { teardown(fn: () => void): void }): ContentStore {
  const d = mkdtempSync(join(tmpdir(), 'podns-pull-store-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return new ContentStore(d);
}

if (missing !== undefined) {
  test.skip(`registry pull tests [skipped: ${missing}]`, () => {});
} else {
  test.before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podns-registry-'));
    const reg = await startRegistry(join(dir, 'registry'));
    const { layout } = await makeOciImage(join(dir, 'img'), { files: { '/etc/hello': 'hello from the layer\n' } });
    const plain = ['--dest-tls-verify=false'];
    await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/busybox:oci`, plain);
    await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/busybox:v2s2`, [...plain, '--format', 'v2s2']);
    // zstd: to a dir with the layer recompressed, then to the registry as it is (skopeo reuses known blobs otherwise)
    await skopeoCopy(`oci:${layout}:latest`, `dir:${join(dir, 'zstd')}`, ['--dest-compress', '--dest-compress-format', 'zstd']);
    await skopeoCopy(`dir:${join(dir, 'zstd')}`, `docker://${reg.host}/t/zstd:latest`, plain);
    // a multi-arch index: an arm64 image (its config says so) and the amd64 one, then the index PUT by the test
    const arm = await makeOciImage(join(dir, 'arm'), { arch: 'arm64' });
    await skopeoCopy(`oci:${arm.layout}:latest`, `docker://${reg.host}/t/multi:arm64`, plain);
    await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/multi:amd64`, plain);
    const acc = MediaType.ociManifest;
    const a = await getJson(reg.host, '/v2/t/multi/manifests/amd64', acc);
    const b = await getJson(reg.host, '/v2/t/multi/manifests/arm64', acc);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: acc, digest: sha(b.body), size: b.body.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: acc, digest: sha(a.body), size: a.body.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: acc, digest: sha(a.body), size: a.body.length, platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    }));
    const indexDigest = await putManifest(reg.host, 't/multi', 'latest', index, MediaType.ociIndex);
    fx = { dir, reg, indexDigest, amd64: sha(a.body), arm64: sha(b.body) };
  });

  test.after.always(async () => {
    if (fx === undefined) return;
    await fx.reg.stop();
    rmSync(fx.dir, { recursive: true, force: true });
  });

  test.serial('an OCI image by tag: manifest, config, layer in the store, digests and diff_id right', async (t) => {
    const s = store(t);
    const events: PullEvent[] = [];
    const r = await pullToContent({ ref: `${fx!.reg.host}/t/busybox:oci`, store: s, onProgress: (e) => events.push(e) });
    t.is(r.name, `${fx!.reg.host}/t/busybox`);
    t.is(r.tag, 'oci');
    t.is(r.manifest.mediaType, MediaType.ociManifest);
    t.is(r.layers.length, 2);
    t.is(r.config.architecture, 'amd64');
    t.deepEqual(r.config.config?.Cmd, ['/bin/busybox', 'sh']);
    t.true(s.has(r.manifestDigest) && s.has(r.configDigest));
    t.is(sha(readFileSync(s.path(r.manifestDigest))), r.manifestDigest);
    // each layer is the registry's bytes, and gunzips to a tar whose sha256 is the config's diff_id
    for (const [i, l] of r.layers.entries()) {
      const blob = readFileSync(s.path(l.digest));
      t.is(sha(blob), l.digest);
      t.is(sha(gunzipSync(blob)), r.diffIds[i]);
    }
    const tar = gunzipSync(readFileSync(s.path(r.layers[0]!.digest)));
    t.true(tar.includes(Buffer.from('bin/busybox')));
    t.deepEqual(events.filter((e) => e.type === 'blob' && e.state === 'done').length, 3, 'config + 2 layers downloaded');
    // again: HEAD says the same digest, everything is cached
    const again: PullEvent[] = [];
    const r2 = await pullToContent({ ref: `${fx!.reg.host}/t/busybox:oci`, store: s, onProgress: (e) => again.push(e) });
    t.is(r2.manifestDigest, r.manifestDigest);
    t.deepEqual(again.filter((e) => e.type === 'blob').map((e) => (e as { state: string }).state), ['cached', 'cached', 'cached']);
  });

  test.serial('a Docker schema 2 image', async (t) => {
    const s = store(t);
    const r = await pullToContent({ ref: `${fx!.reg.host}/t/busybox:v2s2`, store: s });
    t.is(r.manifest.mediaType, MediaType.dockerManifest);
    t.is(r.manifest.config.mediaType, MediaType.dockerConfig);
    t.true(r.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip));
    t.true(r.layers.every((l) => s.has(l.digest)));
  });

  test.serial('a zstd layer is stored as the registry has it (magic bytes 28 b5 2f fd)', async (t) => {
    const s = store(t);
    const r = await pullToContent({ ref: `${fx!.reg.host}/t/zstd`, store: s });
    t.true(r.layers.every((l) => l.mediaType === MediaType.ociLayerZstd));
    for (const [i, l] of r.layers.entries()) {
      const blob = readFileSync(s.path(l.digest));
      t.deepEqual([...blob.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
      const plain = await execa('zstd', ['-dc'], { input: blob, encoding: 'buffer', stripFinalNewline: false });
      t.is(sha(Buffer.from(plain.stdout)), r.diffIds[i]);
    }
  });

  test.serial('an index: the host platform by default, another on request, a missing one lists what there is', async (t) => {
    const s = store(t);
    const host = await pullToContent({ ref: `${fx!.reg.host}/t/multi`, store: s });
    t.is(host.indexDigest, fx!.indexDigest);
    t.is(host.manifestDigest, process.arch === 'arm64' ? fx!.arm64 : fx!.amd64);
    const arm = await pullToContent({ ref: `${fx!.reg.host}/t/multi`, store: s, platform: 'linux/arm64' });
    t.is(arm.manifestDigest, fx!.arm64);
    t.is(arm.config.architecture, 'arm64');
    t.true(s.has(fx!.indexDigest), 'the index is stored too');
    const err = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/t/multi`, store: s, platform: 'linux/s390x' }), { instanceOf: PodnsError });
    t.is(err!.code, 'ENOPLATFORM');
    t.is(err!.message, `${fx!.reg.host}/t/multi:latest (an index) has no image for linux/s390x; it has linux/arm64/v8, linux/amd64; choose one with --platform`);
    await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/t/multi`, store: s, platform: 'linux/arm64/v7' }), { message: /no image for linux\/arm64\/v7/ });
    await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/t/multi`, store: s, platform: 'linux' }), { message: /must be os\/arch/ });
  });

  test.serial('by digest; registry stopped: a digest reference is served from the store, a tag only with the cached digest', async (t) => {
    const s = store(t);
    const first = await pullToContent({ ref: `${fx!.reg.host}/t/busybox:oci`, store: s });
    const byDigest = await pullToContent({ ref: `${fx!.reg.host}/t/busybox@${first.manifestDigest}`, store: s });
    t.is(byDigest.manifestDigest, first.manifestDigest);
    t.is(byDigest.tag, undefined);
    await fx!.reg.stop();
    try {
      const off = await pullToContent({ ref: `${fx!.reg.host}/t/busybox@${first.manifestDigest}`, store: s, attempts: 1 });
      t.is(off.configDigest, first.configDigest);
      const warnings: string[] = [];
      const tagged = await pullToContent({ ref: `${fx!.reg.host}/t/busybox:oci`, store: s, cachedDigest: first.manifestDigest, attempts: 1, onWarning: (w) => warnings.push(w) });
      t.is(tagged.manifestDigest, first.manifestDigest);
      t.regex(warnings[0] ?? '', /cannot be reached .*using the stored sha256:/);
      const err = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/t/busybox:oci`, store: store(t), attempts: 1 }));
      t.regex(err!.message, /ECONNREFUSED/);
      t.false(err!.message.includes('\n'));
    } finally {
      await fx!.reg.start();
    }
  });

  test.serial('registry errors are one line: unknown tag, unknown repository, manifest digest that is not there', async (t) => {
    const s = store(t);
    const e1 = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/t/busybox:nope`, store: s }), { instanceOf: RegistryError });
    t.is(e1!.message, `${fx!.reg.host}/t/busybox:nope: not found on ${fx!.reg.host} (MANIFEST_UNKNOWN); check the tag or digest`);
    const e2 = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/no/such`, store: s }), { instanceOf: RegistryError });
    t.regex(e2!.message, /not found on 127\.0\.0\.1:\d+ \((NAME|MANIFEST)_UNKNOWN\)/);
    const e3 = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/t/busybox@sha256:${'0'.repeat(64)}`, store: s }), { instanceOf: RegistryError });
    t.regex(e3!.message, /MANIFEST_UNKNOWN/);
    t.deepEqual(s.list(), [], 'nothing stored');
  });
}
