// Layers made by applyLayer, mounted as a real overlay (in the test sandbox's own mount namespace):
// whiteouts and opaque directories hide what the lower layer had; a symlink of a lower layer is not
// followed by a later layer's entries (each layer is unpacked alone, in its own directory); and a layer
// made by umoci (a real producer) unpacks to the DiffID its image config lists.
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { chainIds } from '../../src/image/digest.js';
import { applyLayer } from '../../src/image/layers/apply.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { BUSYBOX, busyboxAvailable } from '../helpers/busybox.js';
import { apply, layerEnv, sha256, snapshot } from '../helpers/layer.js';
import { privileged } from '../helpers/root.js';
import { tarBuffer } from '../helpers/tar.js';

function mountOverlay(t: { teardown(fn: () => void): void }, lowers: string[], at: string): void {
  mkdirSync(at);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, at]);
  t.teardown(() => { spawnSync('umount', [at]); });
}

privileged('an overlay of two applied layers: whiteouts and opaque directories hide the lower layer; a lower symlink is not written through', async (t) => {
  const e = layerEnv(t);
  const l1 = e.fresh('l1');
  const l2 = e.fresh('l2');
  await apply(l1, tarBuffer([
    { name: 'etc/', type: '5' },
    { name: 'etc/passwd', data: 'root\n' },
    { name: 'etc/group', data: 'root\n' },
    { name: 'dir/', type: '5' },
    { name: 'dir/a', data: 'a' },
    { name: 'dir/b', data: 'b' },
    { name: 'opq/', type: '5' },
    { name: 'opq/x', data: 'x' },
    { name: 'opq/y', data: 'y' },
    { name: 'opq2/', type: '5' },
    { name: 'opq2/old', data: 'old' },
    { name: 'gone/', type: '5' },
    { name: 'gone/deep', data: 'deep' },
    { name: 'lnk', type: '2', link: e.canary },
  ]));
  await apply(l2, tarBuffer([
    { name: 'etc/', type: '5' },
    { name: 'etc/.wh.group' },
    { name: 'dir/.wh.a' },
    { name: 'opq/', type: '5' },
    { name: 'opq/z', data: 'z' },
    { name: 'opq/.wh..wh..opq' }, // after a child
    { name: 'opq2/.wh..wh..opq' }, // before its directory
    { name: 'opq2/', type: '5' },
    { name: 'opq2/new', data: 'new' },
    { name: '.wh.gone' },
    { name: 'gone/', type: '5' }, // whited out and made again in the same layer: empty, opaque
    { name: 'lnk/pwned', data: 'x' }, // through the lower layer's symlink? No: a directory of this layer
  ]));
  const before = snapshot(e.d, ['layer', 'l1', 'l2', 'mnt']);
  const mnt = join(e.d, 'mnt');
  mountOverlay(t, [l2, l1], mnt);
  t.is(readFileSync(join(mnt, 'etc/passwd'), 'utf8'), 'root\n');
  t.false(existsSync(join(mnt, 'etc/group')));
  t.deepEqual(readdirSync(join(mnt, 'dir')), ['b']);
  t.deepEqual(readdirSync(join(mnt, 'opq')), ['z']);
  t.deepEqual(readdirSync(join(mnt, 'opq2')), ['new']);
  t.deepEqual(readdirSync(join(mnt, 'gone')), []);
  t.true(lstatSync(join(mnt, 'lnk')).isDirectory());
  t.is(readFileSync(join(mnt, 'lnk/pwned'), 'utf8'), 'x');
  t.deepEqual(snapshot(e.d, ['layer', 'l1', 'l2', 'mnt']), before);
  t.false(existsSync(join(e.canary, 'pwned')));
});

privileged('a layer made by umoci (a real producer, gzip) unpacks to the DiffIDs its config lists, whiteouts included', async (t) => {
  if (!busyboxAvailable() || spawnSync('umoci', ['--version']).status !== 0) {
    t.fail('umoci and busybox-static are needed (apt-get install umoci busybox-static)');
    return;
  }
  const e = layerEnv(t);
  const oci = join(e.d, 'oci');
  const bundle = join(e.d, 'bundle');
  const umoci = (...args: string[]) => execFileSync('umoci', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  umoci('init', '--layout', oci);
  umoci('new', '--image', `${oci}:t`);
  umoci('unpack', '--image', `${oci}:t`, bundle);
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  execFileSync('cp', [BUSYBOX, join(rootfs, 'bin', 'busybox')]);
  execFileSync('ln', ['-s', 'busybox', join(rootfs, 'bin', 'sh')]);
  mkdirSync(join(rootfs, 'etc'));
  execFileSync('cp', ['/etc/hostname', join(rootfs, 'etc', 'hostname')]);
  execFileSync('ln', [join(rootfs, 'etc', 'hostname'), join(rootfs, 'etc', 'hostname.hard')]);
  umoci('repack', '--refresh-bundle', '--image', `${oci}:t`, bundle);
  execFileSync('rm', [join(rootfs, 'etc', 'hostname.hard')]);
  umoci('repack', '--image', `${oci}:t`, bundle);
  // the OCI layout: index → manifest → config (diff_ids) and layers
  const blob = (d: string) => join(oci, 'blobs', ...d.split(':'));
  const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
  t.is(manifest.layers.length, 2);
  const dirs: string[] = [];
  for (const [i, l] of manifest.layers.entries()) {
    const dir = e.fresh(`u${i}`);
    const r = await applyLayer({ input: createReadStream(blob(l.digest)), dir });
    t.is(r.compression, 'gzip');
    t.is(r.diffId, config.rootfs.diff_ids[i]);
    dirs.push(dir);
  }
  t.true(lstatSync(join(dirs[1]!, 'etc', 'hostname.hard')).isCharacterDevice(), 'the whiteout, in overlay format');
  const l0 = lstatSync(join(dirs[0]!, 'etc', 'hostname'));
  t.is(l0.nlink, 2, 'the hard link');
  t.is(lstatSync(join(dirs[0]!, 'bin', 'busybox')).size, lstatSync(BUSYBOX).size);
  const mnt = join(e.d, 'mnt');
  mountOverlay(t, [dirs[1]!, dirs[0]!], mnt);
  t.false(existsSync(join(mnt, 'etc', 'hostname.hard')));
  t.true(existsSync(join(mnt, 'bin', 'sh')));
});

privileged('".wh..wh..opq" at a layer\'s root hides every lower layer: overlayfs ignores it there, so lowerDirs ends the stack at that layer', async (t) => {
  const e = layerEnv(t);
  const s = new LayerStore(join(e.d, 'store'));
  const base = tarBuffer([{ name: 'old', data: 'old' }, { name: 'etc/', type: '5' }]);
  const mid = tarBuffer([{ name: 'mid', data: 'mid' }]);
  const reset = tarBuffer([{ name: '.wh..wh..opq' }, { name: 'new', data: 'new' }]);
  const top = tarBuffer([{ name: 'top', data: 'top' }]);
  const diffIds = [base, mid, reset, top].map(sha256);
  const chains = chainIds(diffIds);
  for (const [i, b] of [base, mid, reset, top].entries()) {
    await s.ensure({ chainId: chains[i]!, diffId: diffIds[i]!, open: () => Readable.from([b]) });
  }
  t.is(s.get(chains[2]!)?.opaqueRoot, true);
  const lowers = s.lowerDirs(chains);
  t.deepEqual(lowers, [s.get(chains[3]!)!.dir, s.get(chains[2]!)!.dir]);
  const mnt = join(e.d, 'mnt');
  mountOverlay(t, lowers, mnt);
  t.deepEqual(readdirSync(mnt).sort(), ['new', 'top']);
});
