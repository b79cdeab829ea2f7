// One state root for every entry point: resolveRoot (src/state/paths.ts), and the library calls that once
// ignored PODNS_ROOT (importImage, applyManifest) now honour it. The same for the image store (resolveStore,
// src/state/store-root.ts: --store, PODNS_STORE, /var/lib/podns).
import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { applyManifest, DEFAULT_ROOT, DEFAULT_STORE, importImage, listImages, PodnsError, resolveRoot, resolveStore } from '../../src/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';

// These tests change process.env.PODNS_ROOT and PODNS_STORE: serial, and each puts it back.
function withEnvRoot<T>(value: string | undefined, fn: () => T, name = 'PODNS_ROOT'): T {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  const restore = () => {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  };
  try {
    const r = fn();
    if (r instanceof Promise) return r.finally(restore) as T;
    restore();
    return r;
  } catch (err) {
    restore();
    throw err;
  }
}

test.serial('resolveRoot: the option, else PODNS_ROOT, else /run/podns; always absolute', (t) => {
  withEnvRoot(undefined, () => {
    t.is(resolveRoot(), DEFAULT_ROOT);
    t.is(resolveRoot(undefined), '/run/podns');
    t.is(resolveRoot('/x/y/'), '/x/y');
    t.is(resolveRoot('rel'), resolve('rel'));
  });
  withEnvRoot('/from/env', () => {
    t.is(resolveRoot(), '/from/env');
    t.is(resolveRoot('/opt'), '/opt', 'the option wins over the environment');
  });
  withEnvRoot('envrel', () => t.is(resolveRoot(), resolve('envrel')));
  withEnvRoot('', () => t.is(resolveRoot(), DEFAULT_ROOT, 'an empty PODNS_ROOT is unset'));
  const err = t.throws(() => resolveRoot(''), { instanceOf: PodnsError });
  t.is((err as PodnsError).code, 'EUSAGE');
  t.regex(err!.message, /state root is empty/);
});

test.serial('resolveStore: the option, else PODNS_STORE, else /var/lib/podns; always absolute', (t) => {
  withEnvRoot(undefined, () => {
    t.is(resolveStore(), DEFAULT_STORE);
    t.is(DEFAULT_STORE, '/var/lib/podns', 'on disk, not on /run: images outlive a reboot');
    t.is(resolveStore('/x/y/'), '/x/y');
    t.is(resolveStore('rel'), resolve('rel'));
  }, 'PODNS_STORE');
  withEnvRoot('/from/env', () => {
    t.is(resolveStore(), '/from/env');
    t.is(resolveStore('/opt'), '/opt', 'the option wins over the environment');
  }, 'PODNS_STORE');
  withEnvRoot('', () => t.is(resolveStore(), DEFAULT_STORE, 'an empty PODNS_STORE is unset'), 'PODNS_STORE');
  t.throws(() => resolveStore(''), { message: /image store is empty/ });
});

if (busyboxAvailable()) {
  test.serial('importImage and applyManifest without a root or store use PODNS_ROOT and PODNS_STORE', async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'podns-test-root-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const root = join(work, 'root');
    const store = join(work, 'store');
    const src = makeBusyboxRootfs(join(work, 'src'));
    await withEnvRoot(root, () => withEnvRoot(store, async () => {
      const rec = await importImage({ name: 'rootcheck', source: src, config: { cmd: ['sleep', '1'] } });
      t.is(rec.ref, 'rootcheck:latest');
      t.deepEqual(listImages({ store }).map((i) => i.ref), ['rootcheck:latest'], 'the image is in PODNS_STORE');
      t.false(existsSync(join(DEFAULT_ROOT, 'images')), 'and not under /run/podns');
      t.false(existsSync(join(root, 'images')), 'nor under the state root');
      // a dry run resolves the image in the store: found only when apply reads PODNS_ROOT
      const out: string[] = [];
      const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: rootcheck\nspec:\n  containers:\n  - name: c\n    image: rootcheck\n';
      const r = await applyManifest({ file: 'pod.yaml', text, dryRun: true, out: { write: (s: string) => out.push(s) }, err: { write: (s: string) => out.push(s) } });
      t.deepEqual(r, [{ pod: 'rootcheck', action: 'created' }], out.join(''));
    }, 'PODNS_STORE'));
  });
}
