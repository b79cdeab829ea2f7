// For the layer tests: a work directory with a canary next to the layer directory (what a hostile layer
// would overwrite if a guard failed), a snapshot of everything outside the layer, xattrs read through
// python3 (Node has no xattr API), and applyLayer from a buffer.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer, type AppliedLayer } from '../../src/image/layers/apply.js';

export interface LayerEnv {
  /** the work directory: canary/ and the layer directories live here */
  d: string;
  canary: string;
  /** an empty directory for one layer */
  layer: string;
  /** another empty directory in d */
  fresh(name: string): string;
}

export function layerEnv(t: { teardown(fn: () => void): void }): LayerEnv {
  const d = mkdtempSync(join(tmpdir(), 'podns-layer-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const canary = join(d, 'canary');
  mkdirSync(join(canary, 'etc'), { recursive: true });
  writeFileSync(join(canary, 'secret'), 'do not touch\n');
  writeFileSync(join(canary, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const fresh = (name: string) => {
    const p = join(d, name);
    mkdirSync(p, { mode: 0o755 });
    return p;
  };
  return { d, canary, layer: fresh('layer'), fresh };
}

/** Everything under d except the directories named in `skip`: names, types, modes, sizes, link counts, targets, contents. */
export function snapshot(d: string, skip: readonly string[] = ['layer']): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const n of readdirSync(dir).sort()) {
      if (rel === '' && skip.includes(n)) continue;
      const p = join(dir, n);
      const st = lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : '';
      out.push(`${rel}${n} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.nlink} ${st.mtimeMs} ${what}`);
      if (st.isDirectory()) walk(p, `${rel}${n}/`);
    }
  };
  walk(d, '');
  return out;
}

/** An xattr's value (not following a final symlink), or undefined when it is not set. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const code = 'import os,sys\ntry:\n  sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError as e:\n  sys.exit(3 if e.errno == 61 else 1)\n';
  try {
    return Buffer.from(execFileSync('python3', ['-c', code, path, name], { encoding: 'utf8' }), 'hex');
  } catch (err) {
    if ((err as { status?: number }).status === 3) return undefined;
    throw err;
  }
}

export function apply(dir: string, bytes: Buffer, o: { maxBytes?: number; maxEntries?: number; signal?: AbortSignal } = {}): Promise<AppliedLayer> {
  return applyLayer({ input: Readable.from([bytes]), dir, ...o });
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
