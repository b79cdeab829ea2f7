// Targets for the namespace tests: real processes in real new namespaces, started with the addon's
// clone(), killed and reaped by pid (never waitpid(-1): that would steal libuv's children).
import { closeSync, readSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { native } from '../../src/native/index.js';

export interface Target {
  pid: number;
  /** SIGKILL + waitpid; safe to call twice */
  stop(): void;
}

/** `sleep` (pid 1 of its pid namespace when CLONE_NEWPID is in flags), stopped at test teardown. */
export function startTarget(t: ExecutionContext, cloneFlags: number): Target {
  const pid = native.spawn({ path: '/bin/sleep', argv: ['sleep', '100000'], cloneFlags });
  return track(t, pid);
}

export function track(t: ExecutionContext, pid: number): Target {
  let alive = true;
  const stop = () => {
    if (!alive) return;
    alive = false;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already dead; still needs reaping
    }
    native.waitpid(pid);
  };
  t.teardown(stop);
  return { pid, stop };
}

/** The inode in `readlink /proc/self/ns/net` output ("net:[4026532001]"). */
export function inodeOf(link: string): number {
  const m = /^[a-z_]+:\[(\d+)\]$/.exec(link.trim());
  if (!m) throw new Error(`not a namespace link: ${JSON.stringify(link)}`);
  return Number(m[1]);
}

/** Read a pipe until EOF (blocking; the writer is a short script of ours). */
export function readAll(fd: number): string {
  const buf = Buffer.alloc(4096);
  let out = '';
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    out += buf.toString('utf8', 0, n);
    if (out.includes('\n')) break;
  }
  closeSync(fd);
  return out;
}
