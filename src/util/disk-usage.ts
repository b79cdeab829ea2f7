// Disk usage of a directory tree, as du(1) counts it: allocated blocks (st_blocks), each inode once, links
// not followed. One walker for `podns image du` (the store's parts share one `seen` set: a layer's hard links
// and what two parts hold are counted once) and the CRI's writable-layer stats.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface DiskUsage {
  /** allocated bytes (st_blocks × 512) */
  bytes: number;
  /** inodes counted (PATH itself included) */
  inodes: number;
}

/**
 * PATH and everything below it; a missing PATH (or one that goes meanwhile) counts nothing. seen: dev:ino of
 * what is already counted (pass one set to several calls to count shared inodes once); sameFilesystem: do not
 * go below mount points on other filesystems.
 */
export function diskUsage(path: string, o: { seen?: Set<string>; sameFilesystem?: boolean } = {}): DiskUsage {
  const seen = o.seen ?? new Set<string>();
  const out: DiskUsage = { bytes: 0, inodes: 0 };
  let dev: number | undefined;
  const walk = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return; // gone meanwhile
    }
    dev ??= st.dev;
    if (o.sameFilesystem === true && st.dev !== dev) return;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.bytes += st.blocks * 512;
    out.inodes++;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) walk(join(p, n));
  };
  walk(path);
  return out;
}
