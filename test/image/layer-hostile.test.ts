// Hostile layers, one fixture per guard of `podns-helper apply-layer`: each is refused with one ELAYER line
// that names the guard, or (absolute names) kept inside the layer; in every case nothing outside the layer
// directory changes: a canary next to it (d/canary, reachable as "../canary" and by its absolute path)
// is compared before and after, with modes, owners, link counts and mtimes.
import type { ExecutionContext } from 'ava';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PodnsError } from '../../src/errors.js';
import { apply, layerEnv, snapshot, type LayerEnv } from '../helpers/layer.js';
import { privileged } from '../helpers/root.js';
import { tarBuffer, type TarEntry } from '../helpers/tar.js';

/** Benign entries first: the helper has written something by the time the hostile one comes. */
const BENIGN: TarEntry[] = [
  { name: 'etc/', type: '5' },
  { name: 'etc/hostname', data: 'layer\n' },
];

async function refused(t: ExecutionContext, e: LayerEnv, what: string, bytes: Buffer, re: RegExp, o: { maxBytes?: number; maxEntries?: number } = {}): Promise<void> {
  const before = snapshot(e.d);
  const dir = e.fresh(`l-${Math.random().toString(36).slice(2)}`);
  const err = await t.throwsAsync(apply(dir, bytes, o), { instanceOf: PodnsError }, what);
  if (err) {
    t.is(err.code, 'ELAYER', what);
    t.regex(err.message, /^layer refused: /, what);
    t.regex(err.message, re, what);
    t.false(err.message.includes('\n'), `one line: ${what}`);
  }
  t.deepEqual(snapshot(e.d, ['layer', dir.slice(e.d.length + 1)]), before, `nothing written outside the layer: ${what}`);
}

function layer(...hostile: TarEntry[]): Buffer {
  return tarBuffer([...BENIGN, ...hostile]);
}

privileged('".." components are refused, wherever they are', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, '../canary/pwned', layer({ name: '../canary/pwned', data: 'x' }), /"\.\." component/);
  await refused(t, e, 'a/../../canary/pwned', layer({ name: 'a/../../canary/pwned', data: 'x' }), /"\.\." component/);
  await refused(t, e, 'pax path with ..', layer({ name: 'x', format: 'pax', pax: { path: '../../canary/secret' }, data: 'x' }), /"\.\." component/);
  await refused(t, e, 'ustar prefix with ..', layer({ name: 'secret', format: 'ustar', prefix: '../canary', data: 'x' }), /"\.\." component/);
  await refused(t, e, 'GNU long name with ..', layer({ name: `${'../'.repeat(40)}${e.canary.slice(1)}/secret`, data: 'x' }), /"\.\." component/);
});

privileged('absolute names are kept inside the layer (leading "/" dropped, as tar and containerd do)', async (t) => {
  const e = layerEnv(t);
  const before = snapshot(e.d);
  await apply(e.layer, layer({ name: `${e.canary}/secret`, data: 'inside' }, { name: '/etc/passwd', data: 'inside too' }));
  t.deepEqual(snapshot(e.d), before);
  t.is(readFileSync(join(e.layer, e.canary, 'secret'), 'utf8'), 'inside');
  t.is(readFileSync(join(e.layer, 'etc/passwd'), 'utf8'), 'inside too');
});

privileged('a write through a symlink of the same layer is refused (absolute, relative, deeper, via a hard link to the symlink)', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, 'absolute link then a file below it',
    layer({ name: 'lnk', type: '2', link: e.canary }, { name: 'lnk/pwned', data: 'x' }), /"lnk" is a symbolic link in this layer; a layer may not write through a link/);
  await refused(t, e, 'relative link overwriting a canary file',
    layer({ name: 'lnk', type: '2', link: `../${'../'.repeat(6)}${e.canary.slice(1)}` }, { name: 'lnk/secret', data: 'x' }), /"lnk" is a symbolic link/);
  await refused(t, e, 'a symlink directory, then a file deeper below it',
    layer({ name: 'a/', type: '5' }, { name: 'a/b', type: '2', link: '/' }, { name: `a/b${e.canary}/etc/passwd`, data: 'x' }), /"a\/b" is a symbolic link/);
  await refused(t, e, 'a directory of the same name after the link does not reopen it: a mkdir below it',
    layer({ name: 'lnk', type: '2', link: e.canary }, { name: 'lnk/new/', type: '5' }), /"lnk" is a symbolic link/);
  await refused(t, e, 'a hard link to a symlink, then a file below the hard link',
    layer({ name: 'lnk', type: '2', link: e.canary }, { name: 'hl', type: '1', link: 'lnk' }, { name: 'hl/pwned', data: 'x' }), /"hl" is a symbolic link/);
  await refused(t, e, 'a whiteout below a symlink',
    layer({ name: 'lnk', type: '2', link: e.canary }, { name: 'lnk/.wh.secret' }), /"lnk" is a symbolic link/);
  await refused(t, e, 'an opaque marker below a symlink',
    layer({ name: 'lnk', type: '2', link: e.canary }, { name: 'lnk/.wh..wh..opq' }), /"lnk" is a symbolic link/);
});

privileged('a symlink named ".", "/" or "./" (the layer\'s root) is refused', async (t) => {
  const e = layerEnv(t);
  for (const name of ['.', '/', './', '//.//']) {
    await refused(t, e, `symlink named ${name}`, layer({ name, type: '2', link: e.canary }, { name: 'secret', data: 'x' }), /named as the layer's root; only a directory may be/);
  }
  await refused(t, e, 'a file named "."', layer({ name: '.', data: 'x' }), /a file named as the layer's root/);
  await refused(t, e, 'a hard link named "/"', layer({ name: '/', type: '1', link: 'etc/hostname' }), /hard link named as the layer's root/);
});

privileged('hard links must name an earlier entry of the same layer, never a directory, never through a link', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, 'hard link to an absolute host path (not in the layer)',
    layer({ name: 'hl', type: '1', link: `${e.canary}/secret` }), /"tmp" is not in this layer/);
  await refused(t, e, 'hard link with ..', layer({ name: 'hl', type: '1', link: '../canary/secret' }), /hard link target has a "\.\." component/);
  await refused(t, e, 'hard link through a symlink',
    layer({ name: 'lnk', type: '2', link: e.canary }, { name: 'hl', type: '1', link: 'lnk/secret' }), /"lnk" is a symbolic link in this layer/);
  await refused(t, e, 'hard link to a missing target', layer({ name: 'hl', type: '1', link: 'etc/nothing' }), /"etc\/nothing", which is not in this layer/);
  await refused(t, e, 'hard link below a missing directory', layer({ name: 'hl', type: '1', link: 'no/such/file' }), /"no" is not in this layer/);
  await refused(t, e, 'hard link to a directory', layer({ name: 'hl', type: '1', link: 'etc' }), /hard link to the directory "etc"/);
  await refused(t, e, 'hard link to the root', layer({ name: 'hl', type: '1', link: '/' }), /hard link to the layer's root/);
  await refused(t, e, 'hard link without a target', layer({ name: 'hl', type: '1', link: '' }), /hard link without a target/);
  t.is(lstatSync(join(e.canary, 'secret')).nlink, 1);
});

privileged('bad whiteouts are refused: naming nothing, ".", "..", a whiteout name, used as a directory, opaque on a non-directory', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, '.wh. alone', layer({ name: 'etc/.wh.' }), /whiteout of "", which names no entry/);
  await refused(t, e, '.wh..', layer({ name: 'etc/.wh..' }), /whiteout of "\.", which names no entry/);
  await refused(t, e, '.wh...', layer({ name: 'etc/.wh...' }), /whiteout of "\.\.", which names no entry/);
  await refused(t, e, 'a whiteout of a whiteout name (not aufs metadata at the root)', layer({ name: 'etc/.wh..wh.x' }), /whiteout of a whiteout name/);
  await refused(t, e, 'an entry below a whiteout name', layer({ name: 'etc/.wh.x/y', data: 'x' }), /goes below a whiteout name/);
  await refused(t, e, 'an opaque marker in a file', layer({ name: 'etc/hostname/.wh..wh..opq' }), /"etc\/hostname" is not a directory in this layer/);
  await refused(t, e, 'a whiteout in a file', layer({ name: 'etc/hostname/.wh.x' }), /"etc\/hostname" is not a directory in this layer/);
});

privileged('absurd depth and length are refused', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, '300 components', layer({ name: `${'a/'.repeat(300)}f`, data: 'x', format: 'pax' }), /more than 256 directories deep/);
  await refused(t, e, 'a 5000-byte name', layer({ name: `${`${'b'.repeat(200)}/`.repeat(25)}f`, data: 'x', format: 'pax' }), /longer than 4095 bytes/);
  await refused(t, e, 'a 300-byte component', layer({ name: `${'c'.repeat(300)}`, data: 'x', format: 'pax' }), /component of 300 bytes, over the kernel's 255/);
  await refused(t, e, 'a hard link target 300 deep', layer({ name: 'hl', type: '1', link: `${'a/'.repeat(300)}f`, format: 'pax' }), /hard link target is more than 256 directories deep/);
});

privileged('absurd sizes and counts are refused before anything is written: entry size, stream size, entries, extension headers', async (t) => {
  const e = layerEnv(t);
  // a 1 TiB file declared by pax: refused at its header (nothing created)
  await refused(t, e, '1 TiB entry', layer({ name: 'huge', format: 'pax', pax: { size: String(2 ** 40) }, data: 'x' }), /declares 1099511627776 bytes of data, more than the layer's limit/);
  // the limit, lowered: a 1 MiB file in a layer capped at 64 KiB
  await refused(t, e, 'file over --max-bytes', layer({ name: 'big', size: 1 << 20, data: 'x' }), /declares 1048576 bytes/, { maxBytes: 65536 });
  // trailing bytes after the end marker count too (a bomb of zeros after a small archive)
  await refused(t, e, 'stream over --max-bytes', Buffer.concat([layer(), Buffer.alloc(1 << 20)]), /larger than the limit of 65536 bytes/, { maxBytes: 65536 });
  await refused(t, e, 'entries over --max-entries', tarBuffer(Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: '' }))), /more than 10 entries/, { maxEntries: 10 });
  const meta = tarBuffer([{ name: 'x', format: 'pax', pax: { comment: 'c'.repeat((1 << 20) + 10) }, data: '' }]);
  await refused(t, e, 'pax header over 1 MiB', meta, /pax header at byte 0 is \d+ bytes, over the limit of 1048576/);
  t.false(existsSync(join(e.d, 'huge')));
});

privileged('entry types a layer does not hold are refused (sparse, volume label, Solaris, multi-volume, binary)', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, 'GNU sparse', layer({ name: 's', type: 'S', data: 'x' }), /GNU sparse file/);
  await refused(t, e, 'pax sparse', layer({ name: 's', format: 'pax', pax: { 'GNU.sparse.major': '1' }, data: 'x' }), /GNU sparse file/);
  for (const type of ['V', 'X', 'M', 'N', 'D']) {
    await refused(t, e, `type ${type}`, layer({ name: 'v', type, data: '' }), new RegExp(`tar type '${type}'`));
  }
  await refused(t, e, 'type 0x01', layer({ name: 'v', type: '\x01', data: '' }), /tar type byte 0x01/);
});

privileged('overlayfs\'s own xattrs may not come from a layer (redirect, metacopy, origin, the user.* spelling)', async (t) => {
  const e = layerEnv(t);
  for (const x of ['trusted.overlay.redirect', 'trusted.overlay.metacopy', 'trusted.overlay.opaque', 'user.overlay.redirect']) {
    await refused(t, e, x, layer({ name: 'd/', type: '5', xattrs: { [x]: '/etc' } }), new RegExp(`carries the xattr ${x.replace(/\./g, '\\.')}: overlayfs's own metadata`));
  }
});

privileged('damaged archives are refused: checksum, truncation, malformed pax, repeated extension headers, names with NUL', async (t) => {
  const e = layerEnv(t);
  const good = layer({ name: 'f', data: 'y'.repeat(3000) });
  const badSum = Buffer.from(good);
  badSum[1536 + 10] ^= 1; // a byte of the third header (etc/, etc/hostname and its data come first)
  await refused(t, e, 'bad checksum', badSum, /bad checksum/);
  await refused(t, e, 'truncated in the data', good.subarray(0, 1024 + 512 + 1000), /ends in the middle of an entry/);
  await refused(t, e, 'truncated in a header', good.subarray(0, 1536 + 100), /ends in the middle of an entry/);
  await refused(t, e, 'truncated one byte before the end of the data', good.subarray(0, 2048 + 2999), /ends in the middle of an entry/);
  // the data complete, then the end without the padding or the end marker (umoci 0.4 `insert` writes these;
  // Go's reader, so containerd, docker and podman, reads it as the end): accepted, the file whole
  for (const cut of [2048 + 3000, 2048 + 3000 + 50]) {
    const dir = e.fresh(`l-cut-${cut}`);
    await apply(dir, good.subarray(0, cut));
    t.is(readFileSync(join(dir, 'f'), 'utf8'), 'y'.repeat(3000), `cut at ${cut}`);
  }
  const pax = layer({ name: 'f', format: 'pax', pax: { path: 'x' }, data: 'z' });
  const at = pax.indexOf('path=x');
  pax.write('8', at - 2, 'latin1'); // "9 path=x\n" → "8 ...": the record's length does not end at its newline
  await refused(t, e, 'malformed pax', pax, /damaged pax header/);
  const twice = Buffer.concat([
    tarBuffer([{ name: 'a', format: 'pax', pax: { path: 'p1' } }]).subarray(0, 1024), // 'x' header + its data
    tarBuffer([{ name: 'b', format: 'pax', pax: { path: 'p2' }, data: 'q' }]),
  ]);
  await refused(t, e, 'two pax headers', twice, /two 'x' extension headers/);
  await refused(t, e, 'NUL in a pax path', layer({ name: 'f', format: 'pax', pax: { path: `ok\0${e.canary}/secret` }, data: 'x' }), /holds a NUL byte/);
  await refused(t, e, 'negative uid', layer({ name: 'f', format: 'pax', pax: { uid: '-1' }, data: 'x' }), /malformed or out-of-range number/);
  await refused(t, e, 'not a tar at all', Buffer.alloc(4096, 0x41), /bad checksum: this is not a tar archive/);
});

privileged('a refused entry\'s name is shown escaped on one line', async (t) => {
  const e = layerEnv(t);
  await refused(t, e, 'newline in a name', layer({ name: 'a\nb/../../x', data: 'x' }), /entry "a\\x0ab\/\.\.\/\.\.\/x": its name has a "\.\." component/);
});
