// Pod records on disk: pods/POD/pod.json, always written atomically; changes go through updatePod,
// which reads, changes and writes under the global lock so concurrent podns processes never lose an
// update. Plus the claim files (ROOT/claims/POD): see claimPath.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isErrno, NotFoundError, PodnsError } from '../errors.js';
import { ensureDir, listDir, readJson, readJsonIfExists, writeJsonAtomic } from '../state/files.js';
import { withLock } from '../state/lock.js';
import { validateName } from '../state/names.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { unmountUnder } from '../state/root.js';
import { discardDir, trashPath } from '../state/trash.js';
import { processAlive, startTimeOf } from './proc.js';
import type { PodRecord } from './types.js';

export function podExists(root: string, name: string): boolean {
  return existsSync(paths.pod(root, name));
}

/** The pod's record. NotFoundError when there is none. */
export function readPod(o: RootOption & { name: string }): PodRecord {
  const root = resolveRoot(o.root);
  const name = validateName('pod', o.name);
  let rec: PodRecord | undefined;
  try {
    rec = readJsonIfExists<PodRecord>(paths.podRecord(root, name));
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new PodnsError('ECORRUPT', `the record of pod "${name}" is unreadable (${err.message}); run 'podns gc'`);
    }
    throw err;
  }
  if (rec === undefined) throw new NotFoundError('pod', name);
  return rec;
}

export function tryReadPod(root: string, name: string): PodRecord | undefined {
  try {
    return readJson<PodRecord>(paths.podRecord(root, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR') || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Names of the pod directories (valid names only; temporary and trash entries start with '.'). */
export function listPodNames(root: string): string[] {
  return listDir(paths.pods(root)).filter((n) => !n.startsWith('.') && isValidName(n)).sort();
}

function isValidName(n: string): boolean {
  try {
    validateName('pod', n);
    return true;
  } catch {
    return false;
  }
}

/** Every readable pod record, by name. */
export function listPods(o: RootOption = {}): PodRecord[] {
  const root = resolveRoot(o.root);
  const out: PodRecord[] = [];
  for (const n of listPodNames(root)) {
    const rec = tryReadPod(root, n);
    if (rec !== undefined) out.push(rec);
  }
  return out;
}

export function writePod(root: string, rec: PodRecord): void {
  writeJsonAtomic(paths.podRecord(root, rec.name), rec);
}

/** Read, change (update), write — under the lock. NotFoundError when the pod is gone. */
export async function updatePod(o: RootOption & { name: string; update: (r: PodRecord) => void }): Promise<PodRecord> {
  const root = resolveRoot(o.root);
  return await withLock(root, () => {
    const rec = readPod({ root, name: o.name });
    o.update(rec);
    writePod(root, rec);
    return rec;
  });
}

// Our own start time never changes: read /proc/self/stat once per process, not per record.
let myStartTime: number | undefined;

/** The identity of this process as a record owner. */
export function me(): { ownerPid: number; ownerStartTime: number | undefined } {
  myStartTime ??= startTimeOf(process.pid);
  return { ownerPid: process.pid, ownerStartTime: myStartTime };
}

/** Is a live podns process (other than a dead one whose pid was recycled) working on this pod? */
export function ownerAlive(rec: PodRecord): boolean {
  if (rec.ownerPid === undefined) return false;
  return processAlive(rec.ownerPid, rec.ownerStartTime);
}

// Claims: ROOT/claims/POD.UID = {uid, netns?: {dev, ino}}, written when the pod is first recorded and
// removed last when it is deleted. Host-wide things (the pin in /run/netns, nft rules keyed by pod name)
// are shared with other state roots and with iproute2 users, so gc may only remove those it can prove
// are its own: a claim proves it even when the pod directory itself was lost. One file per pod uid, so a
// new pod with an old name never overwrites what a lost one left to clean.
export interface Claim {
  name: string;
  uid: string;
  netns?: { dev: number; ino: number };
  /** the pod's cgroup (PARENT/POD-UID8 and its directories), recorded before it is made */
  cgroup?: { path: string; dirs: string[] };
}

function claimsDir(root: string): string {
  return join(resolve(root), 'claims');
}

export function claimPath(root: string, name: string, uid: string): string {
  return join(claimsDir(root), `${name}.${uid}`);
}

export function writeClaim(root: string, claim: Claim): void {
  const target = claimPath(root, claim.name, claim.uid);
  try {
    writeJsonAtomic(target, claim);
  } catch (err) {
    // the first claim of a root makes the directory (mkdir only then, not before every claim)
    if (!isErrno(err, 'ENOENT')) throw err;
    ensureDir(claimsDir(root));
    writeJsonAtomic(target, claim);
  }
}

export function readClaim(root: string, name: string, uid: string): Claim | undefined {
  try {
    return readJsonIfExists<Claim>(claimPath(root, name, uid));
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function listClaims(root: string): Array<{ name: string; uid: string }> {
  const out: Array<{ name: string; uid: string }> = [];
  for (const f of listDir(claimsDir(root))) {
    const dot = f.indexOf('.');
    if (dot <= 0) continue;
    const name = f.slice(0, dot);
    const uid = f.slice(dot + 1);
    if (isValidName(name) && UUID.test(uid)) out.push({ name, uid });
  }
  return out;
}

export function removeClaim(root: string, name: string, uid: string): void {
  rmSync(claimPath(root, name, uid), { force: true });
}

/**
 * Remove a pod directory: what is mounted inside it unmounted (a medium: Memory emptyDir's tmpfs), then
 * renamed out of the way (pods/.trash-NAME-RAND), so a half-removed directory never looks like a pod
 * without a record, then deleted. gc finishes trash left by a crash (unmounting likewise). background: the
 * unmounting and deleting happen after the return, on a pool thread (state/trash.ts), the rename before it.
 */
export function removePodDir(root: string, name: string, o: { background?: boolean } = {}): void {
  const dir = paths.pod(root, name);
  if (!existsSync(dir)) return;
  if (o.background === true) {
    discardDir(root, dir, name);
    return;
  }
  unmountUnder(dir);
  const trash = trashPath(root, name);
  renameSync(dir, trash);
  rmSync(trash, { recursive: true, force: true });
}
