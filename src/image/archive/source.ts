// Opens what `image load -i` names and collects its contents (contents.ts): standard input or a file holding a
// tar (plain, gzip or zstd: told apart by its first bytes), read once as a stream; or a directory (an OCI image
// layout), walked without following any symbolic link.
import { closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isErrno, oneLine, PodnsError } from '../../errors.js';
import type { ContentStore } from '../content/store.js';
import { decompressor, detectCompression, peek } from '../layers/apply.js';
import { ArchiveContents, keepFile, keepLink, MAX_ENTRIES } from './contents.js';
import { archiveName, hostile } from './names.js';
import { readTar, TarError } from './tar-read.js';

/** Directory depth walked in a layout directory (an OCI layout is 3 deep). */
const MAX_DEPTH = 16;

/** Skips the first OFFSET bytes of a one-shot stream. */
async function* from(data: AsyncIterable<Buffer>, offset: number): AsyncGenerator<Buffer> {
  let skip = offset;
  for await (const c of data) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    yield skip > 0 ? c.subarray(skip) : c;
    skip = 0;
  }
}

/** The magic numbers of whole-archive compressions podns does not read itself. */
function otherCompression(head: Buffer): string | undefined {
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return undefined;
}

/** Collects a tar stream (maybe compressed as a whole). */
export async function collectTar(input: Readable, content: ContentStore, source: string): Promise<ArchiveContents> {
  const { head, rest } = await peek(input);
  if (head.length === 0) throw new PodnsError('EBADARCHIVE', `${source} is empty; give an archive written by docker save, podman save, skopeo or podns image save`);
  const other = otherCompression(head);
  if (other !== undefined) {
    rest.destroy();
    throw new PodnsError('EBADARCHIVE', `${source} is compressed with ${other}, which podns does not read; decompress it first (${other === 'xz' ? 'xz' : 'bzip2'} -dc FILE | podns image load -i -)`);
  }
  const kind = detectCompression(head);
  const dec = decompressor(kind, rest);
  const c = new ArchiveContents(source);
  try {
    for await (const { entry, data } of readTar(dec.out as AsyncIterable<Buffer>)) {
      const name = archiveName(entry.name, `${source}: archive entry`);
      if (name === '') continue; // "./"
      if (entry.type === 'file') await keepFile(c, content, name, entry.size, (offset) => from(data, offset));
      else if (entry.type === 'symlink') keepLink(c, name, 'symbolic link', entry.linkname);
      else if (entry.type === 'hardlink') keepLink(c, name, 'hard link', entry.linkname);
      else if (entry.type === 'other') c.add(name, { kind: 'other', what: `a tar entry of type '${entry.flag}'` });
    }
    await dec.done;
  } catch (err) {
    dec.kill();
    // a decompressor's failure says "layer"; here it is the archive
    if (err instanceof PodnsError && err.code === 'ELAYER') throw new PodnsError('EBADARCHIVE', `${source}: ${err.message.replace('the layer', 'the archive').replace('the blob is damaged', 'it is damaged')}`);
    if (err instanceof TarError) throw new PodnsError('EBADARCHIVE', `${source} ${err.message}`);
    throw err;
  } finally {
    rest.destroy();
  }
  return c;
}

/** Collects a directory (an OCI layout, or an unpacked docker save): no symbolic link is followed. */
export async function collectDir(dir: string, content: ContentStore): Promise<ArchiveContents> {
  const c = new ArchiveContents(dir);
  let count = 0;
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) throw hostile(`${dir}: directories nested more than ${MAX_DEPTH} deep`);
    const names = readdirSync(join(dir, rel)).sort();
    for (const n of names) {
      if (++count > MAX_ENTRIES) throw hostile(`${dir}: more than ${MAX_ENTRIES} entries`);
      const name = archiveName(rel === '' ? n : `${rel}/${n}`, `${dir}: entry`);
      const full = join(dir, name);
      const st = lstatSync(full);
      if (st.isDirectory()) await walk(name, depth + 1);
      else if (st.isSymbolicLink()) c.add(name, { kind: 'other', what: 'a symbolic link (links are not followed in a layout directory)' });
      else if (st.isFile()) await keepFile(c, content, name, st.size, (offset) => fileFrom(full, offset, st));
      else c.add(name, { kind: 'other', what: 'not a regular file' });
    }
  };
  await walk('', 0);
  return c;
}

/** A file's bytes from OFFSET, opened without following a link and checked to be the file that was listed. */
async function* fileFrom(path: string, offset: number, listed: Stats): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ELOOP')) throw hostile(`${path} became a symbolic link`);
    throw err;
  }
  const st = fstatSync(fd);
  if (st.ino !== listed.ino || st.dev !== listed.dev || !st.isFile()) {
    closeSync(fd);
    throw hostile(`${path} changed while it was read`);
  }
  const s = createReadStream('', { fd, start: offset, highWaterMark: 1 << 20 });
  for await (const chunk of s) yield chunk as Buffer;
}

/** Collects what `image load -i INPUT` names: "-" is STDIN. */
export async function collectArchive(input: string, content: ContentStore, stdin: Readable = process.stdin): Promise<ArchiveContents> {
  if (input === '-') return collectTar(stdin, content, 'standard input');
  let st: Stats;
  try {
    st = lstatSync(input);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new PodnsError('ENOENT', `${input}: no such file or directory; give an archive (docker save, podman save, skopeo, podns image save) or an OCI layout directory`);
    throw new PodnsError('EBADARCHIVE', `${input}: ${oneLine(err)}`);
  }
  if (st.isDirectory()) return collectDir(input, content);
  if (st.isSymbolicLink()) {
    // the user's own path may be a link (an archive kept elsewhere): follow it, then it must be a file or dir
    if (statSync(input).isDirectory()) return collectDir(input, content);
  }
  return collectTar(createReadStream(input, { highWaterMark: 1 << 20 }), content, input);
}
