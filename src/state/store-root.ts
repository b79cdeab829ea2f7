// The image store's root: where images, their blobs and their unpacked layers live (docs/DESIGN.md "The
// image store"). Images outlive a reboot and can be large, so they are not kept under the state root (which
// is on /run, in RAM): the store is /var/lib/podns by default, as containerd keeps /var/lib/containerd.
// `--store DIR` (the library's `store` option), else PODNS_STORE, else DEFAULT_STORE. Pod state stays on
// the state root.
//
// The top-level layout is here, once; what is inside each directory belongs to its module:
//   blobs/sha256/HEX   the content store (src/image/content)
//   ingest/            partial downloads (src/image/content)
//   layers/            unpacked layers by ChainID (src/image/layers)
//   images/            image records and the name index (src/image/records.ts)
//   tmp/               work directories, named with the pid that made them (gc removes dead ones)
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PodnsError } from '../errors.js';

/** The store option every image-touching library function takes (absent: PODNS_STORE, else DEFAULT_STORE). */
export interface StoreOption {
  store?: string;
}

/** The image store when neither an option (--store, `store`) nor PODNS_STORE names one. */
export const DEFAULT_STORE = '/var/lib/podns';

/** The store every entry point uses, made absolute. An empty PODNS_STORE counts as unset. */
export function resolveStore(store?: string): string {
  if (store === '') throw new PodnsError('EUSAGE', 'the image store is empty: give a directory with --store (or the store option), or leave it out for PODNS_STORE or /var/lib/podns');
  const env = process.env.PODNS_STORE;
  return resolve(store ?? (env !== undefined && env !== '' ? env : DEFAULT_STORE));
}

export const storePaths = {
  blobs: (store: string) => join(store, 'blobs'),
  ingest: (store: string) => join(store, 'ingest'),
  layers: (store: string) => join(store, 'layers'),
  images: (store: string) => join(store, 'images'),
  tmp: (store: string) => join(store, 'tmp'),
};

/**
 * A fresh work directory STORE/tmp/PURPOSE-PID-RANDOM (PURPOSE: lowercase letters and '-'). Whatever is built
 * in the store is built in one of these and renamed into place; the pid in the name is how cleanStoreTemp
 * (and gc) tell a dead process's leftovers from a live one's work.
 */
export function storeTempDir(store: string, purpose: string): string {
  if (!/^[a-z][a-z-]*$/.test(purpose)) throw new Error(`bad temp purpose "${purpose}"`);
  mkdirSync(storePaths.tmp(store), { recursive: true, mode: 0o700 });
  return mkdtempSync(join(storePaths.tmp(store), `${purpose}-${process.pid}-`));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the work directories of dead processes from STORE/tmp; one line per entry removed. */
export function cleanStoreTemp(store: string): string[] {
  const removed: string[] = [];
  const dir = storePaths.tmp(store);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw err;
  }
  for (const e of entries) {
    const m = /^[a-z][a-z-]*-(\d+)-/.exec(e);
    if (m && (Number(m[1]) === process.pid || pidAlive(Number(m[1])))) continue;
    rmSync(join(dir, e), { recursive: true, force: true });
    removed.push(`removed leftover image work directory ${join(dir, e)}`);
  }
  return removed;
}
