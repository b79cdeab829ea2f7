// LayerStore: one unpack per ChainID (also for two processes at once), the DiffID checked (a wrong one
// keeps nothing), short ids, lowerDirs top-first, remove, and clean() after kill -9 at each step.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PodnsError, NotFoundError } from '../../src/errors.js';
import { chainIds } from '../../src/image/digest.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { cleanStoreTemp } from '../../src/state/store-root.js';
import { layerEnv, sha256 } from '../helpers/layer.js';
import { privileged } from '../helpers/root.js';
import { tarBuffer } from '../helpers/tar.js';

const CHILD = fileURLToPath(new URL('./layer-ensure-child.js', import.meta.url));

function blobs() {
  const base = tarBuffer([{ name: 'etc/', type: '5' }, { name: 'etc/os-release', data: 'base\n' }, { name: 'bin/sh', data: 'sh' }]);
  const app = tarBuffer([{ name: 'app/main', data: 'app\n' }, { name: 'etc/.wh.os-release' }]);
  const diffIds = [sha256(base), sha256(app)];
  return { base, app, diffIds, chains: chainIds(diffIds) };
}

function opener(buf: Buffer, count: { n: number }) {
  return () => {
    count.n++;
    return Readable.from([gzipSync(buf)]);
  };
}

/** What the store holds besides complete layers: work dirs, unnamed ID dirs, stale links. */
function leftovers(store: string): string[] {
  const out: string[] = [];
  for (const e of existsSync(join(store, 'tmp')) ? readdirSync(join(store, 'tmp')) : []) out.push(`tmp/${e}`);
  return out;
}

privileged('ensure unpacks once per chain, with short ids; get/list/lowerDirs; the store is 0700', async (t) => {
  const e = layerEnv(t);
  const store = join(e.d, 'store');
  const s = new LayerStore(store);
  const b = blobs();
  const count = { n: 0 };
  const l0 = await s.ensure({ chainId: b.chains[0]!, diffId: b.diffIds[0]!, open: opener(b.base, count) });
  const l1 = await s.ensure({ chainId: b.chains[1]!, parentChainId: b.chains[0]!, diffId: b.diffIds[1]!, open: opener(b.app, count) });
  const again = await s.ensure({ chainId: b.chains[0]!, diffId: b.diffIds[0]!, open: opener(b.base, count) });
  t.is(count.n, 2);
  t.deepEqual([l0.id, l1.id], ['1', '2']);
  t.true(l0.unpacked);
  t.false(again.unpacked);
  t.is(again.dir, join(store, 'layers', '1', 'fs'));
  t.is(readFileSync(join(l0.dir, 'etc/os-release'), 'utf8'), 'base\n');
  t.true(lstatSync(join(l1.dir, 'etc/os-release')).isCharacterDevice());
  t.is(s.get(b.chains[1]!)?.parentChainId, b.chains[0]);
  t.is(s.get(b.chains[1]!)?.size, b.app.length);
  t.deepEqual(s.list().map((l) => [l.id, l.chainId, l.diffId]), [['1', b.chains[0], b.diffIds[0]], ['2', b.chains[1], b.diffIds[1]]]);
  t.deepEqual(s.lowerDirs(b.chains), [l1.dir, l0.dir]);
  t.throws(() => s.lowerDirs([b.chains[0]!, sha256(Buffer.from('missing'))]), { instanceOf: NotFoundError });
  t.is(statSync(join(store, 'layers')).mode & 0o777, 0o700);
  t.is(statSync(join(store, 'tmp')).mode & 0o777, 0o700);
  t.deepEqual(leftovers(store), []);
  t.deepEqual(s.clean(), []);
});

privileged('a wrong diff_id is an error and nothing is kept; a hostile layer likewise', async (t) => {
  const e = layerEnv(t);
  const store = join(e.d, 'store');
  const s = new LayerStore(store);
  const b = blobs();
  const wrong = sha256(Buffer.from('something else'));
  const err = await t.throwsAsync(s.ensure({ chainId: wrong, diffId: wrong, open: () => Readable.from([b.base]) }), { instanceOf: PodnsError });
  t.is(err?.code, 'EDIFFID');
  t.regex(err?.message ?? '', /not the diff_id .* the image config lists/);
  const bad = tarBuffer([{ name: '../escape', data: 'x' }]);
  const err2 = await t.throwsAsync(s.ensure({ chainId: sha256(bad), diffId: sha256(bad), open: () => Readable.from([bad]) }), { instanceOf: PodnsError });
  t.is(err2?.code, 'ELAYER');
  t.deepEqual(s.list(), []);
  t.deepEqual(readdirSync(join(store, 'layers')).filter((n) => /^\d+$/.test(n)), []);
  t.deepEqual(leftovers(store), []);
  t.false(existsSync(join(e.d, 'escape')));
  // malformed digests never reach a path
  await t.throwsAsync(s.ensure({ chainId: 'sha256:../../x', diffId: b.diffIds[0]!, open: () => Readable.from([b.base]) }), { code: 'EBADDIGEST' });
});

privileged('concurrent ensure of one chain unpacks once: in one process, and in two processes (the chain\'s flock)', async (t) => {
  const e = layerEnv(t);
  const store = join(e.d, 'store');
  const b = blobs();
  const big = tarBuffer([{ name: 'data', data: Buffer.alloc(200 * 1024, 3) }]);
  const [diffId] = [sha256(big)];
  // in one process
  const count = { n: 0 };
  const s = new LayerStore(store);
  const rs = await Promise.all([1, 2, 3].map(() => s.ensure({ chainId: b.chains[0]!, diffId: b.diffIds[0]!, open: opener(b.base, count) })));
  t.is(count.n, 1);
  t.deepEqual(new Set(rs.map((r) => r.id)).size, 1);
  t.is(rs.filter((r) => r.unpacked).length, 1);
  // in two processes: each reads its blob slowly (50 pieces, 10 ms apart), so they overlap
  const blob = join(e.d, 'big.tar');
  writeFileSync(blob, big);
  const log = join(e.d, 'log');
  writeFileSync(log, '');
  const run = () => new Promise<{ id: string; unpacked: boolean }>((resolve, reject) => {
    const c = spawn(process.execPath, [CHILD, store, diffId, diffId, blob, log, '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { id: string; unpacked: boolean }) : reject(new Error(`child exited ${code}`))));
  });
  const both = await Promise.all([run(), run()]);
  t.is(readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('open')).length, 1, 'one unpack');
  t.is(both[0].id, both[1].id);
  t.deepEqual(both.map((r) => r.unpacked).sort(), [false, true]);
  t.is(statSync(join(store, 'layers', both[0].id, 'fs', 'data')).size, 200 * 1024);
});

privileged('kill -9 during an unpack leaves a work directory that cleanStoreTemp (gc) removes; the next ensure works', async (t) => {
  const e = layerEnv(t);
  const store = join(e.d, 'store');
  const big = tarBuffer([{ name: 'data', data: Buffer.alloc(100 * 1024, 5) }]);
  const diffId = sha256(big);
  const blob = join(e.d, 'big.tar');
  writeFileSync(blob, big);
  const log = join(e.d, 'log');
  writeFileSync(log, '');
  const c = spawn(process.execPath, [CHILD, store, diffId, diffId, blob, log, '10', 'stall'], { stdio: 'ignore' });
  for (let i = 0; i < 500 && !readFileSync(log, 'utf8').includes('stalled'); i++) await new Promise((r) => setTimeout(r, 20));
  t.true(readFileSync(log, 'utf8').includes('stalled'));
  const s = new LayerStore(store);
  t.deepEqual(cleanStoreTemp(store), [], 'a live unpack is left alone');
  c.kill('SIGKILL');
  await new Promise((r) => c.on('close', r));
  // its helper sees EOF on stdin and stops on its own (truncated layer)
  for (let i = 0; i < 100 && readdirSync('/proc').some((p) => /^\d+$/.test(p) && safeCmdline(p).includes(store)); i++) await new Promise((r) => setTimeout(r, 20));
  t.is(leftovers(store).length, 1);
  t.deepEqual(s.clean(), []);
  const removed = cleanStoreTemp(store);
  t.is(removed.length, 1);
  t.regex(removed[0]!, /removed leftover image work directory .*\/tmp\/layer-\d+-/);
  t.deepEqual(leftovers(store), []);
  t.is(s.get(diffId), undefined);
  const r = await s.ensure({ chainId: diffId, diffId, open: () => Readable.from([big]) });
  t.true(r.unpacked);
});

function safeCmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return '';
  }
}

privileged('clean() after kill -9 between the rename and the index link, or during a removal: unnamed ids and stale links go', async (t) => {
  const e = layerEnv(t);
  const store = join(e.d, 'store');
  const s = new LayerStore(store);
  const b = blobs();
  const l0 = await s.ensure({ chainId: b.chains[0]!, diffId: b.diffIds[0]!, open: () => Readable.from([b.base]) });
  // killed after the rename into layers/, before the symlink: a complete ID directory no link names
  mkdirSync(join(store, 'layers', '7', 'fs'), { recursive: true });
  writeFileSync(join(store, 'layers', '7', 'layer.json'), JSON.stringify({ chainId: b.chains[1], diffId: b.diffIds[1], size: 1, created: '' }));
  // a directory without layer.json: never a finished layer
  mkdirSync(join(store, 'layers', '8', 'fs'), { recursive: true });
  // an index link to a layer that is gone
  const ghost = sha256(Buffer.from('ghost')).replace(':', '-');
  symlinkSync('9', join(store, 'layers', 'chains', ghost));
  writeFileSync(join(store, 'layers', 'locks', ghost), '');
  const removed = s.clean();
  t.is(removed.length, 3);
  t.deepEqual(readdirSync(join(store, 'layers')).filter((n) => /^\d+$/.test(n)), [l0.id]);
  t.false(existsSync(join(store, 'layers', 'chains', ghost)));
  t.false(existsSync(join(store, 'layers', 'locks', ghost)));
  t.is(s.get(b.chains[0]!)?.id, l0.id);
  t.deepEqual(s.clean(), []);
  // the chain killed between rename and link unpacks again, into a fresh id
  const l1 = await s.ensure({ chainId: b.chains[1]!, diffId: b.diffIds[1]!, open: () => Readable.from([b.app]) });
  t.true(l1.unpacked);
});

privileged('remove() takes the layer, its index entry and its lock file; a second remove is false', async (t) => {
  const e = layerEnv(t);
  const store = join(e.d, 'store');
  const s = new LayerStore(store);
  const b = blobs();
  const l0 = await s.ensure({ chainId: b.chains[0]!, diffId: b.diffIds[0]!, open: () => Readable.from([b.base]) });
  const l1 = await s.ensure({ chainId: b.chains[1]!, diffId: b.diffIds[1]!, open: () => Readable.from([b.app]) });
  t.true(await s.remove(b.chains[1]!));
  t.false(await s.remove(b.chains[1]!));
  t.false(existsSync(join(store, 'layers', l1.id)));
  t.is(s.get(b.chains[1]!), undefined);
  t.deepEqual(s.list().map((l) => l.id), [l0.id]);
  t.deepEqual(readdirSync(join(store, 'layers', 'locks')), [b.chains[0]!.replace(':', '-')]);
  t.deepEqual(readdirSync(join(store, 'layers', 'chains')), [b.chains[0]!.replace(':', '-')]);
  t.deepEqual(leftovers(store), []);
});
