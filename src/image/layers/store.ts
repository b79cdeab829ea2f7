// The layer store: each image layer unpacked once, keyed by its ChainID, shared by every image that has it,
// and used directly as an overlay lower dir.
//
//   STORE/layers/ID/fs            the layer's root (ID: a small decimal number, so that the overlay mount
//   STORE/layers/ID/layer.json      data, one lowerdir per layer, fits in a page); {chainId, diffId,
//                                   parentChainId?, size, created}
//   STORE/layers/chains/ALG-HEX   the index: a symlink to "ID", made after the layer is complete. Its
//                                 creation is the commit point of ensure(), its removal that of remove().
//   STORE/layers/locks/ALG-HEX    flock'ed while a chain is unpacked or removed: concurrent ensure() calls
//                                 for one chain (threads of one process or several processes) unpack once.
//   STORE/tmp/layer-PID-XXXXXX    a layer being unpacked (fs/, then layer.json) or removed
//
// kill -9 at any point leaves either a complete layer that the index names, or something gc removes: a work
// directory of a dead pid (cleanStoreTemp, src/state/store-root.ts), and, with clean(), an ID directory the
// index does not name (killed between
// the rename into layers/ and the symlink, or during a removal), an index link to a missing ID, a lock
// file of a chain that is not stored. Nothing half-made is ever used: get() reads only the index, and
// an ID directory appears by one rename of a finished work directory.
//
// STORE/layers and STORE/tmp are 0700: layers hold the image's setuid programs and device nodes, which no
// host user may reach through the store's paths (containerd and Docker keep theirs 0700/0710 for this).
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, NotFoundError, PodnsError } from '../../errors.js';
import { native } from '../../native/index.js';
import { storePaths, storeTempDir } from '../../state/store-root.js';
import { parseDigest } from '../digest.js';
import { applyLayer } from './apply.js';

export interface LayerRecord {
  chainId: string;
  diffId: string;
  parentChainId?: string;
  /** bytes of the uncompressed layer (the tar stream) */
  size: number;
  created: string;
  /** ".wh..wh..opq" at the root: the layers below it are not part of the stack (overlayfs ignores opaque on a layer root) */
  opaqueRoot?: true;
}

export interface UnpackedLayer extends LayerRecord {
  id: string;
  /** the layer's root: STORE/layers/ID/fs */
  dir: string;
}

export interface EnsureLayerOptions {
  chainId: string;
  parentChainId?: string;
  /** the image config's diff_id: the unpacked stream must have this digest, else nothing is kept */
  diffId: string;
  /** the blob as stored (gzip, zstd or plain); called only when the layer must be unpacked */
  open: () => Readable | Promise<Readable>;
  signal?: AbortSignal;
}

export interface EnsuredLayer {
  id: string;
  dir: string;
  size: number;
  /** false when it was there already (or another caller unpacked it meanwhile) */
  unpacked: boolean;
}

const DIR_MODE = 0o700;
const LOCK_POLL_MS = 20;
/** STORE/tmp/layer-PID-XXXXXX (storeTempDir) */
const TMP_PURPOSE = 'layer';
const ID_RE = /^[1-9][0-9]{0,9}$/;

/** The index and lock file name of a chain: "sha256-HEX" (validated: no '/' or '..' can reach a path). */
function chainKey(chainId: string): string {
  const d = parseDigest(chainId, 'chain id');
  return `${d.algorithm}-${d.hex}`;
}

function keyChain(key: string): string | undefined {
  const m = /^(sha256|sha512)-([0-9a-f]+)$/.exec(key);
  return m === null ? undefined : `${m[1]}:${m[2]}`;
}

export class LayerStore {
  readonly root: string;
  private readonly limits: { maxBytes?: number; maxEntries?: number };

  /** store: the store's root (STORE). limits: lower the helper's (tests). */
  constructor(store: string, limits: { maxBytes?: number; maxEntries?: number } = {}) {
    this.root = store;
    this.limits = limits;
  }

  private get layersDir(): string { return storePaths.layers(this.root); }
  private get chainsDir(): string { return join(this.layersDir, 'chains'); }
  private get locksDir(): string { return join(this.layersDir, 'locks'); }

  private mkdirs(): void {
    for (const d of [this.root, this.layersDir, this.chainsDir, this.locksDir]) mkdirSync(d, { recursive: true, mode: DIR_MODE });
  }

  private read(id: string): UnpackedLayer | undefined {
    let rec: LayerRecord;
    try {
      rec = JSON.parse(readFileSync(join(this.layersDir, id, 'layer.json'), 'utf8')) as LayerRecord;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
      if (err instanceof SyntaxError) return undefined;
      throw err;
    }
    return { ...rec, id, dir: join(this.layersDir, id, 'fs') };
  }

  /** The ID the index names for a chain key, or undefined. */
  private linked(key: string): string | undefined {
    try {
      const id = readlinkSync(join(this.chainsDir, key));
      return ID_RE.test(id) ? id : undefined;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'EINVAL')) return undefined;
      throw err;
    }
  }

  /** The stored layer of this chain, or undefined. */
  get(chainId: string): UnpackedLayer | undefined {
    const id = this.linked(chainKey(chainId));
    if (id === undefined) return undefined;
    const l = this.read(id);
    return l !== undefined && l.chainId === chainId ? l : undefined;
  }

  /** Every stored layer (those the index names), by ID. */
  list(): UnpackedLayer[] {
    const out: UnpackedLayer[] = [];
    for (const key of readdirOrEmpty(this.chainsDir)) {
      const chain = keyChain(key);
      const l = chain === undefined ? undefined : this.get(chain);
      if (l !== undefined) out.push(l);
    }
    return out.sort((a, b) => Number(a.id) - Number(b.id));
  }

  /**
   * The fs dirs of a stack given bottom-first, top-first as overlay's lowerdir wants them. A layer with
   * ".wh..wh..opq" at its root hides everything below it (the image spec), which overlayfs does not do for
   * a layer's root directory: the stack ends at the topmost such layer.
   */
  lowerDirs(chainIds: readonly string[]): string[] {
    const layers = chainIds.map((c) => {
      const l = this.get(c);
      if (l === undefined) throw new NotFoundError('layer', c, `layer ${c} is not in the store ${this.root}; pull the image again`);
      return l;
    }).reverse();
    const cut = layers.findIndex((l) => l.opaqueRoot === true);
    return (cut === -1 ? layers : layers.slice(0, cut + 1)).map((l) => l.dir);
  }

  // ---- locks -----------------------------------------------------------------------------------------

  /** flock on locks/KEY; the fd. Polls (a blocking flock would stop the event loop). */
  private async lock(key: string, signal?: AbortSignal): Promise<number> {
    const path = join(this.locksDir, key);
    for (;;) {
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
      try {
        for (;;) {
          try {
            native.flock(fd, 'ex', true);
            break;
          } catch (err) {
            if (!isErrno(err, 'EAGAIN', 'EWOULDBLOCK')) throw err;
          }
          if (signal?.aborted) throw new PodnsError('ECANCELED', 'unpacking the layer was cancelled', { cause: signal.reason });
          await sleep(LOCK_POLL_MS);
        }
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      // a remove() may have unlinked the file we locked: then lock the one at the path now
      const now = statSync(path, { throwIfNoEntry: false });
      const mine = fstatSync(fd);
      if (now !== undefined && now.ino === mine.ino && now.dev === mine.dev) return fd;
      closeSync(fd);
    }
  }

  /** A lock taken only if free: the fd, or undefined when someone holds it. */
  private tryLock(key: string): number | undefined {
    const path = join(this.locksDir, key);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    try {
      native.flock(fd, 'ex', true);
    } catch (err) {
      closeSync(fd);
      if (isErrno(err, 'EAGAIN', 'EWOULDBLOCK')) return undefined;
      throw err;
    }
    const now = statSync(path, { throwIfNoEntry: false });
    const mine = fstatSync(fd);
    if (now !== undefined && now.ino === mine.ino && now.dev === mine.dev) return fd;
    closeSync(fd);
    return undefined;
  }

  private unlock(fd: number): void {
    native.flock(fd, 'un');
    closeSync(fd);
  }

  // ---- ensure / remove ---------------------------------------------------------------------------------

  /**
   * The layer of this chain, unpacked from open() if it is not stored yet. The stream's DiffID must be
   * o.diffId: otherwise (ELAYER EDIFFID) nothing is kept. Concurrent calls for one chain unpack it once.
   */
  async ensure(o: EnsureLayerOptions): Promise<EnsuredLayer> {
    const key = chainKey(o.chainId);
    parseDigest(o.diffId, `diff_id of layer ${o.chainId}`);
    if (o.parentChainId !== undefined) parseDigest(o.parentChainId, `parent chain id of layer ${o.chainId}`);
    const have = this.get(o.chainId);
    if (have !== undefined) return { id: have.id, dir: have.dir, size: have.size, unpacked: false };
    this.mkdirs();
    const fd = await this.lock(key, o.signal);
    try {
      const again = this.get(o.chainId);
      if (again !== undefined) return { id: again.id, dir: again.dir, size: again.size, unpacked: false };
      // a link to a missing or foreign layer (removed by hand): it is replaced below
      if (this.linked(key) !== undefined) unlinkSync(join(this.chainsDir, key));

      const work = storeTempDir(this.root, TMP_PURPOSE);
      let id: string;
      let size: number;
      try {
        mkdirSync(join(work, 'fs'), { mode: 0o755 });
        const input = await o.open();
        const r = await applyLayer({ input, dir: join(work, 'fs'), signal: o.signal, ...this.limits });
        if (r.diffId !== o.diffId) {
          throw new PodnsError('EDIFFID', `layer ${o.chainId}: its uncompressed content has the digest ${r.diffId}, not the diff_id ${o.diffId} the image config lists; the blob or the image is broken (nothing was kept)`);
        }
        size = r.size;
        const rec: LayerRecord = {
          chainId: o.chainId, diffId: o.diffId, ...(o.parentChainId !== undefined ? { parentChainId: o.parentChainId } : {}), size,
          created: new Date().toISOString(), ...(r.opaqueRoot ? { opaqueRoot: true as const } : {}),
        };
        writeFileSync(join(work, 'layer.json'), JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
        id = this.place(work);
      } catch (err) {
        rmSync(work, { recursive: true, force: true });
        throw err;
      }
      symlinkSync(id, join(this.chainsDir, key));
      return { id, dir: join(this.layersDir, id, 'fs'), size, unpacked: true };
    } finally {
      this.unlock(fd);
    }
  }

  /** Renames a finished work directory to layers/N, the first free N above the highest: N. */
  private place(work: string): string {
    let n = Math.max(0, ...readdirOrEmpty(this.layersDir).filter((e) => ID_RE.test(e)).map(Number)) + 1;
    for (;;) {
      try {
        // a non-empty directory at the target fails the rename: the number is another layer's
        renameSync(work, join(this.layersDir, String(n)));
        return String(n);
      } catch (err) {
        if (!isErrno(err, 'ENOTEMPTY', 'EEXIST')) throw err;
        n++;
      }
    }
  }

  /** Moves layers/ID to a work directory and removes it there (nothing half-removed stays under layers/). */
  private discard(id: string): void {
    const work = storeTempDir(this.root, TMP_PURPOSE);
    const dead = join(work, 'layer');
    try {
      renameSync(join(this.layersDir, id), dead);
    } catch (err) {
      rmSync(work, { recursive: true, force: true });
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    rmSync(work, { recursive: true, force: true });
  }

  /** Removes a chain's layer; false when it was not stored. The caller makes sure no image or container uses it. */
  async remove(chainId: string): Promise<boolean> {
    const key = chainKey(chainId);
    if (this.linked(key) === undefined) return false;
    const fd = await this.lock(key);
    try {
      const id = this.linked(key);
      if (id === undefined) return false;
      unlinkSync(join(this.chainsDir, key));
      this.discard(id);
      unlinkSync(join(this.locksDir, key));
      return true;
    } finally {
      this.unlock(fd);
    }
  }

  /**
   * Removes what killed processes left under layers/: ID directories the index does not name, index links
   * to missing layers, lock files of chains not stored (work directories in STORE/tmp: cleanStoreTemp).
   * Chains locked by a live process are left alone. One line per removed thing (for gc).
   */
  clean(): string[] {
    const removed: string[] = [];
    const named = new Set<string>();
    for (const key of readdirOrEmpty(this.chainsDir)) {
      const id = this.linked(key);
      if (id !== undefined && this.read(id) !== undefined) {
        named.add(id);
        continue;
      }
      const fd = this.tryLock(key);
      if (fd === undefined) continue;
      try {
        const again = this.linked(key);
        if (again === id && (again === undefined || this.read(again) === undefined)) {
          unlinkSync(join(this.chainsDir, key));
          removed.push(`removed layer index entry ${key} (its layer is gone)`);
        }
      } finally {
        this.unlock(fd);
      }
    }
    for (const id of readdirOrEmpty(this.layersDir).filter((e) => ID_RE.test(e))) {
      if (named.has(id)) continue;
      const rec = this.read(id);
      const key = rec === undefined ? undefined : safeKey(rec.chainId);
      if (key === undefined) {
        // no readable layer.json: never a finished layer (the rename brings layer.json along)
        this.discard(id);
        removed.push(`removed unfinished layer ${join(this.layersDir, id)}`);
        continue;
      }
      const fd = this.tryLock(key);
      if (fd === undefined) continue; // being committed right now
      try {
        if (this.linked(key) !== id) {
          this.discard(id);
          removed.push(`removed layer ${join(this.layersDir, id)} that no index entry names`);
        }
      } finally {
        this.unlock(fd);
      }
    }
    for (const key of readdirOrEmpty(this.locksDir)) {
      if (this.linked(key) !== undefined) continue;
      const fd = this.tryLock(key);
      if (fd === undefined) continue;
      try {
        if (this.linked(key) === undefined) unlinkSync(join(this.locksDir, key));
      } finally {
        this.unlock(fd);
      }
    }
    return removed;
  }
}

function safeKey(chainId: unknown): string | undefined {
  try {
    return chainKey(chainId as string);
  } catch {
    return undefined;
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
