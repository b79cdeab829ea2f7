// Applies one image layer to an empty directory: the blob as stored (gzip, zstd or a plain tar, told apart
// by its first bytes, not by a media type) is decompressed here, hashed (the sha256 of the uncompressed
// stream is the layer's DiffID, which the image config lists), and piped into `podns-helper apply-layer`,
// which writes each entry inside the directory and refuses hostile ones (native/helper/layer_apply.c).
// Everything streams: no layer is ever held in memory. zstd: zlib's own decompressor where this Node has
// one (22.15+), else the `zstd` program (Debian: zstd).
//
// The caller owns the directory: on a failure it holds a half layer, and the caller removes it (the
// layer store unpacks into STORE/tmp and renames only what succeeded).
// child_process and zlib are loaded on first use: the CLI's start-up time is a budget (see util/run.ts).
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { isErrno, oneLine, PodnsError } from '../../errors.js';
import { applyLayerArgv, parseApplyLayerResult, parseHelperError } from '../../native/helper.js';
import { executable, helperPath } from '../../native/index.js';
import { digester } from '../digest.js';

const require = createRequire(import.meta.url);

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** Magic numbers (RFC 1952; RFC 8878): anything else is taken for a plain tar, which the helper checks. */
const MAGIC: Array<{ magic: readonly number[]; kind: LayerCompression }> = [
  { magic: [0x1f, 0x8b], kind: 'gzip' },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], kind: 'zstd' },
];
const MAGIC_LEN = 4;

/** The compression of a blob from its first bytes. */
export function detectCompression(head: Uint8Array): LayerCompression {
  return MAGIC.find((m) => head.length >= m.magic.length && m.magic.every((b, i) => head[i] === b))?.kind ?? 'none';
}

export interface ApplyLayerOptions {
  /** the blob as stored */
  input: Readable;
  /** an empty directory: the layer's root */
  dir: string;
  /** aborting kills the helper (and a zstd process) and rejects with ECANCELED */
  signal?: AbortSignal;
  /** lower the helper's limits (bytes of the uncompressed stream, entries); they cannot be raised */
  maxBytes?: number;
  maxEntries?: number;
}

export interface AppliedLayer {
  /** "sha256:…" of the uncompressed stream */
  diffId: string;
  /** bytes of the uncompressed stream */
  size: number;
  entries: number;
  compression: LayerCompression;
  /** ".wh..wh..opq" at the layer's root: it hides every layer below it (see LayerStore.lowerDirs) */
  opaqueRoot: boolean;
}

/** Chunks of `input` with its first MAGIC_LEN bytes read ahead: the head, then the rest. */
export async function peek(input: Readable): Promise<{ head: Buffer; rest: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const parts: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < MAGIC_LEN) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    parts.push(b);
    len += b.length;
  }
  const head = Buffer.concat(parts);
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
  }
  return { head, rest: Readable.from(all(), { objectMode: false }) };
}

export interface Decompressor {
  out: Readable;
  /** resolves once the decompressor is done; rejects (PodnsError) when the blob could not be decompressed */
  done: Promise<void>;
  kill(): void;
}

const CHUNK = 256 * 1024;

function zlibStream(kind: 'gzip' | 'zstd', source: Readable): Decompressor {
  const zlib = require('node:zlib') as typeof import('node:zlib') & { createZstdDecompress?: (o?: object) => import('node:stream').Transform };
  const z = kind === 'gzip' ? zlib.createGunzip({ chunkSize: CHUNK }) : zlib.createZstdDecompress!({ chunkSize: CHUNK });
  const done = new Promise<void>((resolve, reject) => {
    source.on('error', (e) => z.destroy(e));
    z.on('error', (e) => reject(new PodnsError('ELAYER', `the layer is not valid ${kind} data: ${oneLine(e)}; the blob is damaged`)));
    z.on('end', resolve);
    z.on('close', () => resolve()); // after an error, reject came first
  });
  source.pipe(z);
  done.catch(() => {});
  return { out: z, done, kill: () => { source.destroy(); z.destroy(); } };
}

function zstdProgram(source: Readable): Decompressor {
  const cp = require('node:child_process') as typeof import('node:child_process');
  const child = cp.spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  child.stdin!.on('error', () => {}); // EPIPE when zstd stops early: its status says why
  source.on('error', () => child.kill('SIGKILL'));
  source.pipe(child.stdin!);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new PodnsError('ELAYER', `the layer is zstd-compressed and zstd cannot run: ${oneLine(e)} (apt-get install zstd)`)));
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else {
        const why = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? `exit status ${code ?? sig}`;
        reject(new PodnsError('ELAYER', `the layer is not valid zstd data: ${why}; the blob is damaged`));
      }
    });
  });
  done.catch(() => {});
  return { out: child.stdout!, done, kill: () => { source.destroy(); child.kill('SIGKILL'); } };
}

export function decompressor(kind: LayerCompression, source: Readable): Decompressor {
  if (kind === 'none') {
    const done = new Promise<void>((resolve, reject) => {
      source.on('end', resolve);
      source.on('error', reject);
      source.on('close', () => resolve()); // destroyed: after an error, reject came first
    });
    done.catch(() => {});
    return { out: source, done, kill: () => source.destroy() };
  }
  if (kind === 'gzip' || typeof (require('node:zlib') as Record<string, unknown>).createZstdDecompress === 'function') return zlibStream(kind, source);
  return zstdProgram(source);
}

/** The error of a helper line: refusals (step "layer"/"usage") as ELAYER, kernel errors keep their errno name. */
function helperFailure(line: string, stderr: string, code: number | null, sig: string | null): PodnsError {
  const e = parseHelperError(line);
  if (e === undefined) {
    const why = (line.trim() || stderr.trim()).split('\n')[0] || `exit status ${code ?? sig}`;
    return new PodnsError('ELAYER', `podns-helper apply-layer failed: ${why}`);
  }
  if (e.step === 'layer') return new PodnsError('ELAYER', `layer refused: ${e.message}`);
  if (e.step === 'usage') return new PodnsError('ELAYER', `podns-helper apply-layer: ${e.message}`);
  return new PodnsError(e.code, `cannot write the layer: ${e.step}: ${e.message}`);
}

export async function applyLayer(o: ApplyLayerOptions): Promise<AppliedLayer> {
  const cancelled = () => new PodnsError('ECANCELED', 'unpacking the layer was cancelled', { cause: o.signal?.reason });
  if (o.signal?.aborted) throw cancelled();
  const cp = require('node:child_process') as typeof import('node:child_process');
  const { head, rest } = await peek(o.input);
  const compression = detectCompression(head);

  const helper = cp.spawn(executable(helperPath), applyLayerArgv({ dir: o.dir, maxBytes: o.maxBytes, maxEntries: o.maxEntries }),
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  helper.stdout!.setEncoding('utf8').on('data', (d: string) => { if (out.length < 8192) out += d; });
  helper.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 8192) stderr += d; });
  helper.stdin!.on('error', () => {}); // EPIPE when the helper stops early: its line says why
  let helperGone = false;
  let spawnError: Error | undefined;
  const closed = new Promise<{ code: number | null; sig: string | null }>((resolve) => {
    helper.on('error', (e) => { spawnError = e; helperGone = true; resolve({ code: null, sig: null }); });
    helper.on('close', (code, sig) => { helperGone = true; resolve({ code, sig }); });
  });

  const dz = decompressor(compression, rest);
  const onAbort = () => {
    helper.kill('SIGKILL');
    o.input.destroy();
    dz.kill();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const hash = digester('sha256');
  let size = 0;
  let failure: unknown;
  try {
    for await (const chunk of dz.out as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      if (helperGone) break;
      if (!helper.stdin!.write(chunk)) await Promise.race([once(helper.stdin!, 'drain').catch(() => {}), closed]);
    }
    if (!helperGone) await dz.done;
    helper.stdin!.end();
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined || helperGone) {
    // stop reading the blob: the input first, so that nothing waits on it
    o.input.destroy();
    dz.kill();
  }
  if (failure !== undefined) helper.kill('SIGKILL');
  const { code, sig } = await closed;
  await dz.done.catch((e: unknown) => { failure ??= e; });
  o.signal?.removeEventListener('abort', onAbort);
  o.input.destroy();

  if (o.signal?.aborted) throw cancelled();
  if (spawnError !== undefined) throw new PodnsError('ENATIVE', `cannot run podns-helper: ${oneLine(spawnError)}`);
  const ok = code === 0 ? parseApplyLayerResult(out) : undefined;
  // A refusal stops the helper first; then what it said is the cause, not the broken pipe behind it.
  if (ok === undefined && parseHelperError(out) !== undefined) throw helperFailure(out, stderr, code, sig);
  if (failure !== undefined) {
    if (failure instanceof PodnsError) throw failure;
    if (isErrno(failure, 'Z_DATA_ERROR', 'Z_BUF_ERROR', 'ERR_STREAM_PREMATURE_CLOSE')) throw new PodnsError('ELAYER', `the layer is not valid ${compression} data: ${oneLine(failure)}; the blob is damaged`);
    throw new PodnsError('ELAYER', `cannot read the layer: ${oneLine(failure)}`, { cause: failure });
  }
  if (ok === undefined) throw helperFailure(out, stderr, code, sig);
  if (ok.bytes !== size) throw new PodnsError('ELAYER', `podns-helper read ${ok.bytes} bytes of the layer, ${size} were sent`);
  return { diffId: hash.digest(), size, entries: ok.entries, compression, opaqueRoot: ok.opaqueRoot };
}
