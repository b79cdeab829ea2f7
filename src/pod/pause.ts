// Starting the pause (see "pause" in docs/DESIGN.md): the process that holds the pod's namespaces.
//
// `pause -d 3` detaches: the program we spawn is an intermediate that forks the real pause, writes its
// pid to fd 3 and exits. So the pause is not our child (it is reparented away from Node, never a zombie
// in our process), and with -p it can first unshare(CLONE_NEWPID) so that the real pause is PID 1 of
// the pod's pid namespace. The intermediate IS our child — spawned natively, unknown to libuv — so we
// reap exactly it with waitpid(pid); never waitpid(-1), which would steal libuv's children.
import { closeSync, readSync } from 'node:fs';
import { PodnsError } from '../errors.js';
import { native, pausePath } from '../native/index.js';
import { startTimeOf, type ProcRef } from './proc.js';

export interface StartPauseOptions {
  /** absolute state root; with pod and uid, put in the pause's environment so gc can tell whose it is */
  root: string;
  pod: string;
  uid: string;
  sharePid: boolean;
  /** CLONE_NEW* for the new namespaces */
  cloneFlags: number;
  /** namespaces to join instead (pod:OTHER's net, or all three for repair) */
  setns?: Array<{ fd: number; nstype: number }>;
  hostname?: string;
}

export function pauseEnv(root: string, pod: string, uid: string): string[] {
  return [`PODNS_ROOT=${root}`, `PODNS_POD=${pod}`, `PODNS_UID=${uid}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
}

export function startPause(o: StartPauseOptions): ProcRef {
  const [r, w] = native.pipe();
  let intermediate: number;
  try {
    intermediate = native.spawn({
      path: pausePath,
      argv: ['pause', '-d', '3', ...(o.sharePid ? ['-p'] : [])],
      env: pauseEnv(o.root, o.pod, o.uid),
      cloneFlags: o.cloneFlags,
      setns: o.setns ?? [],
      ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
      cwd: '/',
      fds: [[3, w]],
    });
  } catch (err) {
    closeSync(r);
    closeSync(w);
    throw err;
  }
  // Our copy of the write end must go, or the read below would never see EOF if the pause failed.
  closeSync(w);
  let text = '';
  try {
    const buf = Buffer.alloc(64);
    for (;;) {
      const n = readSync(r, buf, 0, buf.length, null);
      if (n === 0) break;
      text += buf.toString('latin1', 0, n);
      if (text.includes('\n')) break;
    }
  } finally {
    closeSync(r);
  }
  const st = native.waitpid(intermediate);
  const m = /^([0-9]+)\n/.exec(text);
  if (st.code !== 0 || m === null) {
    const how = st.signal !== null ? `killed by signal ${st.signal}` : `exit code ${st.code}`;
    throw new PodnsError('EPAUSE', `the pause process did not start (${how}${m === null ? ', no pid reported' : ''}); check that ${pausePath} is built (npx node-gyp rebuild)`);
  }
  const pid = Number(m[1]);
  const startTime = startTimeOf(pid);
  if (startTime === undefined) {
    throw new PodnsError('EPAUSE', `the pause process (pid ${pid}) exited right after it started`);
  }
  return { pid, startTime };
}
