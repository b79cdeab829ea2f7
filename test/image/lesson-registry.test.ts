// The lesson's two-containers manifest (src/tour/stage.ts MANIFEST, introduction/pod/pause.yaml) run from images
// pulled from a registry: hwchiu/netutils and nginx are not reachable here (no network outside the sandbox), so
// busybox-based stand-ins are built with umoci and pushed under those names to Debian's docker-registry on
// 127.0.0.1; the manifest names that registry, and its pull policy is Kubernetes' default (Always: no tag).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readNames } from '../../src/image/records.js';
import { MANIFEST, NETUTILS_CMD, NGINX_CMD } from '../../src/tour/stage.js';
import { useContainerEnv } from '../container/env.js';
import type { TestEnv } from '../pod/env.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { skipReason } from '../helpers/root.js';
import { makeRootfsImage, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const missing = registryToolsMissing() ?? skipReason();
const PAGE = 'served by a pulled image\n';
let E: TestEnv | undefined;
let reg: RunningRegistry | undefined;
let work = '';

useContainerEnv('lesson', 183, async (env, w) => {
  if (registryToolsMissing() !== undefined) return;
  E = env;
  work = w;
  reg = await startRegistry(join(w, 'registry'));
  const plain = ['--dest-tls-verify=false'];
  const net = await makeRootfsImage(join(w, 'netutils'), makeBusyboxRootfs(join(w, 'netutils-rootfs')), { cmd: NETUTILS_CMD });
  await skopeoCopy(`oci:${net.layout}:latest`, `docker://${reg.host}/hwchiu/netutils:latest`, plain);
  const www = await makeRootfsImage(join(w, 'nginx'), makeBusyboxRootfs(join(w, 'nginx-rootfs'), { www: PAGE }), { cmd: NGINX_CMD });
  await skopeoCopy(`oci:${www.layout}:latest`, `docker://${reg.host}/nginx:latest`, plain);
});

test.after.always(async () => {
  await reg?.stop();
});

(missing === undefined ? test : test.skip)(`the lesson's two-containers manifest runs from images pulled from the loopback registry${missing !== undefined ? ` [skipped: ${missing}]` : ''}`, async (t) => {
  const e = E!;
  const r = reg!;
  const manifest = MANIFEST.replace('image: hwchiu/netutils', `image: ${r.host}/hwchiu/netutils`).replace('image: nginx', `image: ${r.host}/nginx`);
  t.not(manifest, MANIFEST);
  const file = join(work, 'two-containers.yaml');
  writeFileSync(file, manifest);
  const apply = await e.cli(['apply', '-f', file, '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(apply.exitCode, 0, apply.stderr);
  t.is(apply.stdout, 'pod/two-containers created');
  t.regex(apply.stderr, /hwchiu\/netutils:latest: sha256:[a-f0-9]{64} \(1 layer,/, 'pulled: progress on stderr');
  t.truthy(readNames(e.store)[`${r.host}/hwchiu/netutils:latest`]);
  t.truthy(readNames(e.store)[`${r.host}/nginx:latest`]);
  let page = '';
  for (let i = 0; i < 100 && page !== PAGE.trimEnd(); i++) {
    page = (await e.cli(['exec', 'two-containers', '-c', 'client', '--', 'wget', '-qO-', '127.0.0.1'])).stdout;
    if (page !== PAGE.trimEnd()) await sleep(100);
  }
  t.is(page, PAGE.trimEnd(), 'the client reaches nginx over the pod\'s shared loopback');
  const ps = await e.cli(['ps', 'two-containers']);
  t.regex(ps.stdout, /client\s+.*Running/);
  t.regex(ps.stdout, /www-server\s+.*Running/);
  // applied again: unchanged, and Always asked the registry (nothing new: no layer downloaded)
  const again = await e.cli(['apply', '-f', file, '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout, 'pod/two-containers unchanged');
  t.is((await e.cli(['delete', '-f', file, '--grace', '0'])).exitCode, 0);
});
