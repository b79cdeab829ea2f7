// What a pod is doing, from the record checked against the kernel.
//   Running      the pause is alive (same pid AND same start time as recorded: a recycled pid is not it)
//   Degraded     the pause is gone but the pins still hold the namespaces: the network, IP and
//                containers live on, and `podns repair` gives it a new pause
//   Creating / Terminating   a podns process is creating / deleting it right now
//   Failed       a create or delete was interrupted (its podns process is gone), or the pause AND the
//                pins are gone: nothing is left to repair; `podns gc` or `podns delete --force` removes it
import { readContainerStatus } from '../container/status.js';
import { listDir } from '../state/files.js';
import { paths, resolveRoot, type RootOption } from '../state/paths.js';
import { pinAlive } from '../state/root.js';
import { processAlive } from './proc.js';
import { ownerAlive } from './store.js';
import type { PodRecord } from './types.js';

export type PodStatus = 'Running' | 'Degraded' | 'Creating' | 'Terminating' | 'Failed';

export interface PodState {
  status: PodStatus;
  pauseAlive: boolean;
  ready: number;
  total: number;
}

export function pauseAlive(rec: PodRecord): boolean {
  return rec.pause !== undefined && processAlive(rec.pause.pid, rec.pause.startTime);
}

/** Do all the recorded pins still hold the recorded namespaces? */
export function pinsHold(rec: PodRecord): boolean {
  return rec.namespaces.length > 0 && rec.namespaces.every((ns) => pinAlive(ns.path, ns));
}

/** Container names: the recorded order, then any directory the record does not list yet. */
export function containerNames(root: string, rec: PodRecord): string[] {
  const names = [...(rec.containers ?? [])];
  for (const d of listDir(paths.containers(root, rec.name))) if (!d.startsWith('.') && !names.includes(d)) names.push(d);
  return names;
}

/** What the pod `record` is doing (see above). */
export function podState(o: RootOption & { record: PodRecord }): PodState {
  const root = resolveRoot(o.root);
  const rec = o.record;
  const alive = pauseAlive(rec);
  let ready = 0;
  const names = containerNames(root, rec);
  for (const c of names) {
    try {
      if (readContainerStatus({ root, pod: rec.name, name: c })?.state === 'running') ready++;
    } catch {
      // an unreadable container does not make the pod unreadable; it just is not ready
    }
  }
  let status: PodStatus;
  if (rec.phase === 'creating') status = ownerAlive(rec) ? 'Creating' : 'Failed';
  else if (rec.phase === 'deleting') status = ownerAlive(rec) ? 'Terminating' : 'Failed';
  else if (alive) status = 'Running';
  else status = pinsHold(rec) ? 'Degraded' : 'Failed';
  return { status, pauseAlive: alive, ready, total: names.length };
}
