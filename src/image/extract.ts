// Extracts a root filesystem tarball into a fresh directory: the archive is read once, decompressed here,
// checked header by header by TarGate, and only the checked bytes reach `tar -x` on its stdin. Reading it
// once matters: a file checked and then handed to tar by name could be swapped in between.
//
// GNU tar's own defences stay on behind the gate: no -P (so no absolute names, no ".." members, escaping
// symlinks made as placeholders until the end), no --keep-directory-symlink, no --overwrite.
// child_process and zlib are loaded on first use: the CLI's start-up time is a budget (see util/run.ts).
import { once } from 'node:events';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { oneLine, PodnsError } from '../errors.js';
import { TarGate } from './tar-gate.js';

const require = createRequire(import.meta.url);
const TAR = '/usr/bin/tar';

/** Compressions GNU tar would have detected, by magic number: the program that undoes each (or zlib). */
const COMPRESSORS: Array<{ magic: number[]; program: string; pkg: string }> = [
  { magic: [0x1f, 0x8b], program: 'gzip', pkg: 'gzip' },
  { magic: [0x42, 0x5a, 0x68], program: 'bzip2', pkg: 'bzip2' },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], program: 'xz', pkg: 'xz-utils' },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], program: 'zstd', pkg: 'zstd' },
];

/** tar's arguments: extract stdin into dest, numeric owners (the container's uids, not the host's names). */
export function tarExtractArgs(dest: string): string[] {
  // Owners can only be kept by root; an unprivileged import gets the files as its own (like `tar` does).
  const owner = process.getuid?.() === 0 ? '--same-owner' : '--no-same-owner';
  return ['-x', '-f', '-', '-C', dest, '--numeric-owner', '--same-permissions', owner];
}

function failure(file: string, why: string): PodnsError {
  return new PodnsError('EIMPORT', `cannot extract "${file}": ${why}`);
}

export async function extractTar(file: string, dest: string): Promise<void> {
  const cp = require('node:child_process') as typeof import('node:child_process');
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(6);
  let comp: (typeof COMPRESSORS)[number] | undefined;
  try {
    const got = readSync(fd, head, 0, 6, 0);
    comp = COMPRESSORS.find((c) => got >= c.magic.length && c.magic.every((b, i) => head[i] === b));
  } catch (err) {
    closeSync(fd);
    throw err;
  }

  const children: Array<import('node:child_process').ChildProcess> = [];
  let source: Readable;
  /** the decompressor's exit status, when one runs */
  let unpacked: Promise<number | null> | undefined;
  if (comp === undefined || comp.program === 'gzip') {
    const raw = createReadStream('', { fd, start: 0 }); // the stream owns (and closes) fd
    source = raw;
    if (comp) {
      const gunzip = (require('node:zlib') as typeof import('node:zlib')).createGunzip();
      raw.on('error', (e) => gunzip.destroy(e));
      gunzip.on('close', () => raw.destroy());
      source = raw.pipe(gunzip);
    }
  } else {
    // The decompressor reads the file from our descriptor (at offset 0: only pread was used on it).
    const dz = cp.spawn(comp.program, ['-d', '-c'], { stdio: [fd, 'pipe', 'ignore'] });
    closeSync(fd);
    const program = comp.program;
    const pkg = comp.pkg;
    await new Promise<void>((resolve, reject) => {
      dz.on('spawn', resolve);
      dz.on('error', (e) => reject(failure(file, `it is ${program}-compressed and ${program} cannot run: ${oneLine(e)} (apt-get install ${pkg})`)));
    });
    children.push(dz);
    unpacked = new Promise((resolve) => dz.on('exit', (code) => resolve(code)));
    source = dz.stdout!;
  }

  const tar = cp.spawn(TAR, tarExtractArgs(dest), { stdio: ['pipe', 'ignore', 'pipe'] });
  children.push(tar);
  let stderr = '';
  let spawnError: Error | undefined;
  let tarClosed = false;
  tar.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const closed = new Promise<number | null>((resolve) => {
    tar.on('error', (e) => { spawnError = e; resolve(-1); });
    tar.on('close', (code) => { tarClosed = true; resolve(code); });
  });
  // EPIPE when tar dies early: its exit status and stderr say why, not this.
  tar.stdin!.on('error', () => {});
  const send = async (bufs: Buffer[]): Promise<boolean> => {
    for (const b of bufs) {
      if (tarClosed || spawnError) return false;
      if (!tar.stdin!.write(b)) await Promise.race([once(tar.stdin!, 'drain').catch(() => {}), closed]);
    }
    return true;
  };

  const gate = new TarGate();
  let refusal: PodnsError | undefined;
  try {
    for await (const chunk of source) {
      if (!(await send(gate.push(chunk as Buffer))) || gate.done) break;
    }
    // A damaged compressed file ends the stream early, perhaps between two entries: that is no end of archive.
    if (!gate.done && unpacked && (await unpacked) !== 0) {
      throw new PodnsError('EIMPORT', `${comp!.program} could not decompress all of it; is it damaged or truncated?`);
    }
    // When tar stopped early, its own message says why (below), not the gate's view of the rest.
    if (!tarClosed) await send(gate.end());
    tar.stdin!.end();
  } catch (err) {
    refusal = err instanceof PodnsError ? failure(file, err.message) : failure(file, `cannot read it: ${oneLine(err)}`);
    tar.kill('SIGKILL');
  } finally {
    // Stops the decompressor too (SIGPIPE), when the gate stopped reading before its end.
    source.destroy();
  }
  const code = await closed;
  for (const c of children) if (c !== tar && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'close')));
  if (spawnError) throw failure(file, `cannot run ${TAR}: ${oneLine(spawnError)} (apt-get install tar)`);
  if (refusal !== undefined) throw refusal;
  if (code !== 0) {
    const lines = stderr.split('\n').map((l) => l.replace(/^(\S*\/)?tar: /, '').trim())
      .filter((l) => l !== '' && !/^Exiting with failure status/.test(l));
    throw failure(file, `${lines[0] ?? `tar exited with status ${code}`}; give a root filesystem tarball (such as 'docker export' writes) or a directory`);
  }
}
