// applyLayer and `podns-helper apply-layer` on layers that are legitimate: what an image needs survives
// (owners, setuid bits, xattrs such as security.capability, device nodes, hard links, long names, mtimes,
// symlink targets as written), whiteouts become overlay's format, gzip/zstd/plain give one DiffID.
// Real kernel, real files; each layer written header by header (helpers/tar.ts).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { PodnsError } from '../../src/errors.js';
import { applyLayer, detectCompression } from '../../src/image/layers/apply.js';
import { parseApplyLayerResult } from '../../src/native/helper.js';
import { apply, getXattr, layerEnv, sha256 } from '../helpers/layer.js';
import { privileged } from '../helpers/root.js';
import { tarBuffer, type TarEntry } from '../helpers/tar.js';

// VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_NET_RAW (13): `setcap cap_net_raw+ep`
const CAP_NET_RAW = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

test('detectCompression reads magic numbers, not names', (t) => {
  t.is(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  t.is(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  t.is(detectCompression(Buffer.from('ustar')), 'none');
  t.is(detectCompression(Buffer.alloc(0)), 'none');
  t.deepEqual(parseApplyLayerResult('ok 3 10240\n'), { entries: 3, bytes: 10240, opaqueRoot: false });
  t.deepEqual(parseApplyLayerResult('ok 3 10240 opaque-root\n'), { entries: 3, bytes: 10240, opaqueRoot: true });
  t.is(parseApplyLayerResult('error EINVAL layer: x'), undefined);
});

privileged('owners, modes, setuid/setgid/sticky, xattrs, devices, fifos, symlinks and hard links survive', async (t) => {
  const e = layerEnv(t);
  const entries: TarEntry[] = [
    { name: './', type: '5', mode: 0o755 },
    { name: 'bin/', type: '5', mode: 0o755 },
    { name: 'bin/su', data: 'su', mode: 0o4755, uid: 0, gid: 0 },
    { name: 'bin/wall', data: 'wall', mode: 0o2755, uid: 0, gid: 5 },
    { name: 'bin/ping', data: 'ping', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW } },
    // chown would clear both; they come after it
    { name: 'bin/both', data: 'both', mode: 0o4755, uid: 1000, gid: 1000, xattrs: { 'security.capability': CAP_NET_RAW } },
    { name: 'tmp/', type: '5', mode: 0o1777 },
    { name: 'home/u/', type: '5', mode: 0o700, uid: 1000, gid: 1001 },
    { name: 'home/u/f', data: 'mine', mode: 0o600, uid: 1000, gid: 1001, xattrs: { 'user.note': 'hi', 'trusted.t': Buffer.from([0, 1, 2]) } },
    { name: 'dev/', type: '5' },
    { name: 'dev/null', type: '3', dev: [1, 3], mode: 0o666 },
    { name: 'dev/loop9', type: '4', dev: [7, 9], mode: 0o660, gid: 6 },
    { name: 'run/fifo', type: '6', mode: 0o620 },
    { name: 'etc/abs', type: '2', link: '/etc/passwd' },
    { name: 'etc/rel', type: '2', link: '../../../../../x' },
    { name: 'etc/dangling', type: '2', link: 'nowhere', uid: 7, gid: 8, xattrs: { 'trusted.sl': 'v' } },
    { name: 'bin/su-again', type: '1', link: 'bin/su' },
    { name: 'etc/abs-link', type: '1', link: '/etc/abs' }, // a hard link to a symlink (absolute name: inside the root)
  ];
  const tar = tarBuffer(entries);
  const r = await apply(e.layer, tar);
  t.is(r.entries, entries.length);
  t.is(r.diffId, sha256(tar));
  t.is(r.size, tar.length);
  t.is(r.compression, 'none');
  const L = (p: string) => join(e.layer, p);
  const st = (p: string) => lstatSync(L(p));
  t.is(st('bin/su').mode & 0o7777, 0o4755);
  t.is(st('bin/wall').mode & 0o7777, 0o2755);
  t.is(st('bin/wall').gid, 5);
  t.is(st('tmp').mode & 0o7777, 0o1777);
  t.deepEqual([st('home/u').uid, st('home/u').gid, st('home/u').mode & 0o7777], [1000, 1001, 0o700]);
  t.deepEqual([st('home/u/f').uid, st('home/u/f').gid], [1000, 1001]);
  t.deepEqual(getXattr(L('bin/ping'), 'security.capability'), CAP_NET_RAW);
  t.deepEqual(getXattr(L('bin/both'), 'security.capability'), CAP_NET_RAW);
  t.deepEqual([st('bin/both').mode & 0o7777, st('bin/both').uid], [0o4755, 1000]);
  t.is(getXattr(L('home/u/f'), 'user.note')?.toString(), 'hi');
  t.deepEqual(getXattr(L('home/u/f'), 'trusted.t'), Buffer.from([0, 1, 2]));
  t.true(st('dev/null').isCharacterDevice());
  t.is(st('dev/null').rdev, (1 << 8) | 3);
  t.is(st('dev/null').mode & 0o7777, 0o666);
  t.true(st('dev/loop9').isBlockDevice());
  t.is(st('dev/loop9').rdev, (7 << 8) | 9);
  t.is(st('dev/loop9').gid, 6);
  t.true(st('run/fifo').isFIFO());
  t.is(st('run/fifo').mode & 0o7777, 0o620);
  t.is(readlinkSync(L('etc/abs')), '/etc/passwd');
  t.is(readlinkSync(L('etc/rel')), '../../../../../x');
  t.is(readlinkSync(L('etc/dangling')), 'nowhere');
  t.deepEqual([st('etc/dangling').uid, st('etc/dangling').gid], [7, 8]);
  t.is(getXattr(L('etc/dangling'), 'trusted.sl')?.toString(), 'v');
  t.is(st('bin/su-again').ino, st('bin/su').ino);
  t.is(st('bin/su').nlink, 2);
  t.true(st('etc/abs-link').isSymbolicLink());
  t.is(st('etc/abs-link').ino, st('etc/abs').ino);
  t.is(readFileSync(L('bin/su'), 'utf8'), 'su');
});

privileged('long names (GNU, pax, ustar prefix), long link targets, mtimes (directories set last), pax fractions; a global header is ignored', async (t) => {
  const e = layerEnv(t);
  const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}`;
  const long = `${deep}/${'n'.repeat(120)}`;
  const entries: TarEntry[] = [
    { name: 'old/', type: '5', mtime: 1_111_111_111 },
    { name: 'old/child', data: 'c', mtime: 1_234_567_890 },
    { name: 'old/link', type: '2', link: 'child', mtime: 1_000_000_000 },
    { name: `${long}.gnu`, data: 'gnu', format: 'gnu' },
    { name: `${long}.pax`, data: 'pax', format: 'pax' },
    { name: 'file', format: 'ustar', prefix: 'pre/fix', data: 'ustar' },
    { name: 'sym', type: '2', link: `/${'t'.repeat(200)}`, format: 'gnu' },
    { name: 'frac', data: 'x', format: 'pax', pax: { mtime: '1234567890.5' } },
  ];
  const r = await apply(e.layer, tarBuffer(entries, { globalPax: { path: 'evil', comment: 'git archive' } }));
  t.is(r.entries, entries.length);
  t.is(readFileSync(join(e.layer, `${long}.gnu`), 'utf8'), 'gnu');
  t.is(readFileSync(join(e.layer, `${long}.pax`), 'utf8'), 'pax');
  t.is(readFileSync(join(e.layer, 'pre/fix/file'), 'utf8'), 'ustar');
  t.is(readlinkSync(join(e.layer, 'sym')), `/${'t'.repeat(200)}`);
  t.false(existsSync(join(e.layer, 'evil')));
  t.is(statSync(join(e.layer, 'old')).mtimeMs, 1_111_111_111_000);
  t.is(statSync(join(e.layer, 'old/child')).mtimeMs, 1_234_567_890_000);
  t.is(lstatSync(join(e.layer, 'old/link')).mtimeMs, 1_000_000_000_000);
  t.is(statSync(join(e.layer, 'frac')).mtimeMs, 1_234_567_890_500);
});

privileged('later entries replace earlier ones: file → directory, directory tree → file, symlink → file; a directory again keeps its children', async (t) => {
  const e = layerEnv(t);
  await apply(e.layer, tarBuffer([
    { name: 'a', data: 'file' },
    { name: 'a/', type: '5' },
    { name: 'a/x', data: 'x' },
    { name: 'tree/sub/deep/f', data: 'f' },
    { name: 'tree', data: 'now a file' },
    { name: 'l', type: '2', link: '/etc' },
    { name: 'l', data: 'not a link' },
    { name: 'keep/', type: '5', mode: 0o755 },
    { name: 'keep/k', data: 'k' },
    { name: 'keep/', type: '5', mode: 0o700 },
  ]));
  t.is(readFileSync(join(e.layer, 'a/x'), 'utf8'), 'x');
  t.is(readFileSync(join(e.layer, 'tree'), 'utf8'), 'now a file');
  t.true(lstatSync(join(e.layer, 'l')).isFile());
  t.is(readFileSync(join(e.layer, 'keep/k'), 'utf8'), 'k');
  t.is(statSync(join(e.layer, 'keep')).mode & 0o777, 0o700);
});

privileged('whiteouts become 0/0 character devices; .wh..wh..opq becomes trusted.overlay.opaque wherever it comes; same-layer names are kept', async (t) => {
  const e = layerEnv(t);
  await apply(e.layer, tarBuffer([
    { name: 'etc/', type: '5' },
    { name: 'etc/.wh.group', data: '' },
    // opaque marker after the directory's children
    { name: 'after/', type: '5' },
    { name: 'after/x', data: 'x' },
    { name: 'after/.wh..wh..opq' },
    // opaque marker before its directory's own entry and before the children
    { name: 'before/.wh..wh..opq' },
    { name: 'before/', type: '5', mode: 0o750 },
    { name: 'before/y', data: 'y' },
    // a whiteout of a name this layer already has: a file stays; a directory stays and becomes opaque
    { name: 'samef', data: 'kept' },
    { name: '.wh.samef' },
    { name: 'samed/', type: '5' },
    { name: 'samed/z', data: 'z' },
    { name: '.wh.samed' },
    // the name after its whiteout: it replaces the device; a directory there is opaque
    { name: '.wh.laterf' },
    { name: 'laterf', data: 'later' },
    { name: '.wh.laterd' },
    { name: 'laterd/', type: '5' },
    // an entry below a whited-out name without its directory entry: an opaque directory again
    { name: '.wh.implied' },
    { name: 'implied/w', data: 'w' },
    // aufs metadata at the root: skipped
    { name: '.wh..wh.plnk/', type: '5' },
    { name: '.wh..wh.aufs' },
  ]));
  const L = (p: string) => join(e.layer, p);
  const group = lstatSync(L('etc/group'));
  t.true(group.isCharacterDevice());
  t.is(group.rdev, 0);
  t.false(existsSync(L('etc/.wh.group')));
  t.is(getXattr(L('after'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(readFileSync(L('after/x'), 'utf8'), 'x');
  t.false(existsSync(L('after/.wh..wh..opq')));
  t.is(getXattr(L('before'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(statSync(L('before')).mode & 0o777, 0o750);
  t.is(readFileSync(L('before/y'), 'utf8'), 'y');
  t.is(readFileSync(L('samef'), 'utf8'), 'kept');
  t.is(readFileSync(L('samed/z'), 'utf8'), 'z');
  t.is(getXattr(L('samed'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(readFileSync(L('laterf'), 'utf8'), 'later');
  t.true(lstatSync(L('laterd')).isDirectory());
  t.is(getXattr(L('laterd'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(readFileSync(L('implied/w'), 'utf8'), 'w');
  t.is(getXattr(L('implied'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(getXattr(L('etc'), 'trusted.overlay.opaque'), undefined);
  t.deepEqual(readdirSync(e.layer).filter((n) => n.startsWith('.wh.')), []);
});

privileged('gzip, zstd and plain layers give the same DiffID: the sha256 of the uncompressed tar', async (t) => {
  const e = layerEnv(t);
  const tar = tarBuffer([{ name: 'a/b', data: 'x'.repeat(100_000) }, { name: 'c', data: Buffer.alloc(70_000, 7) }]);
  const zstd = spawnSync('zstd', ['-c', '-q'], { input: tar });
  t.is(zstd.status, 0);
  const results = [];
  for (const [name, blob] of [['plain', tar], ['gzip', gzipSync(tar)], ['zstd', zstd.stdout]] as const) {
    const r = await apply(e.fresh(name), blob);
    t.is(readFileSync(join(e.d, name, 'a/b'), 'utf8'), 'x'.repeat(100_000), name);
    results.push(r);
  }
  t.deepEqual(results.map((r) => r.compression), ['none', 'gzip', 'zstd']);
  for (const r of results) {
    t.is(r.diffId, sha256(tar));
    t.is(r.size, tar.length);
  }
});

privileged('a damaged gzip or zstd blob is one ELAYER line, not a half success', async (t) => {
  const e = layerEnv(t);
  const tar = tarBuffer([{ name: 'f', data: 'y'.repeat(50_000) }]);
  const gz = gzipSync(tar);
  const cut = gz.subarray(0, gz.length - 40);
  const err = await t.throwsAsync(apply(e.fresh('gz'), cut), { instanceOf: PodnsError });
  t.is(err?.code, 'ELAYER');
  t.regex(err?.message ?? '', /gzip|truncated/);
  const bad = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64, 0xaa)]);
  const err2 = await t.throwsAsync(apply(e.fresh('zst'), bad), { instanceOf: PodnsError });
  t.is(err2?.code, 'ELAYER');
  t.regex(err2?.message ?? '', /zstd/);
});

privileged('aborting kills the helper: no podns-helper apply-layer is left, the promise rejects with ECANCELED', async (t) => {
  const e = layerEnv(t);
  const input = new PassThrough();
  const ac = new AbortController();
  // a file that never ends: the helper waits for the rest of it
  const head = tarBuffer([{ name: 'big', data: 'z' }]).subarray(0, 512);
  head.write('00000100000\0', 124, 'latin1'); // size 32 KiB
  let sum = 0;
  head.fill(0x20, 148, 156);
  for (const c of head) sum += c;
  head.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  input.write(head);
  input.write(Buffer.alloc(1000, 1));
  const p = applyLayer({ input, dir: e.layer, signal: ac.signal });
  const helpers = () => spawnSync('pgrep', ['-f', `apply-layer -- ${e.layer}`], { encoding: 'utf8' }).stdout.trim();
  for (let i = 0; i < 100 && helpers() === ''; i++) await new Promise((r) => setTimeout(r, 20));
  t.not(helpers(), '', 'the helper runs');
  ac.abort();
  const err = await t.throwsAsync(p, { instanceOf: PodnsError });
  t.is(err?.code, 'ECANCELED');
  t.is(helpers(), '');
});

privileged('the helper alone: one result line; a usage error is one error line', (t) => {
  const e = layerEnv(t);
  const helper = join(process.cwd(), 'build/Release/podns-helper');
  const ok = spawnSync(helper, ['apply-layer', e.layer], { input: tarBuffer([{ name: 'f', data: 'f' }]), encoding: 'utf8' });
  t.is(ok.status, 0);
  t.regex(ok.stdout, /^ok 1 2048\n$/);
  const full = spawnSync(helper, ['apply-layer', e.layer], { input: tarBuffer([]), encoding: 'utf8' });
  t.not(full.status, 0);
  t.regex(full.stdout, /^error EINVAL usage: the layer directory must be empty/);
  const bad = spawnSync(helper, ['apply-layer', '--max-bytes', '0', e.fresh('x')], { input: '', encoding: 'utf8' });
  t.regex(bad.stdout, /^error EINVAL usage: a limit must be a number/);
  t.is(bad.stdout.split('\n').length, 2);
});
