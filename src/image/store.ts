// The local image store: ROOT/images/REPO/TAG/{rootfs/,image.json}, REPO with '/' as '+'.
//
// An image is a root filesystem plus the defaults `docker import --change` records (ENTRYPOINT, CMD, ENV,
// WORKDIR). Nothing is pulled: podns never talks to a registry. A tarball such as `docker export` writes is
// extracted by GNU tar behind a gate that checks every header first (extract.ts: no "..", absolute names,
// writes through the archive's own links, or device nodes); a directory is copied with `cp -a`. Either way
// the finished tree is walked once more and refused if it holds a device node or a socket.
//
// Every import is built in ROOT/images/.tmp/import-PID-RAND and renamed into place, so a failed or killed
// import never leaves a half image under a name; leftovers in .tmp carry the pid that made them, which is how
// cleanImageTemp() (and gc) know they are dead.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { isErrno, NotFoundError, oneLine, PodnsError } from '../errors.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { run } from '../util/run.js';
import { extractTar } from './extract.js';
import { parseReference, repositoryDir, repositoryFromDir } from './reference.js';

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
}

export interface ImageRecord {
  apiVersion: 'podns/v1';
  repository: string;
  tag: string;
  /** "repository:tag" */
  ref: string;
  created: string;
  /** bytes in the root filesystem (apparent size, hard links once) */
  size: number;
  /** absolute path it was imported from */
  source: string;
  config: ImageConfig;
}

export interface ResolvedImage {
  ref: string;
  rootfs: string;
  config: ImageConfig;
}

export class ImageNotFoundError extends NotFoundError {
  constructor(ref: string) {
    super('image', ref, `image "${ref}" not found; import a root filesystem with: podns image import ${ref} FILE.tar`);
    this.name = 'ImageNotFoundError';
  }
}

const TMP = '.tmp';

function imageDir(root: string, repository: string, tag: string): string {
  return paths.image(root, repositoryDir(repository), tag);
}

function tmpDir(root: string): string {
  return join(paths.images(root), TMP);
}

/** Checks --cmd/--entrypoint/--env/--workdir values (they come from JSON and flags). */
export function validateImageConfig(config: ImageConfig): ImageConfig {
  const out: ImageConfig = {};
  for (const key of ['entrypoint', 'cmd'] as const) {
    const v = config[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw new PodnsError('EUSAGE', `image ${key} must be a list of strings, e.g. ["httpd","-f"]`);
    }
    if (v.some((s) => s.includes('\0'))) throw new PodnsError('EUSAGE', `image ${key} contains a NUL byte`);
    out[key] = [...v];
  }
  if (config.env !== undefined) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.env)) {
      if (k === '' || k.includes('=') || k.includes('\0') || typeof v !== 'string' || v.includes('\0')) {
        throw new PodnsError('EUSAGE', `bad image env "${k}": write it as KEY=VALUE with a non-empty KEY`);
      }
      env[k] = v;
    }
    out.env = env;
  }
  if (config.workingDir !== undefined) {
    if (typeof config.workingDir !== 'string' || !isAbsolute(config.workingDir) || config.workingDir.includes('\0')) {
      throw new PodnsError('EUSAGE', `image working directory "${config.workingDir}" must be an absolute path such as /app`);
    }
    out.workingDir = config.workingDir;
  }
  return out;
}

function ensureStore(root: string): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  mkdirSync(tmpDir(root), { recursive: true, mode: 0o700 });
}

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

function readRecord(dir: string): ImageRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as ImageRecord;
    if (typeof rec.ref !== 'string' || typeof rec.repository !== 'string' || typeof rec.tag !== 'string') return undefined;
    rec.config = rec.config ?? {};
    return rec;
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Containers (by their config.json) that use an image: they keep running on its rootfs. */
export function imagesInUse(root: string, ref: string): Array<{ pod: string; container: string }> {
  const users: Array<{ pod: string; container: string }> = [];
  let pods: string[];
  try {
    pods = readdirSync(paths.pods(root));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return users;
    throw err;
  }
  const parsed = parseReference(ref);
  const dir = imageDir(root, parsed.repository, parsed.tag);
  for (const pod of pods) {
    let names: string[];
    try {
      names = readdirSync(paths.containers(root, pod));
    } catch {
      continue;
    }
    for (const c of names) {
      let cfg: { image?: unknown; rootfs?: unknown };
      try {
        cfg = JSON.parse(readFileSync(paths.containerConfig(root, pod, c), 'utf8')) as typeof cfg;
      } catch {
        continue;
      }
      let same = false;
      if (typeof cfg.image === 'string') {
        try {
          same = parseReference(cfg.image).ref === parsed.ref;
        } catch {
          same = false;
        }
      }
      if (!same && typeof cfg.rootfs === 'string') same = cfg.rootfs === join(dir, 'rootfs') || cfg.rootfs.startsWith(dir + '/');
      if (same) users.push({ pod, container: c });
    }
  }
  return users;
}

function inUseError(ref: string, users: Array<{ pod: string; container: string }>, what: string): PodnsError {
  const list = users.slice(0, 3).map((u) => `${u.pod}/${u.container}`).join(', ') + (users.length > 3 ? ` and ${users.length - 3} more` : '');
  return new PodnsError('EIMAGEINUSE', `cannot ${what} image "${ref}": container ${list} uses it; delete the pod first, or use --force`);
}

export interface ImportOptions {
  root?: string;
  name: string;
  /** a tarball (.tar, .tar.gz, .tar.xz ...) or a directory */
  source: string;
  config?: ImageConfig;
  /** replace an image even when a container uses it */
  force?: boolean;
}

export async function importImage(o: ImportOptions): Promise<ImageRecord> {
  const root = resolveRoot(o.root);
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
    const realRoot = existsSync(root) ? realpathSync(root) : resolve(root);
    if (real === realRoot || real.startsWith(realRoot + '/') || realRoot.startsWith(real + '/')) {
      throw new PodnsError('EIMPORT', `refusing to import "${o.source}": it overlaps the podns state root ${root}`);
    }
  } else if (!st.isFile()) {
    throw new PodnsError('EIMPORT', `"${o.source}" is neither a file nor a directory; give a tarball or a directory`);
  }

  ensureStore(root);
  cleanImageTemp(root);
  const work = mkdtempSync(join(tmpDir(root), `import-${process.pid}-`));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs, { mode: 0o755 });
    if (st.isDirectory()) await copyDir(source, rootfs);
    else await extractTar(source, rootfs);
    checkRootfs(rootfs, o.source);
    const rec: ImageRecord = {
      apiVersion: 'podns/v1',
      repository: ref.repository,
      tag: ref.tag,
      ref: ref.ref,
      created: new Date().toISOString(),
      size: scanTree(rootfs, o.source),
      source,
      config,
    };
    writeFileSync(join(work, 'image.json'), JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });

    const dest = imageDir(root, ref.repository, ref.tag);
    mkdirSync(join(paths.images(root), repositoryDir(ref.repository)), { recursive: true, mode: 0o700 });
    // Replacing a tag (like `docker import` onto an existing name) moves the old image aside first;
    // a running container would lose its files, so that is refused unless forced.
    for (let attempt = 0; ; attempt++) {
      if (existsSync(dest)) {
        const users = imagesInUse(root, ref.ref);
        if (users.length > 0 && !o.force) throw inUseError(ref.ref, users, 'replace');
        const old = mkdtempSync(join(tmpDir(root), `rm-${process.pid}-`));
        try {
          renameSync(dest, join(old, 'image'));
        } catch (err) {
          rmSync(old, { recursive: true, force: true });
          if (!isErrno(err, 'ENOENT')) throw err;
        }
        rmSync(old, { recursive: true, force: true });
      }
      try {
        renameSync(work, dest);
        break;
      } catch (err) {
        // Another import of the same name won the race between our check and rename: go round again.
        if (attempt < 3 && isErrno(err, 'ENOTEMPTY', 'EEXIST')) continue;
        throw err;
      }
    }
    return rec;
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

export function listImages(o: RootOption = {}): ImageRecord[] {
  const root = resolveRoot(o.root);
  const out: ImageRecord[] = [];
  let repos: string[];
  try {
    repos = readdirSync(paths.images(root));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  for (const repoDir of repos.sort()) {
    if (repoDir.startsWith('.')) continue;
    let tags: string[];
    try {
      tags = readdirSync(join(paths.images(root), repoDir));
    } catch {
      continue;
    }
    for (const tag of tags.sort()) {
      const rec = readRecord(paths.image(root, repoDir, tag));
      if (rec && rec.repository === repositoryFromDir(repoDir) && rec.tag === tag) out.push(rec);
    }
  }
  return out;
}

export function inspectImage(o: RootOption & { name: string }): ImageRecord {
  const root = resolveRoot(o.root);
  const ref = parseReference(o.name);
  const rec = readRecord(imageDir(root, ref.repository, ref.tag));
  if (!rec) throw new ImageNotFoundError(ref.ref);
  return rec;
}

/** The image `name` as a container uses it: its rootfs directory and config. ImageNotFoundError otherwise. */
export function resolveImage(o: RootOption & { name: string }): ResolvedImage {
  const root = resolveRoot(o.root);
  const ref = parseReference(o.name);
  const dir = imageDir(root, ref.repository, ref.tag);
  const rec = readRecord(dir);
  const rootfs = join(dir, 'rootfs');
  if (!rec || !existsSync(rootfs)) throw new ImageNotFoundError(ref.ref);
  return { ref: ref.ref, rootfs, config: rec.config };
}

export async function removeImage(o: RootOption & { name: string; force?: boolean }): Promise<ImageRecord> {
  const root = resolveRoot(o.root);
  const ref = parseReference(o.name);
  const dir = imageDir(root, ref.repository, ref.tag);
  const rec = readRecord(dir);
  if (!rec) throw new ImageNotFoundError(ref.ref);
  const users = imagesInUse(root, ref.ref);
  if (users.length > 0 && !o.force) throw inUseError(ref.ref, users, 'remove');
  ensureStore(root);
  const trash = mkdtempSync(join(tmpDir(root), `rm-${process.pid}-`));
  try {
    renameSync(dir, join(trash, 'image'));
  } catch (err) {
    rmSync(trash, { recursive: true, force: true });
    if (isErrno(err, 'ENOENT')) throw new ImageNotFoundError(ref.ref);
    throw err;
  }
  rmSync(trash, { recursive: true, force: true });
  try {
    // The repository directory goes with its last tag (ENOTEMPTY: other tags remain).
    const repo = join(paths.images(root), repositoryDir(ref.repository));
    if (readdirSync(repo).length === 0) rmdirSync(repo);
  } catch {
    /* another tag appeared meanwhile, or it is already gone */
  }
  return rec;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

/** Removes what killed imports and removals left in images/.tmp; returns a line per removed entry. */
export function cleanImageTemp(root: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(tmpDir(root));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return removed;
    throw err;
  }
  for (const e of entries) {
    const m = /^(import|rm)-(\d+)-/.exec(e);
    if (m && Number(m[2]) !== process.pid && pidAlive(Number(m[2]))) continue;
    if (m && Number(m[2]) === process.pid) continue;
    rmSync(join(tmpDir(root), e), { recursive: true, force: true });
    removed.push(`removed leftover image work directory ${join(tmpDir(root), e)}`);
  }
  return removed;
}
