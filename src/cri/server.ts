// `podns cri serve`: the CRI (runtime.v1 RuntimeService and ImageService) over gRPC on a unix socket.
// One handler per RPC (sandbox.ts, containers.ts, images.ts, runtime.ts); each runs on the event loop,
// so the library below must never block it (src/state/lock.ts, pidfd waits, netlink timeouts). An RPC
// podns does not serve answers UNIMPLEMENTED and the server stays up. State lives in the state root only:
// a restarted server serves the same sandboxes and containers.
import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { PodnsError } from '../errors.js';
import type { CriContext } from './context.js';
import { criError, grpcError } from './convert.js';
import { containerStatus, createContainer, execSync, listCriContainers, removeCriContainer, reopenLog, startContainer, stopContainer } from './containers.js';
import { imageFsInfo, imageStatus, listCriImages, pullCriImage, removeCriImage } from './images.js';
import { criServices } from './proto.js';
import { containerStats, listContainerStats, listPodSandboxStats, podSandboxStats, updateContainerResources } from './stats.js';
import { runtimeConfig, runtimeStatus, version } from './runtime.js';
import { settleTrash } from '../state/trash.js';
import { listPodSandbox, podSandboxStatus, removePodSandbox, runPodSandbox, settleSandboxes, stopPodSandbox } from './sandbox.js';
import { StreamingServer } from './streaming/index.js';
import { attach, exec, portForward } from './streams.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;
type Handler = (ctx: CriContext, req: Msg) => Msg | Promise<Msg>;

export type LogLevel = 'error' | 'info' | 'debug';

export interface ServeOptions extends CriContext {
  /** unix:///run/podns/cri.sock (or a plain path) */
  listen: string;
  logLevel?: LogLevel;
  log?: (line: string) => void;
  /** the streaming server's address (default 127.0.0.1) and port (default 0: any free one) */
  streamAddress?: string;
  streamPort?: number;
}

export const DEFAULT_LISTEN = 'unix:///run/podns/cri.sock';

/** The socket path of a unix:// address (or a plain absolute path). */
export function socketPath(listen: string): string {
  const p = listen.startsWith('unix://') ? listen.slice('unix://'.length) : listen;
  if (!p.startsWith('/')) throw new PodnsError('EUSAGE', `--listen ${listen}: give unix:///ABSOLUTE/PATH (podns serves the CRI on a unix socket only)`);
  return p;
}

const unimplemented = (rpc: string): Handler => () => { throw criError(status.UNIMPLEMENTED, `${rpc} is not implemented by podns`); };

const runtimeHandlers: Record<string, Handler> = {
  Version: () => version(),
  Status: (_ctx, req) => runtimeStatus(req),
  RuntimeConfig: () => runtimeConfig(),
  RunPodSandbox: runPodSandbox,
  StopPodSandbox: stopPodSandbox,
  RemovePodSandbox: removePodSandbox,
  PodSandboxStatus: podSandboxStatus,
  ListPodSandbox: listPodSandbox,
  CreateContainer: createContainer,
  StartContainer: startContainer,
  StopContainer: stopContainer,
  RemoveContainer: removeCriContainer,
  ListContainers: listCriContainers,
  ContainerStatus: containerStatus,
  ReopenContainerLog: reopenLog,
  ExecSync: execSync,
  Exec: exec,
  Attach: attach,
  PortForward: portForward,
  ContainerStats: containerStats,
  ListContainerStats: listContainerStats,
  UpdateContainerResources: updateContainerResources,
  PodSandboxStats: podSandboxStats,
  ListPodSandboxStats: listPodSandboxStats,
  UpdateRuntimeConfig: () => ({}), // the pod CIDR is podns's own network's; nothing to take from kubelet
};

const imageHandlers: Record<string, Handler> = {
  ListImages: listCriImages,
  ImageStatus: imageStatus,
  PullImage: pullCriImage,
  RemoveImage: removeCriImage,
  ImageFsInfo: (ctx) => imageFsInfo(ctx),
};

type Log = (level: LogLevel, line: string) => void;

/**
 * A handler as grpc-js calls it. A handler that answers synchronously (Version, the status and list RPCs)
 * answers in the same turn, without a promise hop; the per-RPC debug line (with the handler's own ms) is
 * built only when the log level is debug.
 */
function wrap(ctx: CriContext, name: string, fn: Handler, log: Log, debug: boolean) {
  const fail = (callback: sendUnaryData<Msg>, err: unknown): void => {
    const e = grpcError(err);
    log(e.code === status.UNIMPLEMENTED || e.code === status.NOT_FOUND ? 'debug' : 'info', `${name} ${status[e.code ?? status.UNKNOWN]}: ${e.details}`);
    callback(e as Msg, null);
  };
  return (call: ServerUnaryCall<Msg, Msg>, callback: sendUnaryData<Msg>): void => {
    const start = debug ? process.hrtime.bigint() : 0n;
    const done = (res: Msg): void => {
      if (debug) log('debug', `${name} ok ${Number(process.hrtime.bigint() - start) / 1e6} ms`);
      callback(null, res);
    };
    let res: Msg;
    try {
      res = fn(ctx, call.request);
    } catch (err) {
      fail(callback, err);
      return;
    }
    if (res instanceof Promise) res.then(done, (err: unknown) => fail(callback, err));
    else done(res);
  };
}

export interface CriServer {
  socket: string;
  /** the streaming server's base URL (http://ADDRESS:PORT) */
  streamUrl: string;
  /** stops accepting, finishes what runs, removes the socket; pods and containers stay */
  close(): Promise<void>;
}

export async function serveCri(o: ServeOptions): Promise<CriServer> {
  const socket = socketPath(o.listen);
  const rank: Record<LogLevel, number> = { error: 0, info: 1, debug: 2 };
  const level = o.logLevel ?? 'info';
  const write = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log: Log = (l, line) => {
    if (rank[l] <= rank[level]) write(`${new Date().toISOString()} ${l} ${line}`);
  };
  const streaming = await StreamingServer.start({
    ...(o.streamAddress !== undefined ? { address: o.streamAddress } : {}),
    ...(o.streamPort !== undefined ? { port: o.streamPort } : {}),
    log: (l, line) => log(l, line),
  });
  const ctx: CriContext = { root: o.root, ...(o.store !== undefined ? { store: o.store } : {}), ...(o.bridge !== undefined ? { bridge: o.bridge } : {}), ...(o.subnet !== undefined ? { subnet: o.subnet } : {}), streaming };
  const svc = criServices();
  // grpc-js's defaults: channelz off measured no different per call; keepalive and the stream limit act
  // per connection, not per call. A unary answer leaves in two writes: headers and message, then the
  // trailers one event-loop turn later (grpc-js ends the stream only after the message's write completes,
  // and node:http2 sends trailers from a setImmediate). Neither offers a way to send them together; the
  // second write costs a client ~0.01-0.05 ms.
  const server = new Server();
  const impl = (handlers: Record<string, Handler>): UntypedServiceImplementation =>
    Object.fromEntries(Object.entries(handlers).map(([k, fn]) => [k, wrap(ctx, k, fn, log, level === 'debug')]));
  server.addService(svc.RuntimeService.service, impl(runtimeHandlers));
  server.addService(svc.ImageService.service, impl(imageHandlers));

  mkdirSync(dirname(socket), { recursive: true, mode: 0o711 });
  // a socket left by a server that died: replaced; anything else at the path is not ours to remove
  if (existsSync(socket)) {
    if (!lstatSync(socket).isSocket()) throw new PodnsError('EEXIST', `${socket} exists and is not a socket; remove it or choose another --listen`);
    rmSync(socket);
  }
  try {
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? rej(err) : res())));
  } catch (err) {
    await streaming.close();
    throw err;
  }
  chmodSync(socket, 0o600);
  log('info', `serving the CRI (runtime.v1) on unix://${socket}, state root ${o.root}; streaming on ${streaming.url}`);
  let closed = false;
  return {
    socket,
    streamUrl: streaming.url,
    close: async () => {
      if (closed) return;
      closed = true;
      await new Promise<void>((res) => {
        const timer = setTimeout(() => { server.forceShutdown(); res(); }, 10_000);
        server.tryShutdown(() => { clearTimeout(timer); res(); });
      });
      rmSync(socket, { force: true });
      await streaming.close();
      await settleSandboxes(); // network teardowns StopPodSandbox left running
      await settleTrash(); // state directories RemovePodSandbox and RemoveContainer left to a pool thread
      log('info', 'stopped; pods and containers keep running');
    },
  };
}
