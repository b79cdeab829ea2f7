// Pulled images end to end: Debian's docker-registry on 127.0.0.1 inside the test sandbox (test/helpers/registry.ts),
// images made by umoci from busybox-static and pushed by skopeo; pullImage → blobs, one unpacked layer per
// ChainID, the record and its name; `podns run --image` of the pulled image runs a real workload.
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentStore } from '../../src/image/content/store.js';
import { chainIds } from '../../src/image/digest.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { pullImage, type ImagePullEvent } from '../../src/image/pull.js';
import { readNames } from '../../src/image/records.js';
import { createTestPod, useContainerEnv } from '../container/env.js';
import type { TestEnv } from '../pod/env.js';
import { logsOf } from '../helpers/logs.js';
import { skipReason } from '../helpers/root.js';
import { makeOciImage, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const missing = registryToolsMissing() ?? skipReason();
let E: TestEnv | undefined;
let reg: RunningRegistry | undefined;

/** Layers of an image, bottom first: busybox, /etc/hello; "second" adds /etc/second on top of both. */
useContainerEnv('pull', 181, async (env, work) => {
  if (registryToolsMissing() !== undefined) return;
  E = env;
  reg = await startRegistry(join(work, 'registry'));
  const { layout } = await makeOciImage(join(work, 'img'), { files: { '/etc/hello': 'hello from a pulled layer\n' } });
  const f = join(work, 'second.txt');
  await execa('sh', ['-c', 'printf "second image\\n" > "$1"', 'sh', f]);
  await execa('umoci', ['insert', '--image', `${layout}:latest`, '--tag', 'second', f, '/etc/second']);
  const plain = ['--dest-tls-verify=false'];
  await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/busybox:v1`, plain);
  await skopeoCopy(`oci:${layout}:second`, `docker://${reg.host}/t/second:v1`, plain);
});

test.after.always(async () => {
  await reg?.stop();
});

function serial(title: string, fn: (t: ExecutionContext, e: TestEnv, r: RunningRegistry) => Promise<void>): void {
  if (missing !== undefined) test.skip(`${title} [skipped: ${missing}]`, () => {});
  else test.serial(title, (t) => fn(t, E!, reg!));
}

serial('pullImage: blobs verified, each layer unpacked once by ChainID, the record (kind layers) and its name', async (t, e, r) => {
  const events: ImagePullEvent[] = [];
  const res = await pullImage({ ref: `${r.host}/t/busybox:v1`, onProgress: (ev) => events.push(ev) });
  t.is(res.ref, `${r.host}/t/busybox:v1`);
  t.is(res.id, res.record.id);
  t.is(res.digest, res.id, 'no index: the digest is the manifest digest');
  t.is(res.record.kind, 'layers');
  t.is(res.record.layers!.length, 2);
  t.deepEqual(res.record.layers!.map((l) => l.chainId), chainIds(res.record.layers!.map((l) => l.diffId)));
  t.regex(res.record.platform!, /^linux\/[a-z0-9]+/);
  t.deepEqual(res.record.config.cmd, ['/bin/busybox', 'sh']);
  t.is(readNames(e.store)[`${r.host}/t/busybox:v1`], res.id);
  const content = new ContentStore(e.store);
  for (const d of [res.id, res.record.configDigest!, ...res.record.layers!.map((l) => l.digest)]) t.true(content.has(d), d);
  const layers = new LayerStore(e.store);
  t.is(readFileSync(join(layers.get(res.record.layers![1]!.chainId)!.dir, 'etc', 'hello'), 'utf8'), 'hello from a pulled layer\n');
  t.deepEqual(events.filter((x) => x.type === 'unpack' && x.state === 'done').map((x) => (x as { index: number }).index).sort(), [0, 1]);
  t.true(events.some((x) => x.type === 'resolved'));
});

serial('run --image of the pulled image: the workload runs from the layers and prints', async (t, e, r) => {
  await createTestPod(e, 'p1');
  const run = await e.cli(['run', 'p1', '--name', 'c', '--image', `${r.host}/t/busybox:v1`, '--', '/bin/busybox', 'cat', '/etc/hello']);
  t.is(run.exitCode, 0, run.stderr);
  t.regex(await logsOf(e, 'p1', 'c', /hello/), /hello from a pulled layer/);
  const cfg = JSON.parse(readFileSync(join(e.root, 'pods', 'p1', 'containers', 'c', 'config.json'), 'utf8')) as { imageLayers: string[]; lowerDirs: string[]; rootfs: string };
  t.is(cfg.imageLayers.length, 2);
  t.is(cfg.lowerDirs.length, 1);
  t.true(cfg.rootfs.startsWith(join(e.store, 'layers')));
  t.is((await e.cli(['delete', '--grace', '0', 'p1'])).exitCode, 0);
});

serial('two images sharing a base: one blob and one unpacked layer per shared ChainID; only the new layer is unpacked', async (t, e, r) => {
  const first = await pullImage({ ref: `${r.host}/t/busybox:v1` });
  const events: ImagePullEvent[] = [];
  const second = await pullImage({ ref: `${r.host}/t/second:v1`, onProgress: (ev) => events.push(ev) });
  t.not(first.id, second.id);
  t.deepEqual(second.record.layers!.slice(0, 2), first.record.layers);
  const unpack = events.filter((x): x is Extract<ImagePullEvent, { type: 'unpack' }> => x.type === 'unpack');
  t.deepEqual(unpack.filter((x) => x.state === 'cached').map((x) => x.index).sort(), [0, 1]);
  t.deepEqual(unpack.filter((x) => x.state === 'done').map((x) => x.index), [2]);
  t.deepEqual(events.filter((x) => x.type === 'blob' && x.what === 'layer' && x.state === 'cached').map((x) => (x as { index: number }).index).sort(), [0, 1]);
  t.is(new LayerStore(e.store).list().length, 3);
  const blobs = readdirSync(join(e.store, 'blobs', 'sha256'));
  for (const l of second.record.layers!) t.is(blobs.filter((b) => `sha256:${b}` === l.digest).length, 1);
  t.true(existsSync(join(e.store, 'images', 'sha256', second.id.slice(7), 'image.json')));
});
