// The image store on a real filesystem: tar extraction by GNU tar, copies by cp -a, ls, rm, refusals.
// No namespaces are touched, so these run everywhere (ownership checks only as root).
import test from 'ava';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chownSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError, PodnsError } from '../../src/errors.js';
import { importImage, listImages, removeImage, resolveImage } from '../../src/image/index.js';
import { cleanStoreTemp } from '../../src/state/store-root.js';
import { busyboxAvailable, makeBusyboxRootfs, makeBusyboxTar } from '../helpers/busybox.js';

const BIN = fileURLToPath(new URL('../../../bin/podns.js', import.meta.url));
const isRoot = process.getuid?.() === 0;

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'podns-image-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The store of a test: next to its state root. */
function storeOf(root: string): string {
  return join(root, '..', 'store');
}

async function podns(root: string, ...args: string[]) {
  return execa('node', [BIN, ...args], { reject: false, env: { NO_COLOR: '1', PODNS_ROOT: root, PODNS_STORE: storeOf(root) } });
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** What is in the store: the names, the image records, the work directories. */
function storeEntries(root: string): string[] {
  const store = storeOf(root);
  const out: string[] = [];
  const names = join(store, 'images', 'names.json');
  if (existsSync(names)) out.push(...Object.keys(JSON.parse(readFileSync(names, 'utf8')) as object).map((n) => `name ${n}`));
  const recs = join(store, 'images', 'sha256');
  if (existsSync(recs)) out.push(...readdirSync(recs).map((e) => `image ${e.slice(0, 12)}`));
  if (existsSync(join(store, 'tmp'))) out.push(...readdirSync(join(store, 'tmp')).map((e) => `tmp/${e}`));
  return out;
}

if (!busyboxAvailable()) {
  test.skip('image store tests [skipped: /bin/busybox missing; apt install busybox-static]', () => {});
} else {
  test('import a rootfs tarball (docker export layout): files, links, defaults, size', async (t) => {
    const d = tmp(t);
    const tar = makeBusyboxTar(d, join(d, 'rootfs.tar'), { www: '<h1>hi</h1>\n' });
    const root = join(d, 'state');
    const rec = await importImage({ root, store: storeOf(root), name: 'nginx', source: tar, config: { cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], env: { A: 'b=c' }, workingDir: '/www' } });
    t.is(rec.ref, 'nginx:latest');
    t.true(rec.size > 1_000_000, `size ${rec.size}`);
    const img = resolveImage({ store: storeOf(root), name: 'nginx:latest' }) as { rootfs: string; config: unknown };
    t.is(img.rootfs, join(storeOf(root), 'images', 'sha256', rec.id.slice(7), 'rootfs'), 'in the store, under the image id');
    t.false(existsSync(join(root, 'images')), 'nothing of images under the state root');
    t.deepEqual(img.config, { cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], env: { A: 'b=c' }, workingDir: '/www' });
    t.is(sha(join(img.rootfs, 'bin', 'busybox')), sha('/bin/busybox'));
    t.is(readlinkSync(join(img.rootfs, 'bin', 'sh')), 'busybox');
    t.is(readFileSync(join(img.rootfs, 'www', 'index.html'), 'utf8'), '<h1>hi</h1>\n');
    t.is(statSync(join(img.rootfs, 'tmp')).mode & 0o7777, 0o1777);
    // the extracted program really runs
    const r = await execa(join(img.rootfs, 'bin', 'echo'), ['from', 'the', 'image']);
    t.is(r.stdout, 'from the image');
    t.deepEqual(storeEntries(root), ['name nginx:latest', `image ${rec.id.slice(7, 19)}`], 'nothing left in tmp');
  });

  test('compressed tarballs by tar\'s own detection', async (t) => {
    const d = tmp(t);
    const root = join(d, 'state');
    for (const compress of ['gzip', 'xz'] as const) {
      mkdirSync(join(d, compress));
      const tar = makeBusyboxTar(join(d, compress), join(d, `rootfs.${compress}`), { compress });
      await importImage({ root, store: storeOf(root), name: `bb:${compress}`, source: tar });
      t.is(sha(join(resolveImage({ store: storeOf(root), name: `bb:${compress}` }).rootfs!, 'bin', 'busybox')), sha('/bin/busybox'));
    }
    t.deepEqual(listImages({ store: storeOf(root) }).map((i) => i.ref), ['bb:gzip', 'bb:xz']);
  });

  test('import a directory; the source stays as it was', async (t) => {
    const d = tmp(t);
    const src = makeBusyboxRootfs(join(d, 'src'));
    const root = join(d, 'state');
    const rec = await importImage({ root, store: storeOf(root), name: 'hwchiu/netutils', source: src, config: { cmd: ['sleep', 'infinity'] } });
    const img = resolveImage({ store: storeOf(root), name: 'hwchiu/netutils' }) as { ref: string; id: string; rootfs: string };
    t.is(img.ref, 'hwchiu/netutils:latest');
    t.is(img.id, rec.id);
    t.deepEqual(resolveImage({ store: storeOf(root), name: rec.id.slice(7, 19) }).rootfs, img.rootfs, 'by 12 digits of its id too');
    t.is(readlinkSync(join(img.rootfs, 'bin', 'wget')), 'busybox');
    t.true(existsSync(join(src, 'bin', 'busybox')));
  });

  test('owners and modes survive (numeric, not mapped through the host passwd)', async (t) => {
    if (!isRoot) {
      t.log('not root: ownership cannot be kept, only checked as root');
      t.pass();
      return;
    }
    const d = tmp(t);
    const src = makeBusyboxRootfs(join(d, 'src'));
    writeFileSync(join(src, 'etc', 'secret'), 'x');
    chownSync(join(src, 'etc', 'secret'), 54321, 54322);
    chmodSync(join(src, 'etc', 'secret'), 0o640);
    await execa('tar', ['-c', '-f', join(d, 'r.tar'), '-C', src, '--numeric-owner', '.']);
    const root = join(d, 'state');
    await importImage({ root, store: storeOf(root), name: 'owners', source: join(d, 'r.tar') });
    await importImage({ root, store: storeOf(root), name: 'owners:dir', source: src });
    for (const ref of ['owners', 'owners:dir']) {
      const st = lstatSync(join(resolveImage({ store: storeOf(root), name: ref }).rootfs!, 'etc', 'secret'));
      t.is(st.uid, 54321, ref);
      t.is(st.gid, 54322, ref);
      t.is(st.mode & 0o7777, 0o640, ref);
    }
  });

  test('CLI: import, ls (table and json), rm', async (t) => {
    const d = tmp(t);
    const tar = makeBusyboxTar(d, join(d, 'rootfs.tar'));
    const root = join(d, 'state');
    let r = await podns(root, 'image', 'import', 'hwchiu/netutils', tar, '--cmd', '["sleep","infinity"]', '--env', 'MODE=test');
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /^imported hwchiu\/netutils:latest \([\d.]+MB\)$/);
    r = await podns(root, 'image', 'import', 'nginx:1.25', tar, '--entrypoint', '["httpd"]', '--cmd', '["-f"]', '--workdir', '/www');
    t.is(r.exitCode, 0, r.stderr);
    r = await podns(root, 'image', 'ls');
    t.is(r.exitCode, 0, r.stderr);
    const lines = r.stdout.split('\n');
    t.regex(lines[0]!, /^REPOSITORY\s+TAG\s+DIGEST\s+SIZE\s+CREATED$/);
    t.regex(lines[1]!, /^hwchiu\/netutils\s+latest\s+sha256:[0-9a-f]{12}\s+[\d.]+MB\s+(Less than a second|\d+ seconds?) ago$/);
    t.regex(lines[2]!, /^nginx\s+1\.25\s+sha256:[0-9a-f]{12}\s+[\d.]+MB\s+/);
    r = await podns(root, 'image', 'ls', '-o', 'json');
    const list = JSON.parse(r.stdout) as Array<{ ref: string; config: unknown }>;
    t.deepEqual(list.map((i) => [i.ref, i.config]), [
      ['hwchiu/netutils:latest', { cmd: ['sleep', 'infinity'], env: { MODE: 'test' } }],
      ['nginx:1.25', { entrypoint: ['httpd'], cmd: ['-f'], workingDir: '/www' }],
    ]);
    r = await podns(root, 'images', '-o', 'name');
    t.is(r.stdout, 'hwchiu/netutils:latest\nnginx:1.25');
    r = await podns(root, 'image', 'rm', 'nginx:1.25', 'hwchiu/netutils');
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, 'Deleted: nginx:1.25\nDeleted: hwchiu/netutils:latest');
    t.deepEqual(storeEntries(root), []);
    r = await podns(root, 'image', 'rm', 'nginx');
    t.is(r.exitCode, 1);
    t.is(r.stderr, 'podns image rm: image "nginx:latest" not found; pull it (podns image pull nginx:latest), load it (podns image load -i FILE) or import a root filesystem with: podns image import nginx:latest FILE.tar');
  });

  test('CLI refusals: one line, non-zero, nothing in the store', async (t) => {
    const d = tmp(t);
    const tar = makeBusyboxTar(d, join(d, 'rootfs.tar'));
    writeFileSync(join(d, 'garbage.tar'), 'this is not a tar archive\n'.repeat(100));
    writeFileSync(join(d, 'empty.tar'), Buffer.alloc(10240));
    mkdirSync(join(d, 'saved'));
    writeFileSync(join(d, 'saved', 'manifest.json'), '[]');
    writeFileSync(join(d, 'saved', 'repositories'), '{}');
    await execa('tar', ['-c', '-f', join(d, 'saved.tar'), '-C', join(d, 'saved'), '.']);
    const root = join(d, 'state');
    const cases: Array<[string[], RegExp, number]> = [
      [['image', 'import', 'Nginx', tar], /^podns image: invalid image reference "Nginx": repository name must be lowercase$/, 1],
      [['image', 'import', 'nginx@sha256:' + 'a'.repeat(64), tar], /digest are not supported/, 1],
      [['image', 'import', '../../etc', tar], /invalid image reference "..\/..\/etc": ".." is not a valid registry host/, 1],
      [['image', 'import', 'nginx', join(d, 'nope.tar')], /"\/.*nope.tar" does not exist/, 1],
      [['image', 'import', tar, 'nginx'], /the name comes first: podns image import nginx/, 2],
      [['image', 'import', 'nginx', join(d, 'garbage.tar')], /^podns image: cannot extract ".*garbage.tar": this does not look like a tar archive \(nor one compressed with gzip, bzip2, xz or zstd\)$/, 1],
      [['image', 'import', 'nginx', join(d, 'empty.tar')], /holds no files/, 1],
      [['image', 'import', 'nginx', join(d, 'saved.tar')], /'docker save' output.*docker export/, 1],
      [['image', 'import', 'nginx', tar, '--cmd', 'httpd -f'], /--cmd must be a JSON array of strings/, 2],
      [['image', 'import', 'nginx', tar, '--cmd', '[1,2]'], /--cmd must be a JSON array of strings/, 2],
      [['image', 'import', 'nginx', tar, '--env', 'NOEQUALS'], /bad environment variable "NOEQUALS"; write it as KEY=VALUE/, 2],
      [['image', 'import', 'nginx', tar, '--workdir', 'www'], /must be an absolute path/, 2],
      [['image', 'import', 'nginx', '/'], /refusing to import the host's root directory/, 1],
      [['image', 'import', 'nginx'], /give a NAME and a FILE.tar or DIR/, 2],
      [['image', 'frobnicate'], /unknown subcommand "frobnicate"/, 2],
    ];
    for (const [args, re, code] of cases) {
      const r = await podns(root, ...args);
      t.is(r.exitCode, code, `${args.join(' ')}: ${r.stderr}`);
      t.regex(r.stderr, re, args.join(' '));
      t.is(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
      t.deepEqual(storeEntries(root), [], `nothing made by: ${args.join(' ')}`);
    }
  });

  test('library: not found says how to get it; an image in use is kept, its name can move', async (t) => {
    const d = tmp(t);
    const root = join(d, 'state');
    const store = storeOf(root);
    const err = t.throws(() => resolveImage({ store, name: 'nginx' }), { instanceOf: NotFoundError });
    t.is(err!.message, 'image "nginx:latest" not found; pull it (podns image pull nginx:latest), load it (podns image load -i FILE) or import a root filesystem with: podns image import nginx:latest FILE.tar');
    t.is((err as NotFoundError).kind, 'image');
    const src = makeBusyboxRootfs(join(d, 'src'));
    const first = await importImage({ root, store, name: 'nginx', source: src, config: { cmd: ['httpd'] } });
    // a container record (the contract file the container code writes) that uses it
    mkdirSync(join(root, 'pods', 'web', 'containers', 'srv'), { recursive: true });
    writeFileSync(join(root, 'pods', 'web', 'containers', 'srv', 'config.json'), JSON.stringify({ name: 'srv', pod: 'web', image: 'nginx:latest', imageId: first.id, argv: ['httpd'] }));
    const inUse = t.throws(() => removeImage({ root, store, name: 'nginx' }), { instanceOf: PodnsError });
    t.is(inUse!.code, 'EIMAGEINUSE');
    t.regex(inUse!.message, /container web\/srv uses it; delete the pod first, or use --force/);
    // a re-import moves the name; the image the container runs stays
    const second = await importImage({ root, store, name: 'nginx', source: src, config: { cmd: ['other'] } });
    t.deepEqual(resolveImage({ store, name: 'nginx' }).config, { cmd: ['other'] });
    t.deepEqual(resolveImage({ store, name: first.id }).config, { cmd: ['httpd'] }, 'the old image is untouched');
    t.deepEqual(listImages({ store }).map((i) => [i.ref, i.id]), [['nginx:latest', second.id], ['<none>:<none>', first.id]]);
    t.throws(() => removeImage({ root, store, name: first.id }), { message: /container web\/srv uses it/ });
    const forced = removeImage({ root, store, name: first.id, force: true });
    t.like(forced, { deleted: false, kept: 'container web/srv uses it' });
    t.true(existsSync(resolveImage({ store, name: first.id }).rootfs!), 'forced: the files stay while the container uses them');
    rmSync(join(root, 'pods'), { recursive: true });
    t.like(removeImage({ root, store, name: first.id }), { deleted: true });
    t.like(removeImage({ root, store, name: 'nginx' }), { deleted: true, ref: 'nginx:latest' });
    t.deepEqual(storeEntries(root), []);
  });

  test('leftovers of a killed import are found and removed', async (t) => {
    const d = tmp(t);
    const root = join(d, 'state');
    const tmpDir = join(storeOf(root), 'tmp');
    // a pid that cannot be running: above the kernel's pid_max limit
    mkdirSync(join(tmpDir, 'import-99999999-abc', 'rootfs', 'bin'), { recursive: true });
    mkdirSync(join(tmpDir, `import-${process.pid}-live`), { recursive: true });
    const lines = cleanStoreTemp(storeOf(root));
    t.deepEqual(lines, [`removed leftover image work directory ${join(tmpDir, 'import-99999999-abc')}`]);
    t.deepEqual(readdirSync(tmpDir), [`import-${process.pid}-live`]);
    // and gc does it too
    mkdirSync(join(tmpDir, 'pull-99999998-x'));
    const r = await podns(root, 'gc');
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, `removed leftover image work directory ${join(tmpDir, 'pull-99999998-x')} (its process is gone)`);
  });
}
