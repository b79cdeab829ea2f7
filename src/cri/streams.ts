// RuntimeService: Exec, Attach and PortForward. Each checks its target now (so that a bad request is an
// RPC error, not a URL that fails later), stores the resolved request on the streaming server and answers
// the single-use URL kubelet hands to its client (src/cri/streaming).
import { status } from '@grpc/grpc-js';
import { readContainerStatus } from '../container/index.js';
import type { CriContext } from './context.js';
import { criError } from './convert.js';
import { findContainer, findSandbox, type ContainerRecord } from './records.js';
import { TokenCacheFullError, type StreamRequest, type StreamingServer } from './streaming/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

function server(ctx: CriContext): StreamingServer {
  if (ctx.streaming === undefined) throw criError(status.UNAVAILABLE, 'the streaming server is not running (podns cri serve starts it)');
  return ctx.streaming;
}

/**
 * The request's single-use URL. A full token cache (a client calling the RPC in a loop, never connecting)
 * is RESOURCE_EXHAUSTED, kubelet's streaming server's answer for its bounded request cache.
 */
function url(s: StreamingServer, r: StreamRequest): string {
  try {
    return s.request(r);
  } catch (err) {
    if (err instanceof TokenCacheFullError) throw criError(status.RESOURCE_EXHAUSTED, err.message);
    throw err;
  }
}

function runningContainer(ctx: CriContext, id: string, rpc: string): ContainerRecord {
  const c = findContainer(ctx.root, id);
  if (c === undefined) throw criError(status.NOT_FOUND, `container "${id}" not found`);
  const st = c.started ? readContainerStatus({ root: ctx.root, pod: c.pod, name: c.name }) : undefined;
  if (st === undefined || st.state === 'exited') throw criError(status.FAILED_PRECONDITION, `${rpc}: container ${c.id} is not running`);
  return c;
}

function flagsOf(req: Msg, rpc: string): { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean } {
  const f = { stdin: req.stdin === true, stdout: req.stdout === true, stderr: req.stderr === true, tty: req.tty === true };
  if (!f.stdin && !f.stdout && !f.stderr) throw criError(status.INVALID_ARGUMENT, `${rpc}: one of stdin, stdout and stderr must be set`);
  if (f.tty && f.stderr) throw criError(status.INVALID_ARGUMENT, `${rpc}: tty and stderr cannot both be set (a tty merges stderr into stdout)`);
  return f;
}

export function exec(ctx: CriContext, req: Msg): Msg {
  const s = server(ctx);
  const argv = [...(req.cmd ?? [])].map(String);
  if (argv.length === 0 || argv[0] === '') throw criError(status.INVALID_ARGUMENT, 'Exec: cmd is empty');
  const flags = flagsOf(req, 'Exec');
  const c = runningContainer(ctx, req.container_id ?? '', 'Exec');
  return { url: url(s, { kind: 'exec', flags, target: { root: ctx.root, pod: c.pod, container: c.name, argv, tty: flags.tty } }) };
}

export function attach(ctx: CriContext, req: Msg): Msg {
  const s = server(ctx);
  const flags = flagsOf(req, 'Attach');
  const c = runningContainer(ctx, req.container_id ?? '', 'Attach');
  const sp = c.spec;
  return { url: url(s, { kind: 'attach', flags, target: { root: ctx.root, pod: c.pod, container: c.name, logPath: c.logPath, stdin: sp.stdin === true, stdinOnce: sp.stdinOnce === true, tty: sp.tty === true } }) };
}

export function portForward(ctx: CriContext, req: Msg): Msg {
  const s = server(ctx);
  const sb = findSandbox(ctx.root, req.pod_sandbox_id ?? '');
  if (sb === undefined) throw criError(status.NOT_FOUND, `pod sandbox "${req.pod_sandbox_id}" not found`);
  if (sb.cri.stopped) throw criError(status.FAILED_PRECONDITION, `PortForward: pod sandbox ${sb.cri.id} is stopped`);
  const ports = [...(req.port ?? [])].map(Number);
  const bad = ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (bad !== undefined) throw criError(status.INVALID_ARGUMENT, `PortForward: port ${bad} is not a port number 1-65535`);
  // the pod's pinned network namespace; a host-network pod's is the host's (the helper's own)
  const net = sb.pod.namespaces.find((n) => n.type === 'net');
  const netns = net?.path ?? '/proc/self/ns/net';
  return { url: url(s, { kind: 'portforward', target: { pod: sb.pod.name, netns, ports } }) };
}
