// The bench's lean CRI client (test/cri/lean-client.ts): the same answers and the same errors as the grpc-js
// client from podns's own CRI server, and every broken answer of a server (an HTTP/2 server of the test's own
// on a unix socket, answering what a broken or hostile server would) ends the call with the gRPC code the
// spec maps it to, never with a wrong message or a hang.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { criPackageDefinition, serveCri, type CriServer } from '../../src/cri/index.js';
import { criClient } from './client.js';
import { decodeGrpcMessage, httpStatusToGrpc, leanCriClient, unframe, type LeanCallError } from './lean-client.js';

const dir = mkdtempSync(join(tmpdir(), 'podns-lean-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const VERSION = { version: '0.1.0', runtime_name: 'podns', runtime_version: '0.1.0', runtime_api_version: 'v1' };

/** A bare HTTP/2 server on a unix socket whose every stream is answered by `answer`. */
async function bareServer(name: string, answer: (s: ServerHttp2Stream) => void): Promise<{ socket: string; close: () => Promise<void> }> {
  const socket = join(dir, `${name}.sock`);
  const srv: Http2Server = createServer();
  srv.on('stream', (s) => {
    s.on('error', () => undefined); // the 'reset' case resets its own stream
    s.on('data', () => undefined);
    s.on('end', () => answer(s));
  });
  await new Promise<void>((res) => srv.listen(socket, res));
  return { socket, close: () => new Promise<void>((res) => srv.close(() => res())) };
}

function framed(msg: Buffer, flag = 0): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out[0] = flag;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

const versionBytes = (): Buffer => (criPackageDefinition()['runtime.v1.RuntimeService'] as Record<string, { responseSerialize(v: unknown): Buffer }>).Version!.responseSerialize(VERSION);

test('against podns\'s server: the answers and the errors of the grpc-js client', async (t) => {
  const root = join(dir, 'root');
  const server: CriServer = await serveCri({ root, listen: `unix://${join(dir, 'cri.sock')}`, logLevel: 'error', log: () => undefined });
  const lean = leanCriClient(server.socket);
  const gjs = criClient(server.socket);
  try {
    t.deepEqual(await lean.rt('Version', {}), await gjs.rt('Version', {}));
    t.deepEqual(await lean.rt('ListPodSandbox', {}), await gjs.rt('ListPodSandbox', {}));
    t.deepEqual(await lean.img('ListImages', {}), await gjs.img('ListImages', {}));
    const a = await t.throwsAsync(lean.rt('ContainerStatus', { container_id: 'nope' })) as LeanCallError;
    const b = await t.throwsAsync(gjs.rt('ContainerStatus', { container_id: 'nope' })) as Error & { code: number; details: string };
    t.is(a.code, status.NOT_FOUND);
    t.is(a.code, b.code);
    t.is(a.details, b.details);
    const bad = await t.throwsAsync(lean.rt('RunPodSandbox', { config: { metadata: { name: '', namespace: 'x', uid: 'u' } } })) as LeanCallError;
    t.is(bad.code, status.INVALID_ARGUMENT);
    t.regex(bad.message, /^RunPodSandbox: 3 INVALID_ARGUMENT: RunPodSandbox: config\.metadata needs name/);
    // not a unary method of the service: refused here, nothing sent
    t.is((await t.throwsAsync(lean.rt('GetContainerEvents', {})) as LeanCallError).code, status.UNIMPLEMENTED);
    t.is((await t.throwsAsync(lean.rt('NoSuchRpc', {})) as LeanCallError).code, status.UNIMPLEMENTED);
  } finally {
    lean.close();
    gjs.close();
    await server.close();
  }
});

test('a broken or hostile server: each answer ends the call with its gRPC code', async (t) => {
  const cases: Array<{ name: string; answer: (s: ServerHttp2Stream) => void; code: status; details: RegExp }> = [
    { name: 'http404', code: status.UNIMPLEMENTED, details: /HTTP status 404/, answer: (s) => { s.respond({ ':status': 404 }); s.end(); } },
    { name: 'trailersonly', code: status.PERMISSION_DENIED, details: /^no: 100% sure$/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'no%3A 100%25 sure' }, { endStream: true });
    } },
    { name: 'nostatus', code: status.INTERNAL, details: /without grpc-status/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      s.end(framed(versionBytes()));
    } },
    { name: 'compressed', code: status.INTERNAL, details: /compressed message/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(framed(versionBytes(), 1));
    } },
    { name: 'truncated', code: status.INTERNAL, details: /truncated message/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(framed(versionBytes()).subarray(0, 9));
    } },
    { name: 'twomessages', code: status.INTERNAL, details: /more than one message/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.concat([framed(versionBytes()), framed(versionBytes())]));
    } },
    { name: 'huge', code: status.RESOURCE_EXHAUSTED, details: /exceeds/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(0xffffffff, 1);
      s.end(head);
    } },
    { name: 'reset', code: status.UNAVAILABLE, details: /.+/, answer: (s) => { s.close(2); } },
    { name: 'badstatus', code: status.UNKNOWN, details: /^$/, answer: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': 'banana' }, { endStream: true });
    } },
  ];
  for (const c of cases) {
    const srv = await bareServer(c.name, c.answer);
    const lean = leanCriClient(srv.socket);
    try {
      const err = await t.throwsAsync(lean.rt('Version', {}), undefined, c.name) as LeanCallError;
      t.is(err.code, c.code, `${c.name}: ${err.message}`);
      t.regex(err.details, c.details, c.name);
    } finally {
      lean.close();
      await srv.close();
    }
  }
  // a good answer from the same kind of server decodes
  const ok = await bareServer('ok', (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(framed(versionBytes()));
  });
  const lean = leanCriClient(ok.socket);
  try {
    t.deepEqual(await lean.rt('Version', {}), VERSION);
  } finally {
    lean.close();
    await ok.close();
  }
  // nobody listening
  const gone = leanCriClient(join(dir, 'nobody.sock'));
  t.is((await t.throwsAsync(gone.rt('Version', {})) as LeanCallError).code, status.UNAVAILABLE);
  gone.close();
});

test('the pieces: HTTP status mapping, grpc-message decoding, unframing', (t) => {
  t.is(httpStatusToGrpc(401), status.UNAUTHENTICATED);
  t.is(httpStatusToGrpc(503), status.UNAVAILABLE);
  t.is(httpStatusToGrpc(500), status.UNKNOWN);
  t.is(decodeGrpcMessage('a%20b%ZZ'), 'a%20b%ZZ', 'malformed: kept as sent');
  t.is(decodeGrpcMessage('caf%C3%A9'), 'café');
  t.deepEqual(unframe(Buffer.from([0, 0, 0, 0, 1, 42])), Buffer.from([42]));
  t.is((unframe(Buffer.alloc(0)) as { code: status }).code, status.INTERNAL);
});
