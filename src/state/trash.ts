// Trash: state directories that are no longer anyone's, removed after their owner has moved on.
//
// A directory is first renamed into its state root's trash (a name starting with ".trash-" beside the pod
// directories, ROOT/pods/.trash-*), which takes it out of every listing at once; its removal (rm -rf,
// unmounting what is mounted inside: a pod's namespace pins, a tmpfs volume) then runs on a libuv pool
// thread (native removeTreeAsync), so that a long-running server answers without waiting for it. A crash
// or a failure leaves the trash directory, which gc removes (src/pod/gc.ts: every .trash-* entry).
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import { faultPoint } from '../fault.js';
import { native } from '../native/index.js';
import { randomBytes } from '../util/random.js';
import { paths } from './paths.js';

/** The prefix of every trash entry in ROOT/pods (gc removes them all). */
export const TRASH_PREFIX = '.trash-';

/** A fresh trash path for something named `what` (a pod, POD.CONTAINER). */
export function trashPath(root: string, what: string): string {
  return join(paths.pods(root), `${TRASH_PREFIX}${what}-${randomBytes(4).toString('hex')}`);
}

/** Removals still running, with the first failure of each kept for whoever settles them. */
const pending = new Set<Promise<void>>();

/**
 * Renames dir into the trash (ENOENT: it is gone already, nothing to do) and removes it on a pool thread.
 * Returns at once; settleTrash() waits for every removal started so far. A failed removal leaves its trash
 * directory for gc (never a half-removed directory under its old name).
 */
export function discardDir(root: string, dir: string, what: string): void {
  const trash = trashPath(root, what);
  try {
    renameSync(dir, trash);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  faultPoint('trash-after-rename');
  // a failure leaves the trash entry for gc, which removes every one
  inBackground(oneAtATime(() => native.removeTreeAsync(trash)));
}

/**
 * Tree removals run one at a time: a removal holds one of libuv's four pool threads for as long as its tree
 * takes (a container's rootfs copy: seconds), and StartContainer's spawn, the veth deletes and every async
 * fs call queue behind whatever holds all four.
 */
let removals: Promise<unknown> = Promise.resolve();
function oneAtATime(work: () => Promise<void>): Promise<void> {
  const next = removals.then(work, work);
  removals = next.catch(() => undefined);
  return next;
}

/**
 * Work that nothing waits for (a removal whose state, should it fail or this process die, gc finds): kept
 * until it ends, for settleTrash; its failure is logged here, one line on stderr (the caller arranged what gc will find).
 */
export function inBackground(work: Promise<unknown>): void {
  const w: Promise<void> = work.then(() => undefined, (err: unknown) => {
    // one line for the log (a server's stderr): what is left stays where gc finds it
    process.stderr.write(`podns: work left after an answer failed: ${err instanceof Error ? err.message : String(err)}; \`podns gc\` removes what is left\n`);
  }).finally(() => pending.delete(w));
  pending.add(w);
}

/** Resolves once every removal discardDir (or inBackground) started has ended (a server's close; tests). */
export async function settleTrash(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending]);
}
