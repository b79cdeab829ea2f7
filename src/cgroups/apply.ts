// Carries out a plan (src/cgroups/plan.ts) and the procedures that need to look at the tree as they go:
// join, kill, remove. Every file is opened without O_CREAT: on cgroupfs the kernel makes a cgroup's
// files at mkdir, so a missing one (a controller not enabled, a typo) is ENOENT, never a stray file.
// `fs` lets the tests stand a fake cgroupfs tree in (only what the kernel does at mkdir and rmdir).
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isErrno, PodnsError } from '../errors.js';
import type { CgroupHost } from './detect.js';
import { hierarchyDirs, hierarchyMounts, type CgroupOp } from './plan.js';

export interface CgroupFs {
  mkdir(path: string): void;
  rmdir(path: string): void;
}

export const realCgroupFs: CgroupFs = {
  mkdir: (p) => mkdirSync(p),
  rmdir: (p) => rmdirSync(p),
};

/** One write(2) of `value`: cgroupfs takes each write as one command (and may refuse it with its errno). */
export function writeCgroupFile(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, value);
  } catch (err) {
    // the kernel's errno stays (code, message); the file and the value it refused are named
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code === 'string' && e.path === undefined) {
      e.path = path;
      e.message = `${e.message} '${path}' (value "${value.slice(0, 64)}")`;
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

function readTrim(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/**
 * The mkdirs of a chain of levels (a/b/c: each a child of the one before, with nothing between them in the
 * plan but cpuset copies) from `i` on, deepest first: a container's cgroup is one mkdir under its pod's,
 * not three of which two fail with EEXIST. A level whose parent is missing (ENOENT) sends the attempt one
 * level up; the levels below the first that could be made (or existed) are then made top down.
 */
function chainAt(ops: readonly CgroupOp[], i: number): number[] {
  const chain = [i];
  let last = (ops[i] as { path: string }).path;
  for (let j = i + 1; j < ops.length; j++) {
    const o = ops[j]!;
    if (o.op === 'copy-if-empty') continue;
    if (o.op !== 'mkdir' || dirname(o.path) !== last) break;
    chain.push(j);
    last = o.path;
  }
  return chain;
}

function makeChain(paths: readonly string[], fs: CgroupFs, made: Set<string>, known: Set<string>): void {
  let top = paths.length - 1;
  for (; ; top--) {
    try {
      fs.mkdir(paths[top]!);
      made.add(paths[top]!);
      break;
    } catch (err) {
      if (isErrno(err, 'EEXIST')) break;
      if (!isErrno(err, 'ENOENT') || top === 0) throw err;
    }
  }
  for (let k = 0; k < top; k++) known.add(paths[k]!);
  known.add(paths[top]!);
  for (let k = top + 1; k < paths.length; k++) {
    try {
      fs.mkdir(paths[k]!);
      made.add(paths[k]!);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    known.add(paths[k]!);
  }
}

/**
 * Runs the operations in order; a directory that exists already is kept (the pod's, the parent). What the
 * run learns on the way is not asked again: the directories it made (a new v1 cpuset cgroup is empty, or
 * holds its parent's values under clone_children: the parent's values are written either way, without
 * reading the new files back) and the cpuset values it read or wrote (one level's is the next one's source).
 */
export function applyPlan(ops: readonly CgroupOp[], fs: CgroupFs = realCgroupFs): void {
  const made = new Set<string>();
  const known = new Set<string>();
  const values = new Map<string, string>();
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    if (o.op === 'mkdir') {
      if (known.has(o.path)) continue;
      makeChain(chainAt(ops, i).map((j) => (ops[j] as { path: string }).path), fs, made, known);
    } else if (o.op === 'write') {
      writeCgroupFile(o.path, o.value);
      values.delete(o.path);
    } else {
      const current = made.has(dirname(o.to)) ? '' : values.get(o.to) ?? readTrim(o.to);
      if (current === '') {
        const value = values.get(o.from) ?? readTrim(o.from);
        writeCgroupFile(o.to, value);
        values.set(o.to, value);
      } else {
        values.set(o.to, current);
      }
    }
  }
}

/** Puts `pid` into the cgroup `rel` of every hierarchy (v1: each controller's; v2: the one). */
export function joinCgroup(host: CgroupHost, rel: string, pid: number): void {
  for (const dir of hierarchyDirs(host, rel)) writeCgroupFile(join(dir, 'cgroup.procs'), String(pid));
}

/** `dir` and every cgroup below it, deepest first. */
function subtree(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return [...entries.filter((e) => e.isDirectory()).flatMap((e) => subtree(join(dir, e.name))), dir];
}

function pidsOf(dirs: string[]): number[] {
  const out: number[] = [];
  for (const d of dirs) {
    let text = '';
    try {
      text = readFileSync(join(d, 'cgroup.procs'), 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    for (const l of text.split('\n')) if (/^\d+$/.test(l)) out.push(Number(l));
  }
  return out;
}

/**
 * The hierarchies in the order their cgroups are removed: the freezer's last (v1), so that a refusal from
 * another hierarchy leaves the freezer's cgroup there for killCgroup to freeze what is left.
 */
export function rmdirOrder(host: CgroupHost): string[] {
  const freezer = host.driver === 'v1' ? host.mounts.freezer : undefined;
  const mounts = hierarchyMounts(host);
  return [...mounts.filter((m) => m !== freezer), ...mounts.filter((m) => m === freezer)];
}

/** Whether a process is in the cgroup `rel` (read in one hierarchy: on v1 every process is in each of them). */
export function cgroupHasProcesses(host: CgroupHost, rel: string): boolean {
  const dir = hierarchyDirs(host, rel)[0];
  return dir !== undefined && pidsOf([dir]).length > 0;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if (!isErrno(err, 'ESRCH')) throw err; // gone already
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGKILLs every process in the cgroup `rel` and below. v2: one write to cgroup.kill (Linux 5.14+); an
 * older v2 freezes with cgroup.freeze like v1 does. v1: a process killed one at a time could fork first
 * (a fork bomb outruns a read-then-kill loop), so the freezer stops them all, each is sent SIGKILL
 * (delivered once thawed), then the cgroup is thawed. Without a freezer hierarchy, the loop is repeated
 * until the cgroup reads empty (bounded).
 */
export async function killCgroup(host: CgroupHost, rel: string, opts: { noCgroupKill?: boolean } = {}): Promise<void> {
  if (host.driver === 'none') return;
  if (host.driver === 'v2') {
    const dir = join(host.mountPoint, rel);
    if (!existsSync(dir)) return;
    // noCgroupKill: the way of kernels before 5.14, chosen by the tests on a kernel that has cgroup.kill
    if (opts.noCgroupKill !== true && existsSync(join(dir, 'cgroup.kill'))) {
      writeCgroupFile(join(dir, 'cgroup.kill'), '1');
      return;
    }
    await frozen(join(dir, 'cgroup.freeze'), '1', '0', (v) => v === '1', subtree(dir));
    return;
  }
  const freezer = host.mounts.freezer;
  if (freezer !== undefined) {
    const dir = join(freezer, rel);
    if (!existsSync(dir)) return;
    // nothing inside (the usual case: the workload and the pause are gone): no freeze and thaw. Race-free: a
    // process joins a cgroup by a fork of one inside it, or by someone moving it there
    const dirs = subtree(dir);
    if (pidsOf(dirs).length === 0) return;
    await frozen(join(dir, 'freezer.state'), 'FROZEN', 'THAWED', (v) => v === 'FROZEN', dirs);
    return;
  }
  const dirs = hierarchyDirs(host, rel).flatMap(subtree);
  for (let i = 0; i < 50; i++) {
    const pids = pidsOf(dirs);
    if (pids.length === 0) return;
    killAll(pids);
    await sleep(10);
  }
  throw new PodnsError('EBUSY', `cgroup ${rel}: processes keep appearing after SIGKILL and there is no freezer to stop them`);
}

async function frozen(stateFile: string, freeze: string, thaw: string, isFrozen: (v: string) => boolean, dirs: string[]): Promise<void> {
  writeCgroupFile(stateFile, freeze);
  try {
    // v1 reads FREEZING until every task has stopped; v2's cgroup.freeze reads back what was asked,
    // cgroup.events says "frozen 1" once done
    const events = stateFile.endsWith('cgroup.freeze') ? stateFile.replace(/cgroup\.freeze$/, 'cgroup.events') : undefined;
    for (let i = 0; i < 200; i++) {
      const done = events !== undefined ? /^frozen 1$/m.test(readFileSync(events, 'utf8')) : isFrozen(readTrim(stateFile));
      if (done) break;
      await sleep(Math.min(1 + i, 20));
    }
    killAll(pidsOf(dirs));
  } finally {
    writeCgroupFile(stateFile, thaw);
  }
}

/** Bounded back-off for EBUSY at rmdir: about 3 s in all. */
const RMDIR_DELAYS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 700, 1000];

/** The cgroups directly below `dir` ([] when it is gone). */
function childCgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

/**
 * Removes the cgroup directory `top` (absolute) and every cgroup below it, deepest first. rmdir comes
 * first and the directory is read only when the kernel answers EBUSY: most cgroups are leaves (a
 * container's, the pause's), and reading a v1 cgroup's directory (dozens of control files, under kernfs's
 * lock that every other cgroup mkdir and rmdir of the machine takes) costs more than removing it. EBUSY
 * with cgroups below: those go first; without: the last processes are still being torn down, retried with
 * a bounded back-off, then reported with the path, never left silently. ENOENT is "already gone". True
 * when something was removed.
 */
export async function removeCgroupTree(top: string, fs: CgroupFs = realCgroupFs): Promise<boolean> {
  let removed = false;
  const remove = async (dir: string): Promise<void> => {
    for (let i = 0, rounds = 0; ; ) {
      try {
        fs.rmdir(dir);
        removed = true;
        return;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return;
        if (isErrno(err, 'EBUSY') && rounds < 10) {
          const children = childCgroups(dir);
          if (children.length > 0) {
            rounds++;
            for (const c of children) await remove(c);
            continue;
          }
        }
        if (!isErrno(err, 'EBUSY') || i >= RMDIR_DELAYS_MS.length) {
          throw new PodnsError(isErrno(err) ? err.code : 'EIO',
            `cannot remove cgroup ${dir}: ${isErrno(err) ? err.code : String(err)}${isErrno(err, 'EBUSY') ? ' (processes are still inside: stop them, then run podns gc)' : ''}`, { cause: err });
        }
        await sleep(RMDIR_DELAYS_MS[i++]!);
      }
    }
  };
  await remove(top);
  return removed;
}

/**
 * The usual end of a cgroup, with nothing left inside: the cgroups `rels` (deepest first: a pod's pause leaf,
 * then the pod) are rmdir'd in every hierarchy, the freezer's last. The kernel refuses rmdir of a cgroup
 * with processes or cgroups below, so success proves there was nothing to kill, and no directory is read
 * (killCgroup and removeCgroupTree read them, and a v1 cgroup's directory read and a refused rmdir both
 * wait for kernfs's machine-wide lock). 'busy' at the first refusal, with the freezer's cgroup still there
 * when the refusal came from another hierarchy: the caller then kills and removes what is left (killCgroup,
 * removeCgroup). 'removed' when something went, 'gone' when nothing was there.
 */
export function removeIfEmpty(host: CgroupHost, rels: readonly string[], fs: CgroupFs = realCgroupFs): 'removed' | 'gone' | 'busy' {
  let removed = false;
  for (const m of rmdirOrder(host)) {
    for (const rel of rels) {
      try {
        fs.rmdir(join(m, rel));
        removed = true;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) return 'busy';
      }
    }
  }
  return removed ? 'removed' : 'gone';
}

/** removeCgroupTree of the cgroup `rel` in every hierarchy. True when something was removed. */
export async function removeCgroup(host: CgroupHost, rel: string, fs: CgroupFs = realCgroupFs): Promise<boolean> {
  let removed = false;
  for (const top of hierarchyDirs(host, rel)) removed = (await removeCgroupTree(top, fs)) || removed;
  return removed;
}
