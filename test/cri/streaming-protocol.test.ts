// The streaming server's protocol pieces without a container: SPDY header blocks against real zlib (both
// ways), hostile header blocks and frames, the token cache (single use, expiry, cap), and the HTTP answers
// for unknown/used/expired tokens, non-upgrade requests, unknown upgrades and unnegotiable protocols; the
// attach log follower's decoding across reads.
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { constants, deflateRawSync, deflateSync, inflateSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { SPDY3_DICTIONARY } from '../../src/cri/streaming/spdy-dictionary.js';
import { HeaderDecoder, HeaderEncoder, MAX_HEADER_BLOCK, parseBlock, serializeBlock, type SpdyHeaders } from '../../src/cri/streaming/spdy-headers.js';
import { SpdyConnection } from '../../src/cri/streaming/spdy.js';
import { MAX_TOKENS, TokenCache } from '../../src/cri/streaming/tokens.js';
import { onResize } from '../../src/cri/streaming/remotecommand.js';
import { StreamingServer } from '../../src/cri/streaming/index.js';
import { followFile } from '../../src/cri/streaming/attach.js';
import type { LogLine } from '../../src/container/index.js';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { spdyConnect, upgrade, UpgradeRefused, ZlibHeaderEncoder } from './stream-client.js';

test('SPDY dictionary: the draft-3 constant (1423 bytes, ends with the tail "enq=0.")', (t) => {
  t.is(SPDY3_DICTIONARY.length, 1423);
  t.is(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\x07options');
  t.true(SPDY3_DICTIONARY.toString('latin1').endsWith(',*,enq=0.'));
});

test('header blocks compressed by real zlib (one stream, dictionary, a sync flush per block) decode in order', async (t) => {
  const enc = new ZlibHeaderEncoder();
  const dec = new HeaderDecoder();
  const blocks: SpdyHeaders[] = [{ streamtype: 'error' }, { streamtype: 'stdout' }, { streamtype: 'data', port: '8080', requestid: '0' }, { streamtype: 'error' }];
  for (const h of blocks) t.deepEqual({ ...dec.decode(await enc.encode(h)) }, h);
  // a long run of blocks (the 32 KiB window slides)
  for (let i = 0; i < 400; i++) {
    const h = { streamtype: i % 2 ? 'data' : 'error', port: String(1000 + i), requestid: String(i), filler: 'x'.repeat(200 + (i % 7)) };
    t.deepEqual({ ...dec.decode(await enc.encode(h)) }, h);
  }
});

test('our header blocks are one zlib stream real zlib inflates (stored blocks, no dictionary needed)', (t) => {
  const enc = new HeaderEncoder();
  const parts = [enc.encode({}), enc.encode({ a: 'b' }), enc.encode({ big: 'y'.repeat(70_000) })];
  const plain = inflateSync(Buffer.concat(parts), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  t.deepEqual(plain, Buffer.concat([serializeBlock({}), serializeBlock({ a: 'b' }), serializeBlock({ big: 'y'.repeat(70_000) })]));
});

test('each header block we write ends with a sync-flush marker (Go reads a block\'s bytes only at the next block)', (t) => {
  const enc = new HeaderEncoder();
  for (const h of [{}, { streamtype: 'error' }, { big: 'z'.repeat(70_000) }] as SpdyHeaders[]) {
    const b = enc.encode(h);
    t.deepEqual(b.subarray(b.length - 5), Buffer.from([0, 0, 0, 0xff, 0xff]));
  }
});

test('hostile header blocks are refused: not zlib, a bomb, counts and lengths past the end, duplicate or uppercase names', (t) => {
  t.throws(() => new HeaderDecoder().decode(Buffer.from('not zlib at all')), { message: /not a zlib stream/ });
  // 1 MiB of zeros compresses to ~1 KiB: inflating stops at MAX_HEADER_BLOCK
  const bomb = deflateSync(Buffer.alloc(1 << 20), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  t.true(bomb.length < 4096);
  t.throws(() => new HeaderDecoder().decode(bomb), { message: /does not inflate/ });
  t.true(MAX_HEADER_BLOCK < 1 << 20);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1_000_000);
  t.throws(() => parseBlock(count), { message: /claims 1000000 pairs/ });
  const long = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.from('abc')]);
  t.throws(() => parseBlock(long), { message: /runs past the block's end/ });
  const dup = Buffer.concat([Buffer.from([0, 0, 0, 2]), serializeBlock({ a: '1' }).subarray(4), serializeBlock({ a: '2' }).subarray(4)]);
  t.throws(() => parseBlock(dup), { message: /appears twice/ });
  const upper = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from('A'), Buffer.from([0, 0, 0, 0])]);
  t.throws(() => parseBlock(upper), { message: /not lowercase/ });
  // a raw deflate with an unknown dictionary reference is an error, not a crash
  const raw = deflateRawSync(Buffer.from('abc'));
  t.throws(() => new HeaderDecoder().decode(Buffer.concat([Buffer.from([0x78, 0x01]), raw.subarray(0, 1), Buffer.from([0xff, 0xff, 0xff])])));
});

test('tokens: single use, one minute, unknown ones undefined, capped', (t) => {
  let now = 1000;
  const c = new TokenCache<string>(60_000, () => now);
  const a = c.put('A');
  t.regex(a, /^[A-Za-z0-9_-]{24}$/);
  t.true(c.has(a));
  t.is(c.take(a), 'A');
  t.is(c.take(a), undefined, 'used');
  const b = c.put('B');
  now += 60_000;
  t.false(c.has(b));
  t.is(c.take(b), undefined, 'expired');
  t.is(c.take('nope'), undefined);
  for (let i = 0; i < MAX_TOKENS; i++) c.put('x');
  t.throws(() => c.put('y'), { message: /waiting for their client/ });
  now += 60_000;
  t.notThrows(() => c.put('y'), 'expired ones make room');
});

test('attach\'s log follower: a character split between two 64 KiB reads comes out whole (no U+FFFD)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podns-follow-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'c.log');
  writeFileSync(path, '');
  // one entry whose text puts a 3-byte "€" across offset 65536 (the first read's end), then one of "é"s
  const prefix = '2026-12-03T00:00:00.000000001Z stdout F ';
  const pad = 'x'.repeat(65536 - prefix.length - 1);
  const euro = `${pad}€tail`;
  const accents = 'é'.repeat(70000);
  const lines: LogLine[] = [];
  let running = true;
  const ac = new AbortController();
  const done = followFile(path, ac.signal, () => running, (l) => lines.push(l));
  await sleep(150); // the follower has opened the (empty) file and sits at its end
  appendFileSync(path, `${prefix}${euro}\n2026-12-03T00:00:00.000000002Z stderr F ${accents}\n`);
  running = false;
  await done;
  t.is(lines.length, 2);
  t.is(lines[0]!.text, euro);
  t.is(lines[1]!.stream, 'stderr');
  t.is(lines[1]!.text, accents);
  t.false(lines.some((l) => l.text.includes('\ufffd')));
});

test('resize messages: JSON objects one after another, split anywhere; junk and bad sizes skipped', async (t) => {
  const s = new PassThrough();
  const got: Array<[number, number]> = [];
  onResize(s, (w, h) => got.push([w, h]));
  s.write('{"Width":80,');
  s.write('"Height":24}\n{"Width":0,"Height":5}{"Width":"x","Height":1} garbage {"Width":120,"Height":40}');
  s.write('{"Width":1,"Height":2,"note":"}{"}');
  await sleep(10);
  t.deepEqual(got, [[80, 24], [120, 40], [1, 2]]);
});

async function portForwardServer(ttl?: number): Promise<StreamingServer> {
  return StreamingServer.start({ ...(ttl !== undefined ? { tokenTtlMs: ttl } : {}), streamCreationTimeoutMs: 2000 });
}

const pf = { kind: 'portforward' as const, target: { pod: 'none', netns: '/nonexistent/netns', ports: [] } };

test('HTTP answers: unknown token 404, plain GET 400, unknown upgrade 400, no common protocol 403, used token 404, expired 404', async (t) => {
  const s = await portForwardServer(300);
  try {
    const e404 = await t.throwsAsync(upgrade(`${s.url}/portforward/AAAAAAAAAAAAAAAAAAAAAAAA`, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' })) as UpgradeRefused;
    t.is(e404.status, 404);
    t.regex(e404.body, /unknown, used or expired streaming token/);
    const url = s.request(pf);
    t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/portforward\/[A-Za-z0-9_-]{24}$/);
    const plain = await fetch(url);
    t.is(plain.status, 400);
    t.regex(await plain.text(), /Upgrade request required/);
    const h2 = await t.throwsAsync(upgrade(url, { Upgrade: 'h2c' })) as UpgradeRefused;
    t.is(h2.status, 400);
    t.regex(h2.body, /unsupported upgrade "h2c"/);
    const proto = await t.throwsAsync(upgrade(url, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' })) as UpgradeRefused;
    t.is(proto.status, 403);
    t.regex(proto.body, /unable to negotiate protocol: client supports \[v4.channel.k8s.io\], server supports \[portforward.k8s.io\]/);
    // refusals did not use the token up; a good upgrade does
    const ok = await spdyConnect(url, ['v9.nope', 'portforward.k8s.io']);
    t.is(ok.protocol, 'portforward.k8s.io');
    ok.conn.close();
    const used = await t.throwsAsync(upgrade(url, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' })) as UpgradeRefused;
    t.is(used.status, 404);
    // a token for one kind of session does not open another
    const other = s.request(pf).replace('/portforward/', '/exec/');
    t.is(((await t.throwsAsync(upgrade(other, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' }))) as UpgradeRefused).status, 404);
    const late = s.request(pf);
    await sleep(400);
    t.is(((await t.throwsAsync(upgrade(late, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' }))) as UpgradeRefused).status, 404, 'expired');
  } finally {
    await s.close();
  }
});

/** A raw upgraded socket to send hand-made frames on. */
async function rawSpdy(s: StreamingServer): Promise<Socket> {
  const u = await upgrade(s.request(pf), { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
  return u.socket;
}

function closed(sock: Socket): Promise<Buffer> {
  return new Promise((res) => {
    const parts: Buffer[] = [];
    sock.on('data', (b: Buffer) => parts.push(b));
    sock.on('close', () => res(Buffer.concat(parts)));
  });
}

test('hostile SPDY frames end the session with GOAWAY: a huge control frame, another version, data on a stream never opened', async (t) => {
  const s = await portForwardServer();
  try {
    const frames = [
      Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0x7f, 0xff, 0xff]), // SYN_STREAM of 8 MiB
      Buffer.from([0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]), // PING of SPDY/2
      Buffer.from([0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x41]), // DATA for stream 7
    ];
    for (const f of frames) {
      const sock = await rawSpdy(s);
      const all = closed(sock);
      sock.write(f);
      const got = await all;
      t.true(got.length >= 16, 'an answer came');
      t.is(got.readUInt16BE(2), 7, 'GOAWAY');
      t.is(got.readUInt32BE(12), 1, 'status PROTOCOL_ERROR');
    }
    // a PING is echoed and the session stays
    const sock = await rawSpdy(s);
    const echoed = new Promise<Buffer>((res) => sock.once('data', (b: Buffer) => res(b)));
    sock.write(Buffer.from([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 5]));
    t.deepEqual(await echoed, Buffer.from([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 5]));
    sock.destroy();
  } finally {
    await s.close();
  }
});

test('port-forward streams that never pair are reset; a stream without requestid is refused', async (t) => {
  const s = await StreamingServer.start({ streamCreationTimeoutMs: 200 });
  try {
    const { conn, open } = await spdyConnect(s.request(pf), ['portforward.k8s.io']);
    const lone = await open({ streamtype: 'data', port: '80', requestid: '7' });
    const reset = await new Promise<string>((res) => { lone.on('error', (e) => res(e.message)); lone.resume(); });
    t.regex(reset, /reset stream/);
    await t.throwsAsync(open({ streamtype: 'data', port: '80' }), { message: /reset stream|closed before the reply/ });
    conn.close();
  } finally {
    await s.close();
  }
});

test('port-forward: at most 128 half pairs wait per connection; the next is refused', async (t) => {
  const s = await StreamingServer.start({ streamCreationTimeoutMs: 5000 });
  try {
    const { conn, open } = await spdyConnect(s.request(pf), ['portforward.k8s.io']);
    for (let i = 0; i < 128; i++) await open({ streamtype: 'error', port: '80', requestid: String(i) });
    await t.throwsAsync(open({ streamtype: 'error', port: '80', requestid: '128' }), { message: /reset stream|closed before the reply/ });
    conn.close();
  } finally {
    await s.close();
  }
});

test('a client that never connects: nothing listens after close()', async (t) => {
  const s = await portForwardServer();
  const port = Number(new URL(s.url).port);
  await s.close();
  await t.throwsAsync(new Promise((res, rej) => { const c = connect(port, '127.0.0.1'); c.on('connect', res); c.on('error', rej); }), { code: 'ECONNREFUSED' });
  t.pass();
});

void SpdyConnection;
