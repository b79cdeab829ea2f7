// `podns image import`: a root filesystem (a tarball such as `docker export` writes, or a directory) becomes
// an image of kind 'rootfs' in the store, with docker-import-style defaults (ENTRYPOINT, CMD, ENV, WORKDIR).
// A tarball is extracted by GNU tar behind a gate that checks every header first (extract.ts: no "..",
// absolute names, writes through the archive's own links, or device nodes); a directory is copied with
// `cp -a`. Either way the finished tree is walked once more and refused if it holds a device node or a socket.
//
// The import is built in STORE/tmp/import-PID-RAND and renamed to STORE/images/sha256/ID, then the name is
// pointed at it (records.ts): a failed or killed import never leaves a half image under a name. A name that
// pointed at another image moves (as `docker import` does); the old image stays while a container uses it.
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from '../util/random.js';
import { isErrno, oneLine, PodnsError } from '../errors.js';
import { writeJsonAtomic } from '../state/files.js';
import { resolveRoot, type RootOption } from '../state/paths.js';
import { cleanStoreTemp, resolveStore, storeTempDir, type StoreOption } from '../state/store-root.js';
import { run } from '../util/run.js';
import { digestOf } from './digest.js';
import { extractTar } from './extract.js';
import { imageDir, validateImageConfig, type ImageConfig, type StoredImage } from './records.js';
import { parseReference } from './reference.js';
import { nameImage, summaries, type ImageSummary } from './store.js';

/**
 * Apparent size of a tree, each inode once (hard links in busybox-style rootfs are common). Refuses device
 * nodes and sockets: `cp -a` copies them from a directory (and the tar gate is not the only way in), and
 * a device node in an image is the host's device in every container that runs it.
 */
function scanTree(dir: string, source: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (d: string, rel: string) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
      const st = lstatSync(p, { bigint: false });
      if (st.isBlockDevice() || st.isCharacterDevice()) {
        throw new PodnsError('EIMPORT', `"${source}" holds a ${st.isBlockDevice() ? 'block' : 'character'} device node "${r}"; an image may not hold device nodes (a container gets its own minimal /dev): remove it from the source`);
      }
      if (st.isSocket()) throw new PodnsError('EIMPORT', `"${source}" holds a socket "${r}"; an image may not hold sockets: remove it from the source`);
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (st.isDirectory()) walk(p, r);
      else if (st.isFile() || st.isSymbolicLink()) total += st.size;
    }
  };
  walk(dir, '');
  return total;
}

async function copyDir(src: string, dest: string): Promise<void> {
  // SRC/. copies the contents (and the attributes of SRC itself onto dest); -a keeps owners, modes, links, xattrs.
  const r = await run('/bin/cp', ['-a', '--reflink=auto', '--', `${src}/.`, dest])
    .catch((err: Error) => ({ code: -1, stdout: '', stderr: `cannot run /bin/cp: ${oneLine(err)}` }));
  if (r.code !== 0) {
    const why = r.stderr.split('\n').find((l) => l.trim() !== '')?.replace(/^(\S*\/)?cp: /, '') ?? `cp exited with status ${r.code}`;
    throw new PodnsError('EIMPORT', `cannot copy "${src}": ${why}`);
  }
}

/** Catches archives that are not a root filesystem before they become an image nobody can run. */
function checkRootfs(rootfs: string, source: string): void {
  const top = readdirSync(rootfs);
  if (top.length === 0) throw new PodnsError('EIMPORT', `"${source}" holds no files; give a root filesystem (a tarball from 'docker export', or a directory with bin/, etc/ ...)`);
  const has = (n: string) => top.includes(n);
  if (has('manifest.json') && (has('repositories') || has('oci-layout') || has('blobs')) && !has('bin') && !has('usr')) {
    throw new PodnsError('EIMPORT',
      `"${source}" is an image archive with layers ('docker save' output), not a root filesystem; make one with: docker export $(docker create IMAGE) > rootfs.tar`);
  }
  if (top.length === 1) {
    const only = join(rootfs, top[0]!);
    const st = lstatSync(only);
    if (st.isDirectory() && !['bin', 'usr', 'etc', 'sbin', 'lib'].includes(top[0]!)) {
      const inner = readdirSync(only);
      if (inner.includes('bin') || inner.includes('usr')) {
        throw new PodnsError('EIMPORT',
          `"${source}" holds one top directory "${top[0]}/" with the filesystem inside it; archive its contents instead: tar -C ${top[0]} -cf rootfs.tar .`);
      }
    }
  }
}

export interface ImportOptions extends RootOption, StoreOption {
  name: string;
  /** a tarball (.tar, .tar.gz, .tar.xz ...) or a directory */
  source: string;
  config?: ImageConfig;
}

export async function importImage(o: ImportOptions): Promise<ImageSummary> {
  const root = resolveRoot(o.root);
  const store = resolveStore(o.store);
  const ref = parseReference(o.name);
  const config = validateImageConfig(o.config ?? {});
  const source = resolve(o.source);
  let st;
  try {
    st = statSync(source);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new PodnsError('ENOENT', `"${o.source}" does not exist; give a root filesystem tarball or directory`);
    throw err;
  }
  if (st.isDirectory()) {
    const real = realpathSync(source);
    if (real === '/') throw new PodnsError('EIMPORT', 'refusing to import the host\'s root directory "/"; give a directory holding a container\'s root filesystem');
    for (const [what, dir] of [['state root', root], ['image store', store]] as const) {
      const realDir = existsSync(dir) ? realpathSync(dir) : resolve(dir);
      if (real === realDir || real.startsWith(realDir + '/') || realDir.startsWith(real + '/')) {
        throw new PodnsError('EIMPORT', `refusing to import "${o.source}": it overlaps the podns ${what} ${dir}`);
      }
    }
  } else if (!st.isFile()) {
    throw new PodnsError('EIMPORT', `"${o.source}" is neither a file nor a directory; give a tarball or a directory`);
  }

  cleanStoreTemp(store);
  const work = storeTempDir(store, 'import');
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs, { mode: 0o755 });
    if (st.isDirectory()) await copyDir(source, rootfs);
    else await extractTar(source, rootfs);
    checkRootfs(rootfs, o.source);
    const created = new Date().toISOString();
    const size = scanTree(rootfs, o.source);
    // the id: a digest of what makes this import unique (nothing else names it)
    const id = digestOf(JSON.stringify({ source, created, config, size, nonce: randomBytes(16).toString('hex') }));
    const rec: StoredImage = { apiVersion: 'podns/v1', id, kind: 'rootfs', created, size, config, source };
    // the record goes in before the rename: STORE/images/sha256/ID appears complete or not at all
    writeJsonAtomic(join(work, 'image.json'), rec);
    const dest = imageDir(store, id);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
    renameSync(work, dest);
    nameImage(store, ref.ref, id);
    return summaries(rec, [ref.ref])[0]!;
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}
