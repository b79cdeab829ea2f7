// `podns ns`: which process of a pod is in which namespace, by inode — lsns, narrowed to pods.
//
// Rows: the pause, each container's main process, and each live exec session. Columns: the eight
// namespace types. A namespace is "shared" when it is the pause's (the pod's); otherwise it is the
// container's own (mnt always; pid unless the pod shares its pid namespace).
//
// Exec sessions are found by namespace, not by record, so they are found however they were started:
// a process belongs to container C when it is in C's mount namespace (every container has its own) and
// in the pid namespace of C's main process. Among those, the ones the main process did not start (their
// parent is outside that set) are sessions. `podns exec` runs through `podns-helper exec`, which joins the
// namespaces and forks the command: the helper itself is only half inside (its own pid namespace stays the
// host's), so the session shown is the command it forked. Orphans of the workload are re-parented to the
// container's watcher (the init of its pid namespace): they are the workload's, not sessions.
import type { NsType } from '../../native/podns-native.js';
import { readFileSync } from 'node:fs';
import { hostCgroups, parseProcCgroup } from '../cgroups/index.js';
import type { PodRecord } from '../pod/types.js';
import { readContainerStatus } from '../container/status.js';
import { containerNames } from '../container/stop.js';
import { processAlive } from '../pod/proc.js';
import { cmdlineOf, commOf, NS_TYPES, nsfsDev, nsOfPath, nsSetOf, sameNs, scanProcesses, type NsIdent, type NsSet, type ProcEntry } from './proc.js';

export type NsRole = 'pause' | 'main' | 'exec';

export interface NsCell {
  ino: number;
  dev: number;
  /** the pause's (the pod's) namespace of this type */
  shared: boolean;
  /** also the namespace of the process looking (the host, from podns's point of view) */
  host: boolean;
}

export interface NsRow {
  pod: string;
  /** null for the pause */
  container: string | null;
  role: NsRole;
  /** null when the container has no live process (exited, restarting) */
  pid: number | null;
  command: string;
  /** the container's state when it has no process */
  state?: string;
  ns: Partial<Record<NsType, NsCell>>;
  /** the process's cgroup as the kernel says (/proc/PID/cgroup: v1 the pids hierarchy's, else the first; v2 the one) */
  cgroup?: string | null;
}

export interface NsPodSummary {
  pod: string;
  pauseAlive: boolean;
  pausePid: number | null;
  /** the namespaces the pod pins (net, ipc, uts, and pid when shared), by inode; null when the pin is gone */
  pinned: Partial<Record<NsType, number | null>>;
  /** the pod's cgroup (PARENT/POD-UID8, in each hierarchy of the driver) as recorded; null: none */
  cgroup: { driver: string; path: string } | null;
}

/** A process's cgroup path from /proc/PID/cgroup: the pids hierarchy's (v1), else v2's; null when unreadable. */
export function processCgroup(pid: number): string | null {
  try {
    const m = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    return m.get('pids') ?? m.get('memory') ?? m.get('') ?? null;
  } catch {
    return null;
  }
}

export interface NsView { pods: NsPodSummary[]; rows: NsRow[] }

function cells(set: NsSet, ref: NsSet, host: NsSet): Partial<Record<NsType, NsCell>> {
  const out: Partial<Record<NsType, NsCell>> = {};
  for (const t of NS_TYPES) {
    const id = set[t];
    if (id === undefined) continue;
    out[t] = { ino: id.ino, dev: id.dev, shared: sameNs(id, ref[t]), host: sameNs(id, host[t]) };
  }
  return out;
}

/**
 * The processes of container C that are exec sessions (see the header comment). `main` is C's main process.
 */
export function execSessions(procs: ProcEntry[], main: ProcEntry, watcherPid?: number): ProcEntry[] {
  const inside = (p: ProcEntry) => sameNs(p.mnt, main.mnt) && sameNs(p.pidNs, main.pidNs);
  const members = new Map<number, ProcEntry>();
  for (const p of procs) if (inside(p)) members.set(p.pid, p);
  const byParent = new Map<number, ProcEntry[]>();
  for (const p of members.values()) {
    const list = byParent.get(p.ppid) ?? [];
    list.push(p);
    byParent.set(p.ppid, list);
  }
  const roots: ProcEntry[] = [];
  const visit = (p: ProcEntry) => {
    // the exec relay, when it landed fully inside (a container without its own pid namespace): show what it runs
    if (p.comm === 'podns-helper') {
      for (const c of byParent.get(p.pid) ?? []) visit(c);
      return;
    }
    roots.push(p);
  };
  for (const p of members.values()) {
    if (p.pid === main.pid || members.has(p.ppid) || p.ppid === watcherPid) continue;
    visit(p);
  }
  return roots.sort((a, b) => a.pid - b.pid);
}

function commandOf(pid: number): string {
  const argv = cmdlineOf(pid);
  if (argv.length === 0) return commOf(pid) ?? '?';
  const base = argv[0]!.split('/').pop()!;
  return [base, ...argv.slice(1)].join(' ');
}

/** The namespace table for these pods (records already read). */
export function nsView(root: string, pods: PodRecord[]): NsView {
  const host = nsSetOf('self');
  const dev = nsfsDev();
  const procs = scanProcesses();
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const view: NsView = { pods: [], rows: [] };

  for (const rec of pods) {
    const pinned: Partial<Record<NsType, NsIdent | undefined>> = {};
    for (const n of rec.namespaces) {
      const id = nsOfPath(n.path, dev);
      pinned[n.type] = id !== undefined && id.ino === n.ino ? id : undefined;
    }
    const pausePid = rec.pause && processAlive(rec.pause.pid, rec.pause.startTime) ? rec.pause.pid : null;
    const pauseNs = pausePid !== null ? nsSetOf(pausePid) : {};
    // The pod's namespaces: the pause's; with the pause dead, the pins still name them, and every type the
    // pause does not unshare would be the host's (it is started in ours).
    const ref: NsSet = {};
    for (const t of NS_TYPES) {
      const p = pinned[t];
      ref[t] = pauseNs[t] ?? p ?? (pausePid === null && !rec.namespaces.some((n) => n.type === t) ? host[t] : undefined);
    }
    view.pods.push({
      pod: rec.name,
      pauseAlive: pausePid !== null,
      pausePid,
      pinned: Object.fromEntries(rec.namespaces.map((n) => [n.type, pinned[n.type]?.ino ?? null])),
      cgroup: rec.cgroupPath !== undefined ? { driver: hostCgroups().driver, path: rec.cgroupPath } : null,
    });

    view.rows.push(pausePid !== null
      ? { pod: rec.name, container: null, role: 'pause', pid: pausePid, command: commandOf(pausePid), ns: cells(pauseNs, ref, host), cgroup: processCgroup(pausePid) }
      : { pod: rec.name, container: null, role: 'pause', pid: null, command: 'pause', state: 'dead', ns: {} });

    for (const name of containerNames(root, rec.name)) {
      const st = readContainerStatus({ root, pod: rec.name, name });
      // the workload is the watcher's child: a recycled pid in status.json is not mistaken for it
      const cand = st && st.state === 'running' ? byPid.get(st.pid) : undefined;
      const main = cand !== undefined && cand.ppid === st!.watcherPid ? cand : undefined;
      if (st === undefined || main === undefined) {
        view.rows.push({ pod: rec.name, container: name, role: 'main', pid: null, command: '',
          state: st === undefined ? 'created' : st.state === 'running' ? 'gone' : st.state, ns: {} });
        continue;
      }
      view.rows.push({ pod: rec.name, container: name, role: 'main', pid: main.pid, command: commandOf(main.pid),
        ns: cells(nsSetOf(main.pid), ref, host), cgroup: processCgroup(main.pid) });
      for (const s of execSessions(procs, main, st!.watcherPid)) {
        const set = nsSetOf(s.pid);
        if (set.mnt === undefined) continue; // ended meanwhile
        view.rows.push({ pod: rec.name, container: name, role: 'exec', pid: s.pid, command: commandOf(s.pid), ns: cells(set, ref, host), cgroup: processCgroup(s.pid) });
      }
    }
  }
  return view;
}
