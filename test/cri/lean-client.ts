// A lean CRI client: unary gRPC calls over one node:http2 session on the unix socket, with the protobuf codec
// of api.proto that the server uses (@grpc/proto-loader's serializers, src/cri/proto.ts). It exists for the
// bench: @grpc/grpc-js's client costs ~0.2-0.4 ms more per call than the HTTP/2 exchange itself (channel,
// resolver, load balancer, interceptor and filter stacks), on every runtime it talks to, which hides the
// runtimes' own differences. kubelet's client is grpc-go, whose per-call overhead is ~0.1 ms: this client is
// the closer stand-in. Same interface as criClient (client.ts).
//
// The wire (gRPC over HTTP/2): POST /runtime.v1.RuntimeService/NAME, content-type application/grpc,
// te: trailers, grpc-timeout; the body one length-prefixed message (1 byte compressed flag, 4 bytes big-endian
// length). The answer: :status 200, DATA with one length-prefixed message, then trailers with grpc-status
// (0 = OK) and grpc-message (percent-encoded); or trailers-only (grpc-status in the response headers). Every
// other outcome (HTTP status, reset stream, session error, a compressed or malformed or second message, no
// grpc-status) is a LeanCallError with the gRPC code the spec maps it to.
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { status } from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { criPackageDefinition } from '../../src/cri/index.js';
import type { CriClient, Msg } from './client.js';

/** a call's failure: the gRPC status code and message, as ServiceError has them (code, details) */
export class LeanCallError extends Error {
  constructor(readonly code: status, readonly details: string, rpc: string) {
    super(`${rpc}: ${code} ${status[code] ?? 'UNKNOWN'}: ${details}`);
    this.name = 'LeanCallError';
  }
}

/** an answer larger than this is refused (RESOURCE_EXHAUSTED), as grpc clients refuse over their limit */
export const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
const DEADLINE_MS = 60_000;

/** HTTP status of a non-gRPC answer → gRPC code (the gRPC spec's table "HTTP to gRPC Status Code Mapping"). */
export function httpStatusToGrpc(code: number): status {
  switch (code) {
    case 400: return status.INTERNAL;
    case 401: return status.UNAUTHENTICATED;
    case 403: return status.PERMISSION_DENIED;
    case 404: return status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return status.UNAVAILABLE;
    default: return status.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8; a malformed one is kept as sent. */
export function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const s = Array.isArray(raw) ? raw.join(',') : raw ?? '';
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A 5-byte-prefixed gRPC message → its bytes; a compressed, truncated, oversized or second message is an error. */
export function unframe(body: Buffer): Buffer | { code: status; details: string } {
  if (body.length < 5) return { code: status.INTERNAL, details: body.length === 0 ? 'no response message' : `truncated message header (${body.length} bytes)` };
  if (body[0] !== 0) return { code: status.INTERNAL, details: `compressed message (flag ${body[0]}), but no grpc-accept-encoding was offered` };
  const len = body.readUInt32BE(1);
  if (len > MAX_RECEIVE_BYTES) return { code: status.RESOURCE_EXHAUSTED, details: `response message of ${len} bytes exceeds ${MAX_RECEIVE_BYTES}` };
  if (body.length < 5 + len) return { code: status.INTERNAL, details: `truncated message (${body.length - 5} of ${len} bytes)` };
  if (body.length > 5 + len) return { code: status.INTERNAL, details: 'more than one message in a unary response' };
  return body.subarray(5);
}

function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

function grpcStatusOf(h: IncomingHttpHeaders): status | undefined {
  const v = h['grpc-status'];
  if (v === undefined) return undefined;
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isInteger(n) && n >= 0 && n <= 16 ? n : status.UNKNOWN;
}

export function leanCriClient(socket: string): CriClient {
  const def = criPackageDefinition();
  const services = { rt: def['runtime.v1.RuntimeService'], img: def['runtime.v1.ImageService'] } as unknown as Record<'rt' | 'img', Record<string, MethodDefinition<Msg, Msg>>>;
  let session: ClientHttp2Session | undefined;
  const open = (): ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const s = connect('http://localhost', { createConnection: () => netConnect(socket) });
    s.on('error', () => { /* each call sees it on its stream */ });
    s.on('close', () => { if (session === s) session = undefined; });
    session = s;
    return s;
  };

  const call = (svc: 'rt' | 'img', rpc: string, req: Msg = {}): Promise<Msg> => new Promise((resolve, reject) => {
    const m = services[svc][rpc];
    if (m === undefined || m.requestStream || m.responseStream) {
      reject(new LeanCallError(status.UNIMPLEMENTED, `${rpc} is not a unary method of ${svc === 'rt' ? 'RuntimeService' : 'ImageService'}`, rpc));
      return;
    }
    let body: Buffer;
    try {
      body = frame(m.requestSerialize(req));
    } catch (err) {
      reject(new LeanCallError(status.INTERNAL, `request does not encode: ${(err as Error).message}`, rpc));
      return;
    }
    let settled = false;
    const fail = (code: status, details: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new LeanCallError(code, details, rpc));
    };
    let stream;
    try {
      stream = open().request({
        [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: m.path,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', te: 'trailers', 'grpc-timeout': `${DEADLINE_MS}m`,
      });
    } catch (err) {
      fail(status.UNAVAILABLE, `cannot open a stream on ${socket}: ${(err as Error).message}`);
      return;
    }
    const timer = setTimeout(() => {
      stream.close(constants.NGHTTP2_CANCEL);
      fail(status.DEADLINE_EXCEEDED, `no answer within ${DEADLINE_MS} ms`);
    }, DEADLINE_MS);
    const chunks: Buffer[] = [];
    let size = 0;
    let headers: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (h) => { headers = h; });
    stream.on('trailers', (h) => { trailers = h; });
    stream.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_RECEIVE_BYTES + 5) {
        stream.close(constants.NGHTTP2_CANCEL);
        fail(status.RESOURCE_EXHAUSTED, `response exceeds ${MAX_RECEIVE_BYTES} bytes`);
        return;
      }
      chunks.push(d);
    });
    stream.on('error', (err: Error) => fail(status.UNAVAILABLE, `${socket}: ${err.message}`));
    stream.on('close', () => {
      if (settled) return;
      if (headers === undefined) {
        fail(status.UNAVAILABLE, `stream closed without a response (HTTP/2 code ${stream.rstCode ?? 0})`);
        return;
      }
      const http = Number(headers[constants.HTTP2_HEADER_STATUS]);
      if (http !== 200) {
        fail(httpStatusToGrpc(http), `HTTP status ${http}`);
        return;
      }
      // trailers-only: grpc-status comes with the headers
      const end = grpcStatusOf(headers) !== undefined ? headers : trailers;
      const code = end !== undefined ? grpcStatusOf(end) : undefined;
      if (code === undefined) {
        fail(stream.rstCode === constants.NGHTTP2_CANCEL ? status.CANCELLED : status.INTERNAL, `stream ended without grpc-status (HTTP/2 code ${stream.rstCode ?? 0})`);
        return;
      }
      if (code !== status.OK) {
        fail(code, decodeGrpcMessage(end?.['grpc-message']));
        return;
      }
      const msg = unframe(Buffer.concat(chunks, size));
      if (!Buffer.isBuffer(msg)) {
        fail(msg.code, msg.details);
        return;
      }
      let out: Msg;
      try {
        out = m.responseDeserialize(msg);
      } catch (err) {
        fail(status.INTERNAL, `response does not decode: ${(err as Error).message}`);
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(out);
    });
    stream.end(body);
  });

  return {
    rt: (rpc, req) => call('rt', rpc, req),
    img: (rpc, req) => call('img', rpc, req),
    close: () => { session?.close(); session = undefined; },
  };
}
