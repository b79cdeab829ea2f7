// The content store: blobs (layers, configs, manifests) by digest, verified, immutable.
//
//   STORE/blobs/ALG/HEX      a complete blob whose digest was checked on the way in
//   STORE/ingest/ALG-HEX     a download in progress or interrupted, named by the digest it should become
//
// A blob reaches blobs/ only by rename(2) of its ingest file after the whole stream was hashed, its size checked,
// and the file fsynced: a crash at any point leaves at most an ingest file, never a blob that is used as complete.
// An interrupted download resumes from the ingest file's length: the prefix is re-hashed from disk, then OPEN
// is asked for the rest from that offset (a registry GET with Range). Nothing is ever held in memory.
//
// Two pulls of one blob (tasks of one process, or two processes) do not write one file at once: an ingest file
// is written only under flock(LOCK_EX) on it, checked to still be the file at that name (as lock.ts does); the
// other one waits and then finds the blob. clean() removes ingest files nobody holds (dead downloads).
import { closeSync, constants, createReadStream, fstatSync, fsync, fsyncSync, mkdirSync, openSync, read, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeSync, ftruncateSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { digester, digestOf, parseDigest, type Digest } from '../digest.js';
import { isErrno, PodnsError } from '../../errors.js';
import { native } from '../../native/index.js';

const DIR_MODE = 0o700;
const FILE_MODE = 0o644;
/** How often a waiter looks whether another process's download finished. */
const WAIT_POLL_MS = 50;
const HASH_CHUNK = 1 << 20;
/** How often follow() looks for more bytes of a download it has caught up with. */
const FOLLOW_POLL_MS = 5;
const FOLLOW_CHUNK = 256 * 1024;
const fsyncAsync = promisify(fsync);
const readAsync = promisify(read);
/** The code an opener throws when it cannot serve from the offset asked: ingest starts over from 0. */
export const RANGE_REFUSED = 'ERANGE';

/** Bytes so far (a resumed prefix included) and the expected total when known. */
export type IngestProgress = (bytes: number, total: number | undefined) => void;

/** A readable of the blob from OFFSET on (a registry GET with `Range: bytes=OFFSET-`). */
export type BlobOpener = (offset: number) => Promise<Readable>;
// (an opener that cannot serve from OFFSET throws a PodnsError with code RANGE_REFUSED)

export class ContentStore {
  readonly dir: string;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  private blobPath(d: Digest): string {
    return join(this.dir, 'blobs', d.algorithm, d.hex);
  }

  private ingestPath(d: Digest): string {
    return join(this.dir, 'ingest', `${d.algorithm}-${d.hex}`);
  }

  private ensureDirs(d: Digest): void {
    mkdirSync(join(this.dir, 'blobs', d.algorithm), { recursive: true, mode: DIR_MODE });
    mkdirSync(join(this.dir, 'ingest'), { recursive: true, mode: DIR_MODE });
  }

  /** Path of a blob (whether or not it is there); the digest is validated first. */
  path(digest: string): string {
    return this.blobPath(parseDigest(digest));
  }

  has(digest: string): boolean {
    return this.size(digest) !== undefined;
  }

  /** Size of a stored blob, undefined when absent. */
  size(digest: string): number | undefined {
    const st = statSync(this.path(digest), { throwIfNoEntry: false });
    return st?.isFile() ? st.size : undefined;
  }

  /**
   * Streams a blob into the store (see the file's comment). SIZE, when known, is enforced: more bytes are refused
   * at once, fewer leave a resumable ingest file. A digest mismatch removes the ingest file: nothing is kept.
   */
  async ingest(digest: string, size: number | undefined, open: BlobOpener, onProgress?: IngestProgress): Promise<void> {
    const d = parseDigest(digest);
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw new PodnsError('EBADIMAGE', `blob ${d.value}: size ${size} is not a non-negative integer`);
    }
    if (this.has(d.value)) return;
    const running = this.inflight.get(d.value);
    if (running !== undefined) return running;
    const p = this.ingestLocked(d, size, open, onProgress).finally(() => this.inflight.delete(d.value));
    this.inflight.set(d.value, p);
    return p;
  }

  private async ingestLocked(d: Digest, size: number | undefined, open: BlobOpener, onProgress?: IngestProgress): Promise<void> {
    this.ensureDirs(d);
    const ingest = this.ingestPath(d);
    const fd = await this.lockIngest(d, ingest);
    if (fd === undefined) return; // another process stored it meanwhile
    let keep = true;
    try {
      let offset = fstatSync(fd).size;
      if (size !== undefined && offset > size) {
        ftruncateSync(fd, 0);
        offset = 0;
      }
      let h = digester(d.algorithm);
      hashPrefix(fd, offset, h);
      onProgress?.(offset, size);
      if (size === undefined || offset < size) {
        let input: Readable;
        try {
          input = await open(offset);
        } catch (err) {
          // the source cannot serve the rest from OFFSET (a bad or refused Range): start over from 0
          if (offset === 0 || !(err instanceof PodnsError) || err.code !== RANGE_REFUSED) throw err;
          ftruncateSync(fd, 0);
          offset = 0;
          h = digester(d.algorithm);
          onProgress?.(0, size);
          input = await open(0);
        }
        let pos = offset;
        try {
          for await (const chunk of input as AsyncIterable<Buffer>) {
            if (size !== undefined && pos + chunk.length > size) {
              keep = false;
              throw new PodnsError('EBADBLOB', `blob ${d.value}: the registry sent more than the ${size} bytes its descriptor says; refused`);
            }
            writeAll(fd, chunk, pos);
            h.update(chunk);
            pos += chunk.length;
            onProgress?.(pos, size);
          }
        } finally {
          input.destroy();
        }
        if (size !== undefined && pos < size) {
          await fsyncAsync(fd); // what we have is a valid prefix for a resume
          throw new PodnsError('ETRUNCATED', `blob ${d.value}: the download ended after ${pos} of ${size} bytes; it resumes from there on the next try`);
        }
      }
      const got = h.digest();
      if (got !== d.value) {
        keep = false;
        throw new PodnsError('EBADBLOB', `blob ${d.value}: its content hashes to ${got}; the registry or the network corrupted it, nothing was kept`);
      }
      // on the thread pool: the other downloads go on meanwhile (a 50 MB layer's fsync takes tens of ms)
      await fsyncAsync(fd);
      renameSync(ingest, this.blobPath(d));
      await fsyncDirAsync(join(this.dir, 'blobs', d.algorithm));
    } catch (err) {
      if (!keep) rmSync(ingest, { force: true });
      throw err;
    } finally {
      closeSync(fd); // drops the flock
    }
  }

  /** Opens and locks the ingest file; undefined when the blob appeared while waiting for another writer. */
  private async lockIngest(d: Digest, ingest: string): Promise<number | undefined> {
    for (;;) {
      const fd = openSync(ingest, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
      try {
        for (;;) {
          try {
            native.flock(fd, 'ex', true);
            break;
          } catch (err) {
            if (!isErrno(err, 'EAGAIN', 'EWOULDBLOCK')) throw err;
          }
          await sleep(WAIT_POLL_MS);
        }
        if (this.has(d.value)) {
          closeSync(fd);
          return undefined;
        }
        const now = statSync(ingest, { throwIfNoEntry: false });
        const mine = fstatSync(fd);
        if (now !== undefined && now.ino === mine.ino && now.dev === mine.dev && mine.isFile()) return fd;
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      // locked a file that was renamed into blobs/ or removed meanwhile: start over
      closeSync(fd);
    }
  }

  /**
   * Streams a blob whose digest is not known beforehand (a layer.tar of a docker save archive) into the store:
   * written to an ingest file, hashed on the way, fsynced, then renamed to the digest it hashed to. MAXBYTES caps
   * it. Returns its digest and size; the caller compares them with what it expected.
   */
  async ingestStream(input: AsyncIterable<Buffer>, maxBytes = Number.MAX_SAFE_INTEGER): Promise<{ digest: string; size: number }> {
    mkdirSync(join(this.dir, 'ingest'), { recursive: true, mode: DIR_MODE });
    const tmp = join(this.dir, 'ingest', `put-${process.pid}-stream-${Math.random().toString(36).slice(2, 10)}`);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
    let done = false;
    try {
      const h = digester('sha256');
      let pos = 0;
      for await (const chunk of input) {
        if (pos + chunk.length > maxBytes) throw new PodnsError('EBADBLOB', `a blob of more than ${maxBytes} bytes; refused`);
        writeAll(fd, chunk, pos);
        h.update(chunk);
        pos += chunk.length;
      }
      const d = parseDigest(h.digest());
      if (!this.has(d.value)) {
        this.ensureDirs(d);
        // on the thread pool, as ingest() does
        await fsyncAsync(fd);
        renameSync(tmp, this.blobPath(d));
        await fsyncDirAsync(join(this.dir, 'blobs', d.algorithm));
        done = true;
      }
      return { digest: d.value, size: pos };
    } finally {
      closeSync(fd);
      if (!done) rmSync(tmp, { force: true });
    }
  }

  /** Stores a small blob (a manifest, a config) from memory; returns its digest. */
  put(buf: Buffer, expectDigest?: string): string {
    const want = expectDigest !== undefined ? parseDigest(expectDigest) : undefined;
    const got = want !== undefined && want.algorithm !== 'sha256' ? hashBuf(buf, want) : digestOf(buf);
    if (want !== undefined && got !== want.value) {
      throw new PodnsError('EBADBLOB', `blob ${want.value}: its content hashes to ${got}; refused`);
    }
    const d = parseDigest(got);
    if (this.has(d.value)) return d.value;
    this.ensureDirs(d);
    const tmp = join(this.dir, 'ingest', `put-${process.pid}-${d.algorithm}-${d.hex}`);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, FILE_MODE);
    try {
      writeAll(fd, buf, 0);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, this.blobPath(d));
    fsyncDir(join(this.dir, 'blobs', d.algorithm));
    return d.value;
  }

  /** Reads a small blob, refusing one larger than MAXBYTES; its digest is checked again (cheap at this size). */
  read(digest: string, maxBytes: number): Buffer {
    const d = parseDigest(digest);
    const size = this.size(d.value);
    if (size === undefined) throw new PodnsError('ENOBLOB', `blob ${d.value} is not in the content store ${this.dir}; pull the image again`);
    if (size > maxBytes) throw new PodnsError('EBADBLOB', `blob ${d.value} is ${size} bytes, more than the ${maxBytes} allowed here`);
    const buf = readFileSync(this.blobPath(d));
    const got = hashBuf(buf, d);
    if (got !== d.value) {
      throw new PodnsError('EBADBLOB', `blob ${d.value} in ${this.dir} hashes to ${got}: the store was damaged; remove it with image prune and pull again`);
    }
    return buf;
  }

  /** A stream of a stored blob. */
  open(digest: string): Readable {
    const p = this.path(digest);
    if (!this.has(digest)) throw new PodnsError('ENOBLOB', `blob ${digest} is not in the content store ${this.dir}; pull the image again`);
    return createReadStream(p);
  }

  /**
   * A stream of a blob that may still be downloading (by ingest(), in this process or another): it reads the
   * ingest file as it grows and waits for more, and it ends only once that very file (same inode, read to its
   * end) is the blob in blobs/, i.e. after ingest() verified its digest and renamed it. A download that fails,
   * starts over in a new file or is removed makes it fail (ETRUNCATED): whatever was made from the bytes read
   * must be thrown away. A blob already stored is simply read. For unpacking a layer while it downloads.
   */
  follow(digest: string, o: { signal?: AbortSignal } = {}): Readable {
    const d = parseDigest(digest);
    const blob = this.blobPath(d);
    const ingest = this.ingestPath(d);
    const signal = o.signal;
    const gone = (why: string) => new PodnsError('ETRUNCATED', `blob ${d.value}: ${why} while it was being read as it downloaded`);
    const same = (a: Stats | undefined, b: Stats) => a !== undefined && a.ino === b.ino && a.dev === b.dev;
    async function* chunks(): AsyncGenerator<Buffer> {
      let fd: number | undefined;
      try {
        while (fd === undefined) {
          signal?.throwIfAborted();
          fd = openIfThere(blob) ?? openIfThere(ingest);
          if (fd === undefined) await sleep(FOLLOW_POLL_MS, undefined, signal !== undefined ? { signal } : {});
        }
        let pos = 0;
        for (;;) {
          signal?.throwIfAborted();
          const st = fstatSync(fd);
          if (st.size > pos) {
            const buf = Buffer.allocUnsafe(Math.min(FOLLOW_CHUNK, st.size - pos));
            const { bytesRead } = await readAsync(fd, buf, 0, buf.length, pos);
            if (bytesRead === 0) throw gone('the file shrank');
            pos += bytesRead;
            yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
            continue;
          }
          if (st.size < pos) throw gone('the download started over');
          // caught up: the end, when this file is the blob now (its writer is done with it: read its final size)
          if (same(statSync(blob, { throwIfNoEntry: false }), st)) {
            if (fstatSync(fd).size === pos) return;
            continue;
          }
          if (!same(statSync(ingest, { throwIfNoEntry: false }), st) && !same(statSync(blob, { throwIfNoEntry: false }), st)) {
            throw gone('the download was abandoned or started over');
          }
          await sleep(FOLLOW_POLL_MS, undefined, signal !== undefined ? { signal } : {});
        }
      } catch (err) {
        if (signal?.aborted) throw new PodnsError('ECANCELED', `reading blob ${d.value} was cancelled`, { cause: signal.reason });
        throw err;
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /** Removes a blob (no error when absent). */
  remove(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  /** Digests of every stored blob. */
  list(): string[] {
    const out: string[] = [];
    for (const alg of readdirOrEmpty(join(this.dir, 'blobs'))) {
      for (const hex of readdirOrEmpty(join(this.dir, 'blobs', alg))) {
        const v = `${alg}:${hex}`;
        try {
          out.push(parseDigest(v).value);
        } catch {
          // not ours (a stray file): list() shows blobs only
        }
      }
    }
    return out.sort();
  }

  /** Resumable partial downloads: digest → bytes so far. */
  partials(): Map<string, number> {
    const out = new Map<string, number>();
    for (const name of readdirOrEmpty(join(this.dir, 'ingest'))) {
      const m = /^(sha256|sha512)-([a-f0-9]+)$/.exec(name);
      if (m === null) continue;
      const st = statSync(join(this.dir, 'ingest', name), { throwIfNoEntry: false });
      if (st?.isFile()) out.set(`${m[1]}:${m[2]}`, st.size);
    }
    return out;
  }

  /**
   * Removes ingest files no live download holds: partial downloads of processes that died (kept until now so a
   * retry could resume them) and leftovers of put(). Returns the names removed. For image prune and gc.
   */
  clean(): string[] {
    const removed: string[] = [];
    const dir = join(this.dir, 'ingest');
    for (const name of readdirOrEmpty(dir)) {
      const p = join(dir, name);
      const put = /^put-(\d+)-/.exec(name);
      if (put !== null) {
        if (!pidAlive(Number(put[1]))) {
          rmSync(p, { force: true });
          removed.push(name);
        }
        continue;
      }
      let fd: number;
      try {
        fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch {
        rmSync(p, { force: true });
        removed.push(name);
        continue;
      }
      try {
        native.flock(fd, 'ex', true);
        // nobody is writing it: remove (under our lock, so no writer starts on this inode meanwhile)
        unlinkSync(p);
        removed.push(name);
      } catch (err) {
        if (!isErrno(err, 'EAGAIN', 'EWOULDBLOCK', 'ENOENT')) throw err;
      } finally {
        closeSync(fd);
      }
    }
    return removed;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

function hashBuf(buf: Buffer, d: Digest): string {
  const h = digester(d.algorithm);
  h.update(buf);
  return h.digest();
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, position + off);
}

/** Feeds the first N bytes of FD to the hasher, from disk, a chunk at a time. */
function hashPrefix(fd: number, n: number, h: { update(b: Uint8Array): void }): void {
  if (n === 0) return;
  const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK, n));
  let pos = 0;
  while (pos < n) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, n - pos), pos);
    if (got === 0) throw new PodnsError('ETRUNCATED', 'an ingest file shrank while it was being read');
    h.update(buf.subarray(0, got));
    pos += got;
  }
}

function openIfThere(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

async function fsyncDirAsync(dir: string): Promise<void> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}
