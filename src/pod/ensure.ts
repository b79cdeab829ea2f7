// ensurePod: the pod `podns run` puts a container into — read, created when missing, and waited for while
// another podns process is creating it ("On a pod that does not exist, podns run first creates it").
//
// Concurrent runs into one new pod race to create it; all but one lose with EEXIST, and must then wait
// for the winner's create to finish instead of failing. The states a loser can see, and why:
//   - a directory without pod.json: the winner's first record is being written. createPod makes the
//     directory and writes the record in ONE lock section, so this is seen only without the lock (planCreate
//     checks the name unlocked); under the lock it means a process died between the two (gc removes it).
//   - phase creating, owner alive: the winner is making the pause, pins, veth... — wait.
//   - phase creating, owner gone: the create was killed; only `podns gc` (or delete) resolves it.
//   - phase deleting: another process is taking it apart.
// The wait is bounded (POD_WAIT_MS), polling pod.json with a growing interval: a create takes a few
// milliseconds to a few hundred on a loaded machine, and there is nothing cheaper to block on (the create
// holds no lock between its two records, on purpose: other pods are created meanwhile).
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotFoundError, PodnsError } from '../errors.js';
import { withLock } from '../state/lock.js';
import { paths } from '../state/paths.js';
import { createPod } from './create.js';
import { ownerAlive, readPod, tryReadPod } from './store.js';
import type { PodRecord } from './types.js';

/** How long run waits for a pod another process is creating (env PODNS_POD_WAIT_MS overrides it, for tests). */
export const POD_WAIT_MS = 30_000;

function waitLimitMs(): number {
  const env = Number(process.env.PODNS_POD_WAIT_MS);
  return Number.isFinite(env) && env >= 0 && process.env.PODNS_POD_WAIT_MS !== '' ? env : POD_WAIT_MS;
}

function tryRead(root: string, name: string): PodRecord | undefined {
  try {
    return readPod({ root, name });
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * The pod `name` in phase ready: the existing one, one this call creates (default bridge network), or one
 * another process is creating, once it is ready. `root` must be resolved. Throws EPODNOTREADY when the pod
 * is being deleted or was left half-made by a process that died, ETIMEDOUT after POD_WAIT_MS.
 */
export async function ensurePod(root: string, name: string): Promise<{ rec: PodRecord; created: boolean }> {
  const limit = waitLimitMs();
  const start = Date.now();
  let pause = 2;
  for (;;) {
    let rec = tryRead(root, name);
    if (rec === undefined) {
      let lost: PodnsError;
      try {
        return { rec: await createPod({ root, name }), created: true };
      } catch (err) {
        if (!(err instanceof PodnsError && err.code === 'EEXIST')) throw err;
        lost = err;
      }
      // lost the race: judged under the lock, where a directory without a record is never a create in
      // progress (see the top of the file)
      rec = await withLock(root, () => {
        const r = tryReadPod(root, name);
        if (r === undefined && existsSync(paths.pod(root, name))) {
          throw new PodnsError('EPODNOTREADY', `pod "${name}" has a directory but no record (a podns process died while creating it); run 'podns gc'`);
        }
        return r;
      });
      // no pod at all: the EEXIST was about something else (a foreign /run/netns/NAME), or the pod was
      // deleted meanwhile; either way the create's own message says what is in the way
      if (rec === undefined) throw lost;
    }
    if (rec.phase === 'ready') return { rec, created: false };
    if (rec.phase === 'deleting') {
      throw new PodnsError('EPODNOTREADY', `pod "${name}" is being deleted; wait for the delete to finish, or run 'podns gc' if a podns process died`);
    }
    if (!ownerAlive(rec)) {
      // The owner may have finished its create (ready), run its container and exited between our read and
      // this check (seen in 1 of 6 runs of 30 parallel runs): judge the record as it is now, not as it was.
      const now = tryRead(root, name);
      if (now === undefined || now.phase !== 'creating' || now.ownerPid !== rec.ownerPid || ownerAlive(now)) continue;
      throw new PodnsError('EPODNOTREADY', `pod "${name}" was left half-created by podns process ${rec.ownerPid ?? '?'}, which is gone; run 'podns gc' (or 'podns delete --force ${name}')`);
    }
    const waited = Date.now() - start;
    if (waited >= limit) {
      throw new PodnsError('ETIMEDOUT', `pod "${name}" is still being created by podns process ${rec.ownerPid} after ${Math.round(waited / 1000)} s; try again later, or run 'podns gc' if that process is stuck`);
    }
    await sleep(Math.min(pause, limit - waited));
    pause = Math.min(pause * 2, 100);
  }
}
