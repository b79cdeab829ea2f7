// deletePod: mark the pod 'deleting' (with our pid, under the lock), then take it apart (destroy.ts).
// A delete killed part way leaves the mark; `podns gc` or another delete finishes it.
import { PodnsError } from '../errors.js';
import { DEFAULT_GRACE_SECONDS } from '../container/stop.js';
import { faultPoint } from '../fault.js';
import { withLock } from '../state/lock.js';
import { validateName } from '../state/names.js';
import { destroyPod } from './destroy.js';
import { scanPauses } from './proc.js';
import { podState } from './state.js';
import { me, ownerAlive, readPod, writePod } from './store.js';
import { resolveRoot, type RootOption } from '../state/paths.js';

export { DEFAULT_GRACE_SECONDS };

export interface DeleteOptions extends RootOption {
  /** the pod */
  name: string;
  /** seconds between SIGTERM and SIGKILL (default 10) */
  grace?: number;
  /** delete a pod whose pause is gone (Degraded, Failed), or one another podns process is working on */
  force?: boolean;
  /** its veth and IPs are being released by another task of this process (see DestroyOptions) */
  networkElsewhere?: boolean;
  /** the pod's directory removed after the return (see DestroyOptions) */
  background?: boolean;
}

export function checkGrace(grace: number | undefined): number {
  const g = grace ?? DEFAULT_GRACE_SECONDS;
  if (typeof g !== 'number' || !Number.isFinite(g) || g < 0) {
    throw new PodnsError('EUSAGE', `invalid grace period "${String(grace)}": give a number of seconds, 0 or more`);
  }
  return g;
}

/** Stops the pod's containers and pause and removes everything it had; returns one line per thing removed. */
export async function deletePod(o: DeleteOptions): Promise<string[]> {
  const abs = resolveRoot(o.root);
  const name = validateName('pod', o.name);
  const grace = checkGrace(o.grace);
  let settled = false;
  const rec = await withLock(abs, () => {
    const r = readPod({ root: abs, name });
    // complete and not worked on: its create wrote record 2 (the pause) and no repair has marked it since
    settled = r.phase === 'ready' && r.ownerPid === undefined;
    if (ownerAlive(r) && r.ownerPid !== process.pid && o.force !== true) {
      const what = r.phase === 'creating' ? 'created' : r.phase === 'deleting' ? 'deleted' : 'repaired';
      throw new PodnsError('EBUSY', `pod "${name}" is being ${what} by podns process ${r.ownerPid}; wait for it, or use --force`);
    }
    if (r.phase === 'ready' && o.force !== true) {
      const st = podState({ root: abs, record: r });
      if (!st.pauseAlive) {
        throw new PodnsError('EDEGRADED', `pod "${name}" is ${st.status}: its pause process is gone; use --force to delete it (or 'podns repair ${name}' to give it a new pause)`);
      }
    }
    r.phase = 'deleting';
    Object.assign(r, me());
    writePod(abs, r);
    return r;
  });
  faultPoint('delete-after-mark');
  // A pause that a crashed create or repair started but never recorded carries the pod's uid in its
  // environment: looked for in /proc (a walk of every process, ~1 ms) unless the pod was settled (ready, no
  // owner), when there can be none: create records its pause before it clears its mark, and repair marks
  // the pod before it starts one and clears the mark only once it is recorded or stopped. (gc clears the
  // mark of a killed repair only in the run that then removes that repair's pause as a stray.)
  const extraPauses = settled ? [] : scanPauses().filter((p) => p.root === abs && p.pod === name && p.uid === rec.uid && p.pid !== rec.pause?.pid);
  return destroyPod(abs, rec, { grace, extraPauses, ...(o.networkElsewhere === true ? { networkElsewhere: true } : {}), ...(o.background === true ? { background: true } : {}) });
}
