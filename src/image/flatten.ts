// The rootfs of a container from an image where overlay cannot be mounted: a copy of the layers, bottom
// first, into the container's own directory, with overlay's own semantics applied by hand. The unpacked
// layers are in overlay's format (src/image/layers): a whiteout is a 0/0 character device (it hides the
// name in the layers below), an opaque directory carries trusted.overlay.opaque=y (it hides everything
// the layers below had in it). A name a layer has as a file, link or device replaces whatever was below;
// a directory over a non-directory replaces it too; a directory over a directory merges.
//
// Per layer: (1) what the layer hides or replaces is removed from the copy, parents before children (so
// nothing is ever removed or written through a symlink of the copy: a symlink the copy holds where the
// layer has a directory is removed before the walk goes below it); (2) `cp -a` merges the layer into the
// copy (owners, modes, hard links, xattrs, setuid bits kept); (3) what only marked things in overlay's
// format (the whiteout devices, the opaque xattr) is taken out of the copy again.
//
// The copy costs the image's size in the state root and the time to write it, once per container: the
// overlay is the normal path; this is for kernels or filesystems without it. PODNS_NO_OVERLAY=1 forces it.
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { oneLine, PodnsError } from '../errors.js';
import { native } from '../native/index.js';
import { run } from '../util/run.js';

const OPAQUE = 'trusted.overlay.opaque';

/** Can this machine mount overlay? No when PODNS_NO_OVERLAY=1, or when /proc/filesystems lacks it. */
export function overlayAvailable(): boolean {
  if (process.env.PODNS_NO_OVERLAY === '1') return false;
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** An overlay whiteout: a character device 0/0 (it hides the name in the layers below). */
export function isWhiteout(st: import('node:fs').Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** An overlay opaque directory (it hides everything below it in the lower layers). */
export function isOpaque(path: string): boolean {
  const v = native.lgetxattr(path, OPAQUE);
  return v !== undefined && v.toString() === 'y';
}

/** The layer's entries in DIR (layer-relative REL): what the copy must lose before the layer goes on it. */
function clearFor(layer: string, copy: string, rel: string): void {
  for (const name of readdirSync(join(layer, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(layer, r));
    const target = join(copy, r);
    let have: import('node:fs').Stats | undefined;
    try {
      have = lstatSync(target);
    } catch {
      have = undefined;
    }
    if (!st.isDirectory()) {
      // a whiteout, a file, a link, a device: whatever was below goes (rmSync never follows a symlink)
      if (have !== undefined) rmSync(target, { recursive: true, force: true });
      continue;
    }
    if (have !== undefined && (!have.isDirectory() || isOpaque(join(layer, r)))) {
      rmSync(target, { recursive: true, force: true });
      have = undefined;
    }
    if (have !== undefined) clearFor(layer, copy, r);
  }
}

/** After the cp: the whiteouts the layer brought along go, and the opaque marks. */
function unmark(layer: string, copy: string, rel: string): void {
  for (const name of readdirSync(join(layer, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(layer, r));
    if (isWhiteout(st)) {
      rmSync(join(copy, r), { force: true });
    } else if (st.isDirectory()) {
      if (isOpaque(join(layer, r))) native.lremovexattr(join(copy, r), OPAQUE);
      unmark(layer, copy, r);
    }
  }
}

/** Copies LAYERS (top first, as overlay's lowerdir lists them) into DEST (made here; must not exist). */
export async function flattenLayers(layers: readonly string[], dest: string): Promise<void> {
  mkdirSync(dest, { mode: 0o755 });
  for (const layer of [...layers].reverse()) {
    clearFor(layer, dest, '');
    const r = await run('/bin/cp', ['-a', '--reflink=auto', '--', `${layer}/.`, dest])
      .catch((err: Error) => ({ code: -1, stdout: '', stderr: `cannot run /bin/cp: ${oneLine(err)}` }));
    if (r.code !== 0) {
      const why = r.stderr.split('\n').find((l) => l.trim() !== '')?.replace(/^(\S*\/)?cp: /, '') ?? `cp exited with status ${r.code}`;
      throw new PodnsError('EROOTFS', `cannot copy layer ${layer} into ${dest} (no overlay here): ${why}`);
    }
    unmark(layer, dest, '');
  }
}
