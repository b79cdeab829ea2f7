// A CRI client for the tests: @grpc/grpc-js over the same api.proto, each RPC as a promise, and a server
// of our own on a unix socket in the test's directory (in-process: serveCri), or the real CLI (`podns cri
// serve`) when a test needs a process to restart.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { criServices } from '../../src/cri/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Msg = any;

export interface CriClient {
  rt(rpc: string, req?: Msg): Promise<Msg>;
  img(rpc: string, req?: Msg): Promise<Msg>;
  close(): void;
}

export function criClient(socket: string): CriClient {
  const { RuntimeService, ImageService } = criServices();
  const rt = new RuntimeService(`unix://${socket}`, credentials.createInsecure()) as Msg;
  const img = new ImageService(`unix://${socket}`, credentials.createInsecure()) as Msg;
  const call = (c: Msg, rpc: string, req: Msg = {}): Promise<Msg> => new Promise((res, rej) => {
    c[rpc](req, { deadline: Date.now() + 60_000 }, (err: ServiceError | null, out: Msg) => (err ? rej(err) : res(out)));
  });
  return {
    rt: (rpc, req) => call(rt, rpc, req),
    img: (rpc, req) => call(img, rpc, req),
    close: () => { rt.close(); img.close(); },
  };
}
