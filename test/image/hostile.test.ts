// Hostile images: tarballs (written header by header, see helpers/tar.ts) and directories that try to write
// outside the store or to bring device nodes in. Each is refused with one line; a canary directory of the
// "host" stays as it was, and the store holds no half image afterwards.
import test from 'ava';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PodnsError } from '../../src/errors.js';
import { tarExtractArgs } from '../../src/image/extract.js';
import { importImage, resolveImage } from '../../src/image/index.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { tarBuffer, writeTar, type TarEntry } from '../helpers/tar.js';

const isRoot = process.getuid?.() === 0;

interface Env { d: string; host: string; root: string; up: string; deep: string }

/** d/host is the canary; the store is d/state, so its work rootfs (d/state/images/.tmp/import-X/rootfs) is 5 levels below d. */
function env(t: { teardown(fn: () => void): void }): Env {
  const d = mkdtempSync(join(tmpdir(), 'podns-hostile-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const host = join(d, 'host');
  mkdirSync(join(host, 'etc'), { recursive: true });
  writeFileSync(join(host, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(host, 'etc', 'shadow'), 'root:*:1::::::\n');
  return { d, host, root: join(d, 'state'), up: '../'.repeat(5) + 'host', deep: '../'.repeat(40) + host.slice(1) };
}

/** Everything under d except the store: names, types, modes, sizes, link targets, contents. */
function snapshot(d: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const n of readdirSync(dir).sort()) {
      if (rel === '' && (n === 'state' || n === 'store')) continue;
      const p = join(dir, n);
      const st = lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : '';
      out.push(`${rel}${n} ${st.mode.toString(8)} ${st.size} ${st.nlink} ${what}`);
      if (st.isDirectory()) walk(p, `${rel}${n}/`);
    }
  };
  walk(d, '');
  return out;
}

/** What the store holds: nothing but its empty work directory after a refusal. */
function storeEntries(root: string): string[] {
  const store = join(root, '..', 'store');
  const out: string[] = [];
  for (const dir of ['images', 'tmp']) {
    if (existsSync(join(store, dir))) out.push(...readdirSync(join(store, dir)).map((e) => `${dir}/${e}`));
  }
  return out;
}

/** Benign entries first, so that tar has extracted something by the time the hostile one comes. */
const BENIGN: TarEntry[] = [
  { name: 'bin/', type: '5' },
  { name: 'bin/sh', type: '2', link: '/bin/busybox' },
  { name: 'etc/', type: '5' },
  { name: 'etc/hostname', data: 'image\n' },
];

async function refused(t: import('ava').ExecutionContext, e: Env, name: string, file: string, re: RegExp): Promise<void> {
  const before = snapshot(e.d);
  const err = await t.throwsAsync(importImage({ root: e.root, store: join(e.root, '..', 'store'), name: 'hostile', source: file }), { instanceOf: PodnsError }, name);
  if (err) {
    t.is(err.code, 'EIMPORT', name);
    t.regex(err.message, re, name);
    t.regex(err.message, /^cannot extract "[^"]+": /, name);
    t.false(err.message.includes('\n'), `one line: ${name}`);
  }
  t.deepEqual(snapshot(e.d), before, `nothing written outside the store: ${name}`);
  t.deepEqual(storeEntries(e.root), [], `no half image in the store: ${name}`);
}

function cases(e: Env): Array<[string, TarEntry[], RegExp, { globalPax?: Record<string, string> }?]> {
  return [
    ['.. name', [{ name: `${e.up}/dd`, data: 'x' }], /entry "(\.\.\/){5}host\/dd" has a "\.\." component, which would leave the image's root/],
    ['.. name from deep', [{ name: `${e.deep}/dd`, data: 'x' }], /has a "\.\." component/],
    ['.. in the middle', [{ name: `bin/../../../../../../host/mid`, data: 'x' }], /has a "\.\." component/],
    ['absolute name', [{ name: `${e.host}/abs`, data: 'x' }], /entry "\/.*\/host\/abs" is an absolute path, which would be written outside the image's root/],
    ['symlink to the host, then a file through it', [{ name: 'a', type: '2', link: e.host }, { name: 'a/file', data: 'pwned' }],
      /entry "a\/file" would be written through "a", which the archive made a link/],
    ['relative .. symlink, then a file through it', [{ name: 'd/', type: '5' }, { name: 'd/up', type: '2', link: e.up }, { name: 'd/up/passwd', data: 'pwned' }],
      /entry "d\/up\/passwd" would be written through "d\/up"/],
    ['a chain of .. symlinks', [{ name: 'x', type: '2', link: '..' }, { name: 'y', type: '2', link: 'x/../..' }, { name: 'y/host/z', data: 'x' }],
      /would be written through "y"/],
    ['./ and // spellings of the same link', [{ name: './a', type: '2', link: e.host }, { name: 'a//./file', data: 'x' }], /written through "a"/],
    ['directory replaced by a symlink, then written through', [{ name: 'e/', type: '5' }, { name: 'e', type: '2', link: e.host }, { name: 'e/f', data: 'x' }],
      /written through "e"/],
    ['hard link to an absolute host file', [{ name: 'h', type: '1', link: `${e.host}/passwd` }], /entry "h", a hard link to "\/.*\/passwd", is an absolute path/],
    ['hard link with ..', [{ name: 'h', type: '1', link: `${e.up}/passwd` }], /a hard link to "(\.\.\/){5}host\/passwd", has a "\.\." component/],
    ['hard link through a symlink', [{ name: 's', type: '2', link: e.host }, { name: 'h', type: '1', link: 's/passwd' }],
      /entry "h" is a hard link to "s\/passwd", through "s", which the archive made a link/],
    ['hard link to a symlink, then a file through the hard link', [{ name: 's', type: '2', link: e.host }, { name: 'h', type: '1', link: 's' }, { name: 'h/passwd', data: 'pwned' }],
      /entry "h\/passwd" would be written through "h"/],
    ['setuid block device', [{ name: 'dev/', type: '5' }, { name: 'dev/sda', type: '4', dev: [8, 0], mode: 0o4777 }],
      /entry "dev\/sda" is a block device \(8,0\); an image may not hold device nodes/],
    ['character device', [{ name: 'dev/mem', type: '3', dev: [1, 1], mode: 0o666 }], /entry "dev\/mem" is a character device \(1,1\)/],
    ['pax path with ..', [{ name: 'innocent', format: 'pax', pax: { path: `${e.up}/pax` }, data: 'x' }], /entry "(\.\.\/){5}host\/pax" has a "\.\." component/],
    ['pax linkpath to the host', [{ name: 'h', type: '1', format: 'pax', pax: { linkpath: `${e.host}/passwd` } }], /a hard link to "\/.*\/passwd", is an absolute path/],
    ['GNU long name with ..', [{ name: 'a/'.repeat(60) + '../'.repeat(65) + 'host/long', data: 'x' }], /has a "\.\." component/],
    ['GNU long link to the host', [{ name: 'h', type: '1', link: e.deep + '/passwd' }], /has a "\.\." component/],
    ['ustar prefix with ..', [{ name: 'p', format: 'ustar', prefix: e.up, data: 'x' }], /entry "(\.\.\/){5}host\/p" has a "\.\." component/],
    ['pax global header path', [{ name: 'g', data: 'x' }], /a pax global header sets "path" for every entry/, { globalPax: { path: `${e.up}/g` } }],
    ['sparse file', [{ name: 'sp', type: 'S', data: 'x' }], /entry "sp" has the unsupported tar type 'S' \(sparse\)/],
    ['data on a symlink', [{ name: 'l', type: '2', link: 'x', size: 512 }, { name: 'l/x', data: 'x' }], /entry "l", a symbolic link, carries 512 bytes of data/],
    ['a file replacing the root', [{ name: './', type: '2', link: e.host }], /would replace the image's root directory/],
  ];
}

test('hostile tarballs are refused with one line; the host and the store stay clean', async (t) => {
  const e = env(t);
  for (const [name, entries, re, o] of cases(e)) {
    const file = writeTar(join(e.d, 'fixture.tar'), [...BENIGN, ...entries], o);
    await refused(t, e, name, file, re);
    rmSync(file);
  }
});

test('hostile tarballs, compressed (gzip in-process; bzip2, xz, zstd by their programs), are refused the same way', async (t) => {
  const e = env(t);
  const plain = tarBuffer([...BENIGN, { name: 'a', type: '2', link: e.host }, { name: 'a/file', data: 'pwned' }]);
  writeFileSync(join(e.d, 'h.tar'), plain);
  writeFileSync(join(e.d, 'h.tar.gz'), gzipSync(plain));
  for (const prog of ['bzip2', 'xz', 'zstd']) {
    if (existsSync(`/usr/bin/${prog}`)) execFileSync(prog, ['-k', '-q', join(e.d, 'h.tar')]);
    else t.log(`${prog} not installed: its case is skipped`);
  }
  rmSync(join(e.d, 'h.tar'));
  for (const f of readdirSync(e.d).filter((n) => n.startsWith('h.tar.'))) {
    await refused(t, e, f, join(e.d, f), /entry "a\/file" would be written through "a"/);
    rmSync(join(e.d, f));
  }
});

test('a damaged or truncated archive is refused, nothing kept', async (t) => {
  const e = env(t);
  const big = Buffer.alloc(256 * 1024, 7);
  const plain = tarBuffer([...BENIGN, { name: 'big', data: big }, { name: 'after', data: 'x' }]);
  writeFileSync(join(e.d, 'cut.tar'), plain.subarray(0, 5000));
  await refused(t, e, 'cut', join(e.d, 'cut.tar'), /the archive ends in the middle of an entry \(after "big"\); is it truncated\?/);
  const broken = Buffer.from(plain);
  broken[BENIGN.length * 512 + 512 + 512 + big.length + 10] = 0x41; // inside the header of "after"
  writeFileSync(join(e.d, 'broken.tar'), broken);
  await refused(t, e, 'broken', join(e.d, 'broken.tar'), /damaged tar header at byte \d+ \(after "big"\)/);
  writeFileSync(join(e.d, 'full.tar'), plain);
  execFileSync('xz', ['-k', '-q', '-0', join(e.d, 'full.tar')]);
  const xz = readFileSync(join(e.d, 'full.tar.xz'));
  writeFileSync(join(e.d, 'cut.tar.xz'), xz.subarray(0, Math.floor(xz.length / 2)));
  await refused(t, e, 'cut xz', join(e.d, 'cut.tar.xz'), /(xz could not decompress all of it|ends in the middle of an entry)/);
  // Whole entries, no end marker, then a damaged second xz stream: the tar stream stops between two entries,
  // which must not pass for the end of the archive.
  writeFileSync(join(e.d, 'part.tar'), plain.subarray(0, BENIGN.length * 512 + 512));
  execFileSync('xz', ['-q', '-0', join(e.d, 'part.tar')]);
  writeFileSync(join(e.d, 'part.tar.xz'), Buffer.concat([readFileSync(join(e.d, 'part.tar.xz')), Buffer.from('damaged')]));
  await refused(t, e, 'damaged xz', join(e.d, 'part.tar.xz'), /: xz could not decompress all of it; is it damaged or truncated\?$/);
  writeFileSync(join(e.d, 'cut.tar.gz'), (() => { const gz = gzipSync(plain); return gz.subarray(0, gz.length >> 1); })());
  await refused(t, e, 'cut gz', join(e.d, 'cut.tar.gz'), /cannot read it: unexpected end of file|ends in the middle/);
});

test('a benign archive keeps its links, long names and special bits: absolute and .. symlinks are data, not paths', async (t) => {
  const e = env(t);
  const longDir = 'usr/share/' + 'deep/'.repeat(30);
  const file = writeTar(join(e.d, 'ok.tar'), [
    { name: './', type: '5' },
    ...BENIGN,
    { name: 'bin/su', data: 'su', mode: 0o4755 },
    { name: 'bin/ping', type: '1', link: 'bin/su' },
    { name: 'bin/ash', type: '1', link: 'bin/sh' }, // a hard link to a symlink is a symlink
    { name: 'etc/localtime', type: '2', link: '/usr/share/zoneinfo/UTC' },
    { name: 'usr/', type: '5' },
    { name: 'usr/lib/', type: '5' },
    { name: 'usr/lib/libc.so', data: 'elf' },
    { name: 'lib', type: '2', link: 'usr/lib' },
    { name: 'usr/lib64', type: '2', link: '../lib' },
    { name: 'usr/escape', type: '2', link: '../../../../../../../../etc/passwd' },
    { name: longDir + 'gnu-long-name', data: 'gnu', format: 'gnu' },
    { name: longDir + 'pax-long-name', data: 'pax', format: 'pax' },
    { name: 'usr/share/link-long', type: '2', link: '/' + longDir + 'pax-long-name', format: 'pax' },
    { name: 'x', prefix: 'usr/share/prefixed', format: 'ustar', data: 'prefix' },
    { name: 'run/', type: '5' },
    { name: 'run/initctl', type: '6' },
  ]);
  const before = snapshot(e.d);
  await importImage({ root: e.root, store: join(e.root, '..', 'store'), name: 'ok', source: file });
  const r = resolveImage({ store: join(e.root, '..', 'store'), name: 'ok' }).rootfs!;
  t.is(readlinkSync(join(r, 'bin', 'sh')), '/bin/busybox');
  t.is(readlinkSync(join(r, 'bin', 'ash')), '/bin/busybox');
  t.is(readlinkSync(join(r, 'etc', 'localtime')), '/usr/share/zoneinfo/UTC');
  t.is(readlinkSync(join(r, 'usr', 'lib64')), '../lib');
  t.is(readlinkSync(join(r, 'usr', 'escape')), '../../../../../../../../etc/passwd');
  t.is(readlinkSync(join(r, 'usr', 'share', 'link-long')), '/' + longDir + 'pax-long-name');
  t.is(readFileSync(join(r, longDir, 'gnu-long-name'), 'utf8'), 'gnu');
  t.is(readFileSync(join(r, longDir, 'pax-long-name'), 'utf8'), 'pax');
  t.is(readFileSync(join(r, 'usr', 'share', 'prefixed', 'x'), 'utf8'), 'prefix');
  t.is(readFileSync(join(r, 'lib', 'libc.so'), 'utf8'), 'elf', 'a relative symlink inside the root works');
  t.is(statSync(join(r, 'bin', 'ping')).ino, statSync(join(r, 'bin', 'su')).ino);
  t.true(lstatSync(join(r, 'run', 'initctl')).isFIFO());
  if (isRoot) t.is(statSync(join(r, 'bin', 'su')).mode & 0o7777, 0o4755);
  t.deepEqual(snapshot(e.d), before);
});

test('GNU tar\'s own defences (the second layer, behind the gate): with podns\'s flags, links followed by entries stay inside', async (t) => {
  const e = env(t);
  for (const [name, entries] of cases(e).filter(([n]) => /symlink|hard link|chain|spelling|replaced/.test(n))) {
    const dest = mkdtempSync(join(e.d, 'state-'));
    const before = snapshot(e.d);
    await execa('/usr/bin/tar', tarExtractArgs(dest), { input: tarBuffer([...BENIGN, ...entries]), reject: false });
    t.deepEqual(snapshot(e.d).filter((l) => !l.startsWith('state-')), before.filter((l) => !l.startsWith('state-')), name);
    rmSync(dest, { recursive: true, force: true });
  }
});

test('a directory with a device node or a socket is refused; nothing is kept', async (t) => {
  if (!isRoot) {
    t.log('not root: mknod needs CAP_MKNOD, so this runs only as root');
    t.pass();
    return;
  }
  const e = env(t);
  const src = makeBusyboxRootfs(join(e.d, 'src'));
  execFileSync('mknod', ['-m', '666', join(src, 'dev', 'null'), 'c', '1', '3']);
  chmodSync(join(src, 'dev', 'null'), 0o4666); // setuid on a device, too
  let err = await t.throwsAsync(importImage({ root: e.root, store: join(e.root, '..', 'store'), name: 'dev', source: src }), { instanceOf: PodnsError });
  t.regex(err!.message, /^"\/.*\/src" holds a character device node "dev\/null"; an image may not hold device nodes \(a container gets its own minimal \/dev\): remove it from the source$/);
  t.deepEqual(storeEntries(e.root), []);
  rmSync(join(src, 'dev', 'null'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(src, 'run', 'sock'), resolve));
  t.teardown(() => server.close());
  err = await t.throwsAsync(importImage({ root: e.root, store: join(e.root, '..', 'store'), name: 'dev', source: src }), { instanceOf: PodnsError });
  t.regex(err!.message, /holds a socket "run\/sock"; an image may not hold sockets/);
  t.deepEqual(storeEntries(e.root), []);
});
