// podns cri serve — the Kubernetes CRI over gRPC (src/cri), in the foreground.
import { isIP } from 'node:net';
import { PodnsError } from '../../errors.js';
import { parseCommand } from '../args.js';
import type { Command } from '../command.js';

const usage = `Usage:
  podns cri serve [--listen unix:///run/podns/cri.sock] [--stream-address 127.0.0.1] [--stream-port 0]
                  [--log-level error|info|debug] [--bridge NAME --subnet CIDR]

Serves the Kubernetes Container Runtime Interface (runtime.v1 RuntimeService and ImageService) on a unix
socket, in the foreground, for kubelet (--container-runtime-endpoint=unix:///run/podns/cri.sock) and crictl.
Pods and containers made through it are podns pods: they show in podns get, ps, ns and net. SIGTERM or
SIGINT stops the server (the socket is removed); pods and containers keep running, and a server started
again serves them from the state root. --log-level debug logs one line per RPC.
--stream-address/--stream-port: where the streaming server (Exec, Attach, PortForward sessions over
SPDY/3.1 or WebSocket) listens; default 127.0.0.1 and a free port. Its URLs carry single-use tokens
that live one minute.
--bridge/--subnet: the network sandboxes join (default podns0, 10.89.0.0/16).
`;

export const commands: Command[] = [{
  name: 'cri',
  summary: 'serve the Kubernetes CRI (kubelet, crictl) on a unix socket',
  usage,
  async run(argv) {
    const p = parseCommand<{ listen?: string; 'stream-address'?: string; 'stream-port'?: string; 'log-level'?: string; bridge?: string; subnet?: string }>('cri', argv, {
      listen: { type: 'string' }, 'stream-address': { type: 'string' }, 'stream-port': { type: 'string' },
      'log-level': { type: 'string' }, bridge: { type: 'string' }, subnet: { type: 'string' },
    });
    if (p.positionals[0] !== 'serve' || p.positionals.length !== 1) throw new PodnsError('EUSAGE', `podns cri: want "serve"\n${usage}`);
    const level = p.values['log-level'] ?? 'info';
    if (level !== 'error' && level !== 'info' && level !== 'debug') throw new PodnsError('EUSAGE', `--log-level ${level}: use error, info or debug`);
    const port = p.values['stream-port'] ?? '0';
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new PodnsError('EUSAGE', `--stream-port ${port}: give a port number (0: any)`);
    const streamAddress = p.values['stream-address'];
    if (streamAddress !== undefined && isIP(streamAddress) === 0) throw new PodnsError('EUSAGE', `--stream-address ${streamAddress}: give an IP address (e.g. 127.0.0.1, or the node's address for a kubelet on another host)`);
    const { serveCri, DEFAULT_LISTEN } = await import('../../cri/index.js');
    const server = await serveCri({
      root: p.globals.root, listen: p.values.listen ?? DEFAULT_LISTEN, logLevel: level,
      store: p.globals.store,
      ...(streamAddress !== undefined ? { streamAddress } : {}),
      streamPort: Number(port),
      ...(p.values.bridge !== undefined ? { bridge: p.values.bridge } : {}),
      ...(p.values.subnet !== undefined ? { subnet: p.values.subnet } : {}),
    });
    return await new Promise<number>((res) => {
      const stop = () => { void server.close().then(() => res(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
}];
