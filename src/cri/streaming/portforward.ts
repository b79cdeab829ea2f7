// Port forwarding (kubectl port-forward through kubelet): each forwarded TCP connection is a pair of
// streams, data and error, that share a `requestid` and name the pod's `port`. The bytes of the data stream
// go to 127.0.0.1:PORT inside the pod's network namespace and back; a failure is written as one line on
// the error stream. The connection is made by `podns-helper portforward` (native/helper/portforward.c),
// which joins the pod's netns itself: Node's threads never enter it.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { HELPER_ARGV0, portForwardArgv } from '../../native/helper.js';
import { executable, helperPath } from '../../native/index.js';

export const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

export interface PortForwardTarget {
  /** the podns pod (for messages) */
  pod: string;
  /** its network namespace file (the pod's pin; the host's for a host-network pod) */
  netns: string;
  /** the ports the CRI request named; empty: any */
  ports: number[];
}

/** A port as the client sent it: a decimal 1-65535 the request allows, or a message saying why not. */
export function checkPort(text: string | undefined, t: PortForwardTarget): number | string {
  if (text === undefined || !/^[0-9]{1,5}$/.test(text)) return `invalid port "${text ?? ''}": want a number 1-65535`;
  const port = Number(text);
  if (port < 1 || port > 65535) return `invalid port ${port}: want a number 1-65535`;
  if (t.ports.length > 0 && !t.ports.includes(port)) return `port ${port} was not among the ports of the PortForward request (${t.ports.join(', ')})`;
  return port;
}

/**
 * Forwards one connection: data's bytes to PORT in the pod and back; errors (the helper's line: connect
 * refused, ...) on errorOut, which is then ended. Resolves when the connection is over; abort() ends it.
 */
export function forwardOne(t: PortForwardTarget, port: number, data: Readable & Writable, errorOut: Writable | null): { done: Promise<void>; abort: () => void } {
  const child = spawn(executable(helperPath), portForwardArgv({ netns: t.netns, port }), { argv0: HELPER_ARGV0, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { if (stderr.length < 4096) stderr += b.toString('utf8'); });
  child.stdin.on('error', () => undefined);
  data.on('error', () => child.kill('SIGKILL'));
  data.pipe(child.stdin);
  child.stdout.on('data', (b: Buffer) => {
    if (data.destroyed || data.writableEnded) return;
    if (!data.write(b)) {
      child.stdout.pause();
      data.once('drain', () => child.stdout.resume());
    }
  });
  const done = new Promise<void>((res) => {
    let exited = false;
    let outEnded = false;
    const finish = (): void => {
      if (!exited || !outEnded) return;
      if (!data.destroyed && !data.writableEnded) data.end();
      const failed = child.exitCode !== 0;
      if (errorOut !== null && !errorOut.destroyed && !errorOut.writableEnded) {
        if (failed) {
          const why = stderr.trim().replace(/^podns-helper portforward: /, '') || `the forwarder exited with ${child.exitCode ?? child.signalCode}`;
          errorOut.end(Buffer.from(`error forwarding port ${port} to pod ${t.pod}: ${why}`));
        } else {
          errorOut.end();
        }
      }
      res();
    };
    child.stdout.once('close', () => { outEnded = true; finish(); });
    child.once('exit', () => { exited = true; finish(); });
    child.once('error', (err) => { stderr = err.message; exited = true; outEnded = true; finish(); });
  });
  return { done, abort: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); } };
}
