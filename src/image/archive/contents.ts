// What an image archive holds, by name inside the archive: small JSON documents (manifest.json, index.json,
// oci-layout, repositories, legacy configs), read into memory under a cap; blobs, streamed into the content
// store as they go by (blobs/ALG/HEX verified against the digest their name says; a docker save layer.tar
// hashed on the way in, its digest learnt at the end); links, resolved by name inside the archive.
// Nothing here touches a path named by the archive: blobs reach the store by digest only.
import { Readable } from 'node:stream';
import type { ContentStore } from '../content/store.js';
import { parseDigest } from '../digest.js';
import { LIMITS } from '../oci.js';
import { archiveName, hostile, MAX_LINK_HOPS, symlinkTarget } from './names.js';

/** JSON documents larger than this are refused (an image config's cap: the largest JSON an archive needs). */
export const MAX_DOCUMENT = LIMITS.configBytes;
/** All documents of one archive together. */
export const MAX_DOCUMENTS_TOTAL = 64 << 20;
/** Entries of one archive (each kept as a name in memory). */
export const MAX_ENTRIES = 100_000;

export type ArchiveFile =
  | { kind: 'document'; data: Buffer }
  | { kind: 'blob'; digest: string; size: number }
  | { kind: 'link'; target: string; how: 'symbolic link' | 'hard link' }
  | { kind: 'other'; what: string };

/** How an entry is kept, from its name: a blob of an OCI layout, a document, a docker layer, or nothing. */
export type EntryRole = { role: 'oci-blob'; digest: string } | { role: 'document' } | { role: 'layer' } | { role: 'skip' };

const DOCUMENTS = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories']);

export function entryRole(name: string): EntryRole {
  const parts = name.split('/');
  if (parts.length === 3 && parts[0] === 'blobs') {
    // the digest the name claims is validated before it is used for anything
    return { role: 'oci-blob', digest: parseDigest(`${parts[1]}:${parts[2]}`, `archive entry "${name.slice(0, 200)}"`).value };
  }
  if (DOCUMENTS.has(name) || name.endsWith('.json')) return { role: 'document' };
  if (name.endsWith('.tar') || name.endsWith('/layer.tar')) return { role: 'layer' };
  return { role: 'skip' };
}

export class ArchiveContents {
  readonly files = new Map<string, ArchiveFile>();
  private documentBytes = 0;

  constructor(readonly source: string) {}

  add(name: string, f: ArchiveFile): void {
    if (this.files.has(name)) throw hostile(`${this.source}: "${name.slice(0, 200)}" appears twice in the archive`);
    if (this.files.size >= MAX_ENTRIES) throw hostile(`${this.source}: more than ${MAX_ENTRIES} entries`);
    if (f.kind === 'document') {
      this.documentBytes += f.data.length;
      if (this.documentBytes > MAX_DOCUMENTS_TOTAL) throw hostile(`${this.source}: more than ${MAX_DOCUMENTS_TOTAL} bytes of JSON documents`);
    }
    this.files.set(name, f);
  }

  has(raw: string): boolean {
    return this.files.has(raw);
  }

  /** The file a name (as the archive's documents write it) stands for, links followed inside the archive. */
  resolve(raw: unknown, what: string): Exclude<ArchiveFile, { kind: 'link' }> {
    let name = archiveName(raw, what);
    for (let hops = 0; ; hops++) {
      const f = this.files.get(name);
      if (f === undefined) throw hostile(`${what}: "${name.slice(0, 200)}" is not in the archive`);
      if (f.kind !== 'link') return f;
      if (hops >= MAX_LINK_HOPS) throw hostile(`${what}: "${name.slice(0, 200)}" is a chain of more than ${MAX_LINK_HOPS} links`);
      name = f.target;
    }
  }

  /** A JSON document's bytes. */
  document(raw: unknown, what: string): Buffer {
    const f = this.resolve(raw, what);
    if (f.kind !== 'document') throw hostile(`${what}: "${String(raw).slice(0, 200)}" is not a JSON document of the archive`);
    return f.data;
  }

  /** A blob's digest and size. */
  blob(raw: unknown, what: string): { digest: string; size: number } {
    const f = this.resolve(raw, what);
    if (f.kind !== 'blob') throw hostile(`${what}: "${String(raw).slice(0, 200)}" is not a layer or blob file of the archive`);
    return { digest: f.digest, size: f.size };
  }

  /**
   * Whether the archive carries blob DIGEST as blobs/ALG/HEX. An entry of that name that is not that blob (a
   * symbolic link in a layout directory, a device, a link to another blob) refuses the archive.
   */
  hasBlob(digest: string, what = `blob ${digest}`): boolean {
    const d = parseDigest(digest);
    const name = `blobs/${d.algorithm}/${d.hex}`;
    if (!this.files.has(name)) return false;
    const f = this.resolve(name, what);
    if (f.kind === 'other') throw hostile(`${what}: "${name}" is ${f.what}`);
    if (f.kind !== 'blob' || f.digest !== d.value) throw hostile(`${what}: "${name}" is not the blob its name says`);
    return true;
  }
}

/** Reads a document entry, capped. */
export async function readDocument(data: AsyncIterable<Buffer>, size: number, name: string, source: string): Promise<Buffer> {
  if (size > MAX_DOCUMENT) throw hostile(`${source}: "${name.slice(0, 200)}" is ${size} bytes, more than the ${MAX_DOCUMENT} allowed for a JSON document`);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of data) {
    n += c.length;
    if (n > MAX_DOCUMENT) throw hostile(`${source}: "${name.slice(0, 200)}" is more than the ${MAX_DOCUMENT} bytes allowed for a JSON document`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/**
 * Keeps one regular-file entry: a document in memory, a blob in the content store (its named digest checked,
 * or learnt), anything else skipped. OPEN gives the entry's bytes from an offset (a resumed ingest asks for
 * the rest of a blob whose start is already in the store's ingest file).
 */
export async function keepFile(c: ArchiveContents, content: ContentStore, name: string, size: number, open: (offset: number) => AsyncIterable<Buffer>): Promise<void> {
  const r = entryRole(name);
  if (r.role === 'skip') return;
  if (r.role === 'document') {
    c.add(name, { kind: 'document', data: await readDocument(open(0), size, name, c.source) });
  } else if (r.role === 'oci-blob') {
    await content.ingest(r.digest, size, async (offset) => Readable.from(open(offset), { objectMode: false }));
    c.add(name, { kind: 'blob', digest: r.digest, size });
  } else {
    const got = await content.ingestStream(open(0), size);
    if (got.size !== size) throw hostile(`${c.source}: "${name.slice(0, 200)}" ended after ${got.size} of ${size} bytes`);
    c.add(name, { kind: 'blob', ...got });
  }
}

export function keepLink(c: ArchiveContents, name: string, how: 'symbolic link' | 'hard link', linkname: string): void {
  const target = how === 'symbolic link' ? symlinkTarget(name, linkname) : archiveName(linkname, `hard link "${name.slice(0, 200)}"`);
  c.add(name, { kind: 'link', target, how });
}
