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
import { cleanImageTemp, importImage, listImages, removeImage, resolveImage } from '../../src/image/index.js';
import { busyboxAvailable, makeBusyboxRootfs, makeBusyboxTar } from '../helpers/busybox.js';

const BIN = fileURLToPath(new URL('../../../bin/podns.js', import.meta.url));
const isRoot = process.getuid?.() === 0;

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'podns-image-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function podns(root: string, ...args: string[]) {
  return execa('node', [BIN, ...args], { reject: false, env: { NO_COLOR: '1', PODNS_ROOT: root } });
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** What is in the store besides the (empty) work directory. */
function storeEntries(root: string): string[] {
  const dir = join(root, 'images');
  if (!existsSync(dir)) return [];
  const out = readdirSync(dir).filter((e) => e !== '.tmp');
  if (existsSync(join(dir, '.tmp'))) out.push(...readdirSync(join(dir, '.tmp')).map((e) => `.tmp/${e}`));
  return out;
}

if (!busyboxAvailable()) {
  test.skip('image store tests [skipped: /bin/busybox missing; apt install busybox-static]', () => {});
} else {
  test('import a rootfs tarball (docker export layout): files, links, defaults, size', async (t) => {
    const d = tmp(t);
    const tar = makeBusyboxTar(d, join(d, 'rootfs.tar'), { www: '<h1>hi</h1>\n' });
    const root = join(d, 'state');
    const rec = await importImage({ root, name: 'nginx', source: tar, config: { cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], env: { A: 'b=c' }, workingDir: '/www' } });
    t.is(rec.ref, 'nginx:latest');
    t.true(rec.size > 1_000_000, `size ${rec.size}`);
    const img = resolveImage({ root, name: 'nginx:latest' });
    t.is(img.rootfs, join(root, 'images', 'nginx', 'latest', 'rootfs'));
    t.deepEqual(img.config, { cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], env: { A: 'b=c' }, workingDir: '/www' });
    t.is(sha(join(img.rootfs, 'bin', 'busybox')), sha('/bin/busybox'));
    t.is(readlinkSync(join(img.rootfs, 'bin', 'sh')), 'busybox');
    t.is(readFileSync(join(img.rootfs, 'www', 'index.html'), 'utf8'), '<h1>hi</h1>\n');
    t.is(statSync(join(img.rootfs, 'tmp')).mode & 0o7777, 0o1777);
    // the extracted program really runs
    const r = await execa(join(img.rootfs, 'bin', 'echo'), ['from', 'the', 'image']);
    t.is(r.stdout, 'from the image');
    t.deepEqual(storeEntries(root), ['nginx'], 'nothing left in .tmp');
  });

  test('compressed tarballs by tar\'s own detection', async (t) => {
    const d = tmp(t);
    const root = join(d, 'state');
    for (const compress of ['gzip', 'xz'] as const) {
      mkdirSync(join(d, compress));
      const tar = makeBusyboxTar(join(d, compress), join(d, `rootfs.${compress}`), { compress });
      await importImage({ root, name: `bb:${compress}`, source: tar });
      t.is(sha(join(resolveImage({ root, name: `bb:${compress}` }).rootfs, 'bin', 'busybox')), sha('/bin/busybox'));
    }
    t.deepEqual(listImages({ root }).map((i) => i.ref), ['bb:gzip', 'bb:xz']);
  });

  test('import a directory; the source stays as it was', async (t) => {
    const d = tmp(t);
    const src = makeBusyboxRootfs(join(d, 'src'));
    const root = join(d, 'state');
    await importImage({ root, name: 'hwchiu/netutils', source: src, config: { cmd: ['sleep', 'infinity'] } });
    const img = resolveImage({ root, name: 'hwchiu/netutils' });
    t.is(img.ref, 'hwchiu/netutils:latest');
    t.is(img.rootfs, join(root, 'images', 'hwchiu+netutils', 'latest', 'rootfs'));
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
    await importImage({ root, name: 'owners', source: join(d, 'r.tar') });
    await importImage({ root, name: 'owners:dir', source: src });
    for (const ref of ['owners', 'owners:dir']) {
      const st = lstatSync(join(resolveImage({ root, name: ref }).rootfs, 'etc', 'secret'));
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
    t.regex(lines[0]!, /^REPOSITORY\s+TAG\s+SIZE\s+CREATED$/);
    t.regex(lines[1]!, /^hwchiu\/netutils\s+latest\s+[\d.]+MB\s+(Less than a second|\d+ seconds?) ago$/);
    t.regex(lines[2]!, /^nginx\s+1\.25\s+[\d.]+MB\s+/);
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
    t.is(r.stderr, 'podns image rm: image "nginx:latest" not found; import a root filesystem with: podns image import nginx:latest FILE.tar');
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

  test('library: not found says how to import; an image in use is kept unless forced', async (t) => {
    const d = tmp(t);
    const root = join(d, 'state');
    const err = t.throws(() => resolveImage({ root, name: 'nginx' }), { instanceOf: NotFoundError });
    t.is(err!.message, 'image "nginx:latest" not found; import a root filesystem with: podns image import nginx:latest FILE.tar');
    t.is((err as NotFoundError).kind, 'image');
    const src = makeBusyboxRootfs(join(d, 'src'));
    await importImage({ root, name: 'nginx', source: src, config: { cmd: ['httpd'] } });
    // a container record (the contract file the container code writes) that uses it
    mkdirSync(join(root, 'pods', 'web', 'containers', 'srv'), { recursive: true });
    writeFileSync(join(root, 'pods', 'web', 'containers', 'srv', 'config.json'), JSON.stringify({ name: 'srv', pod: 'web', image: 'nginx:latest', argv: ['httpd'] }));
    const inUse = await t.throwsAsync(removeImage({ root, name: 'nginx' }), { instanceOf: PodnsError });
    t.is(inUse!.code, 'EIMAGEINUSE');
    t.regex(inUse!.message, /container web\/srv uses it; delete the pod first, or use --force/);
    await t.throwsAsync(importImage({ root, name: 'nginx', source: src, config: { cmd: ['other'] } }), { message: /cannot replace image "nginx:latest"/ });
    t.deepEqual(resolveImage({ root, name: 'nginx' }).config, { cmd: ['httpd'] }, 'the old image is untouched');
    rmSync(join(root, 'pods'), { recursive: true });
    const rec = await importImage({ root, name: 'nginx', source: src, config: { cmd: ['other'] } });
    t.deepEqual(resolveImage({ root, name: 'nginx' }).config, { cmd: ['other'] }, 'replaced when nobody uses it');
    t.is(listImages({ root }).length, 1);
    t.is(rec.ref, 'nginx:latest');
    await removeImage({ root, name: 'nginx' });
    t.deepEqual(storeEntries(root), []);
  });

  test('leftovers of a killed import are found and removed', async (t) => {
    const d = tmp(t);
    const root = join(d, 'state');
    // a pid that cannot be running: above the kernel's pid_max limit
    mkdirSync(join(root, 'images', '.tmp', 'import-99999999-abc', 'rootfs', 'bin'), { recursive: true });
    mkdirSync(join(root, 'images', '.tmp', `import-${process.pid}-live`), { recursive: true });
    const lines = cleanImageTemp(root);
    t.deepEqual(lines, [`removed leftover image work directory ${join(root, 'images', '.tmp', 'import-99999999-abc')}`]);
    t.deepEqual(readdirSync(join(root, 'images', '.tmp')), [`import-${process.pid}-live`]);
  });
}
