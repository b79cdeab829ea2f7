// A gate in front of `tar -x`: reads the archive's headers as the bytes stream through and lets an entry's
// bytes pass only once its header is checked, so the tar program never sees an entry that was not.
//
// The hazards of extracting an image as root: a name with ".." or a leading "/" writes outside the root;
// a symbolic link in the archive, followed by an entry below it ("a -> /etc", then "a/passwd"), writes
// through the link onto the host; a hard link can name a host file; a device node gives whoever runs the
// image the host's disk. GNU tar defends against the first three on its own (it refuses ".." members,
// strips "/", and makes an escaping symlink a placeholder file until the end), but an image store should
// not rest on one program's defaults, and nothing in tar refuses device nodes. So, for every entry:
// - its name and a hard link's target are relative, without "..", and not below a symlink the archive made
//   earlier (nor below a hard link to one): nothing is ever written through the archive's own links;
// - block and character devices are refused; symlink targets are free (they are resolved in the
//   container's root at run time, not here).
//
// To see exactly what GNU tar sees, the names are assembled its way: a pax `path`/`linkpath` wins over a GNU
// long name/link ('L'/'K'), which wins over the header's fields; a ustar prefix ("ustar\0" magic) is joined
// with "/". Whatever this reader does not model (sparse files, volume labels, Solaris 'X' headers, data on
// a link or directory, repeated extension headers) is refused rather than guessed, so the two readers cannot
// disagree on where the next header is.
import { PodnsError } from '../errors.js';
import { BLOCK, MAX_META, checksumOk, field, headerLink, headerName, num, padding, parsePax, paxSize, typeFlag } from './tar-header.js';

const TYPES: Record<string, string> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hard link', '2': 'symbolic link', '3': 'character device',
  '4': 'block device', '5': 'directory', '6': 'fifo', L: 'GNU long name', K: 'GNU long link', x: 'pax header',
  g: 'pax global header',
};

function refuse(why: string): PodnsError {
  return new PodnsError('EIMPORT', why);
}

const REBUILD = 'rebuild the archive from the root filesystem\'s directory: tar -C ROOTFS -cf rootfs.tar .';

/** Path components, without "" and "."; refuses absolute names and "..". */
function components(name: string, what: string): string[] {
  if (name.includes('\0')) throw refuse(`${what} contains a NUL byte; ${REBUILD}`);
  if (name.startsWith('/')) throw refuse(`${what} is an absolute path, which would be written outside the image's root; ${REBUILD}`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw refuse(`${what} has a ".." component, which would leave the image's root; ${REBUILD}`);
  return parts;
}

export class TarGate {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** bytes of the current entry's data (and padding) still to pass through */
  private dataLeft = 0;
  /** offset in the archive of the next byte read */
  private offset = 0;
  private meta: { type: string; size: number; header: Buffer; at: number } | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Map<string, string> | undefined;
  /** names (components joined by "/") the archive made symbolic links, or hard links to those */
  private readonly links = new Set<string>();
  private lastName = '';
  done = false;

  /** Feeds bytes; returns the bytes that may go to tar now. Throws a one-line PodnsError on a refusal. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length && !this.done) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        this.dataLeft -= n;
        this.offset += n;
        pos += n;
        continue;
      }
      // Collect a whole header block, or a whole extension header's data.
      const need = this.meta ? this.meta.size + padding(this.meta.size) : BLOCK;
      const n = Math.min(need - this.pendingLen, chunk.length - pos);
      this.pending.push(chunk.subarray(pos, pos + n));
      this.pendingLen += n;
      pos += n;
      if (this.pendingLen < need) break;
      const block = Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
      if (this.meta) {
        const m = this.meta;
        this.meta = undefined;
        this.takeMeta(m.type, block.subarray(0, m.size));
        out.push(m.header, block);
      } else {
        out.push(...this.header(block));
      }
      this.offset += need;
    }
    return out;
  }

  /** At the end of the input: a truncated archive is refused; a missing end marker is supplied. */
  end(): Buffer[] {
    if (this.done) return [];
    if (this.dataLeft > 0 || this.meta || this.pendingLen > 0 || this.longName !== undefined || this.longLink !== undefined || this.pax) {
      throw refuse(`the archive ends in the middle of an entry${this.lastName ? ` (after "${this.lastName}")` : ''}; is it truncated?`);
    }
    this.done = true;
    return [Buffer.alloc(2 * BLOCK)];
  }

  private header(h: Buffer): Buffer[] {
    if (h.every((c) => c === 0)) {
      // End of archive. GNU tar stops at the first zero block too; nothing after it is passed on.
      this.done = true;
      return [h, Buffer.alloc(BLOCK)];
    }
    if (!checksumOk(h)) {
      throw refuse(this.offset === 0
        ? 'this does not look like a tar archive (nor one compressed with gzip, bzip2, xz or zstd)'
        : `damaged tar header at byte ${this.offset}${this.lastName ? ` (after "${this.lastName}")` : ''}`);
    }
    const type = typeFlag(h);
    const size = num(h, 124, 12);
    if (size < 0) throw refuse(`damaged tar header at byte ${this.offset}: bad size field`);
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      const again = type === 'L' ? this.longName : type === 'K' ? this.longLink : type === 'x' ? this.pax : undefined;
      if (again !== undefined) throw refuse(`two ${TYPES[type]} headers in a row at byte ${this.offset}; ${REBUILD}`);
      if (size > MAX_META) throw refuse(`a ${TYPES[type]} of ${size} bytes at byte ${this.offset}; podns reads at most ${MAX_META}`);
      if (size === 0) {
        this.takeMeta(type, Buffer.alloc(0));
        return [h];
      }
      this.meta = { type, size, header: h, at: this.offset };
      return [];
    }

    let name = this.longName ?? headerName(h, 'latin1');
    let link = this.longLink ?? headerLink(h, 'latin1');
    let dataSize = size;
    if (this.pax) {
      name = this.pax.get('path') ?? name;
      link = this.pax.get('linkpath') ?? link;
      const s = this.pax.get('size');
      if (s !== undefined) {
        dataSize = paxSize(s);
        if (dataSize < 0) throw refuse(`entry "${name}" has a bad pax size "${s}"`);
      }
      if ([...this.pax.keys()].some((k) => k.startsWith('GNU.sparse.'))) {
        throw refuse(`entry "${name}" is a sparse file, which podns does not read; re-create the archive without --sparse`);
      }
    }
    this.longName = this.longLink = this.pax = undefined;
    this.lastName = name;
    const what = `entry "${name}"`;

    const kind = TYPES[type];
    if (kind === undefined || type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      throw refuse(`${what} has the unsupported tar type '${type.replace(/[^ -~]/g, '?')}'${type === 'S' ? ' (sparse)' : ''}; give a plain root filesystem tarball such as 'docker export' writes`);
    }
    if (type === '3' || type === '4') {
      throw refuse(`${what} is a ${kind} (${num(h, 329, 8)},${num(h, 337, 8)}); an image may not hold device nodes (a container gets its own minimal /dev): remove it from the archive`);
    }
    const parts = components(name, what);
    const isDir = type === '5' || (kind === 'file' && name.endsWith('/'));
    if (parts.length === 0 && !isDir) throw refuse(`${what} would replace the image's root directory with a ${kind}; ${REBUILD}`);
    for (let i = 1; i < parts.length; i++) {
      const above = parts.slice(0, i).join('/');
      if (this.links.has(above)) {
        throw refuse(`${what} would be written through "${above}", which the archive made a link; podns does not follow an image's links while extracting it: ${REBUILD}`);
      }
    }
    if (type === '1') {
      const target = components(link, `${what}, a hard link to "${link}",`);
      if (target.length === 0) throw refuse(`${what} is a hard link to the image's root directory; ${REBUILD}`);
      for (let i = 1; i < target.length; i++) {
        const above = target.slice(0, i).join('/');
        if (this.links.has(above)) {
          throw refuse(`${what} is a hard link to "${link}", through "${above}", which the archive made a link; ${REBUILD}`);
        }
      }
      // A hard link to a symlink is a symlink (linkat does not follow it).
      if (this.links.has(target.join('/'))) this.links.add(parts.join('/'));
    }
    if (type === '2') this.links.add(parts.join('/'));
    if (kind !== 'file' || isDir) {
      if (dataSize !== 0) throw refuse(`${what}, a ${isDir ? 'directory' : kind}, carries ${dataSize} bytes of data; ${REBUILD}`);
    }
    this.dataLeft = dataSize + padding(dataSize);
    return [h];
  }

  private takeMeta(type: string, data: Buffer): void {
    const where = `byte ${this.offset}`;
    if (type === 'L') this.longName = field(data, 0, data.length, 'latin1');
    else if (type === 'K') this.longLink = field(data, 0, data.length, 'latin1');
    else {
      const pax = parsePax(data, 'latin1');
      if (pax === undefined) throw refuse(`damaged pax header before ${where}`);
      for (const [k, v] of pax) {
        if ((k === 'path' || k === 'linkpath') && v.includes('\0')) throw refuse(`pax ${k} "${v.replace(/\0/g, '\\0')}" contains a NUL byte; ${REBUILD}`);
        // A global header's name or size would apply to entries this gate checks by their own.
        if (type === 'g' && (k === 'path' || k === 'linkpath' || k === 'size' || k.startsWith('GNU.sparse.'))) {
          throw refuse(`a pax global header sets "${k}" for every entry; ${REBUILD}`);
        }
      }
      if (type === 'x') this.pax = pax;
    }
  }
}
