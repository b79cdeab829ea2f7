// Rows for `podns ps`: per pod one row for its pause (CONTAINER "POD", like podman's infra container),
// then one per container.
import { resolveRoot, type RootOption } from '../state/paths.js';
import { processAlive } from '../pod/proc.js';
import { listPods, readPod } from '../pod/store.js';
import type { ContainerStatus, PodRecord } from '../pod/types.js';
import { commandText } from './config.js';
import { readContainerConfig, readContainerStatus, statusText } from './status.js';
import { containerNames } from './stop.js';

export interface PsRow {
  pod: string;
  /** "POD" for the pause */
  container: string;
  /** host pid of the workload (the pause for the POD row), null when not running */
  pid: number | null;
  status: string;
  state: ContainerStatus['state'] | 'created' | 'unknown';
  /** ISO time it (last) started */
  startedAt: string | null;
  restartCount: number;
  exitCode: number | null;
  command: string[];
}

function podRow(rec: PodRecord): PsRow {
  const alive = rec.pause !== undefined && processAlive(rec.pause.pid, rec.pause.startTime);
  return {
    pod: rec.name, container: 'POD', pid: alive ? rec.pause!.pid : null, status: alive ? 'Running' : 'Exited',
    state: alive ? 'running' : 'exited', startedAt: rec.createdAt, restartCount: 0, exitCode: null, command: ['pause'],
  };
}

export function containerRows(root: string, rec: PodRecord): PsRow[] {
  const rows: PsRow[] = [podRow(rec)];
  for (const name of containerNames(root, rec.name)) {
    let st: ContainerStatus | undefined;
    let argv: string[] = [];
    try {
      st = readContainerStatus({ root, pod: rec.name, name });
      argv = readContainerConfig({ root, pod: rec.name, name })?.argv ?? [];
    } catch {
      rows.push({ pod: rec.name, container: name, pid: null, status: 'Unknown', state: 'unknown', startedAt: null, restartCount: 0, exitCode: null, command: [] });
      continue;
    }
    rows.push({
      pod: rec.name,
      container: name,
      pid: st?.state === 'running' ? st.pid : null,
      status: statusText(st),
      state: st?.state ?? 'created',
      startedAt: st?.startedAt ?? null,
      restartCount: st?.restartCount ?? 0,
      exitCode: st?.exitCode ?? null,
      command: argv,
    });
  }
  return rows;
}

/** Rows of one pod (NotFoundError when it does not exist) or of every pod. */
export function psRows(o: RootOption & { pod?: string } = {}): PsRow[] {
  const root = resolveRoot(o.root);
  const pods = o.pod !== undefined ? [readPod({ root, name: o.pod })] : listPods({ root });
  return pods.flatMap((rec) => containerRows(root, rec));
}

export { commandText };
