// podns image import | ls | rm | inspect — the local image store (src/image).
import { existsSync } from 'node:fs';
import { oneLine, PodnsError } from '../../errors.js';
import { importImage, inspectImage, listImages, type ImageConfig } from '../../image/index.js';
import { removeImageAndContent } from '../../image/gc.js';
import { parseCommand, parseKeyValues } from '../args.js';
import type { Command } from '../command.js';
import { json, table, stdout, stderr } from '../output.js';
import { pullDisplay } from '../pull-progress.js';
import { pullImage } from '../../image/pull.js';
import { pruneImages, storeUsage } from '../../image/usage.js';
import { humanAgo, humanSize, shortId } from '../format.js';
import { loadCmd, loadHelp, loadUsage, saveCmd } from './image-archive.js';

const usage = `Usage:
  podns image pull REF [--platform OS/ARCH[/VARIANT]] [--insecure-registry HOST]... [--authfile FILE] [-q] [-o json]
  podns image import NAME FILE.tar|DIR [--cmd JSON] [--entrypoint JSON] [--env K=V]... [--workdir DIR]
  podns image ls [-o json|name|wide]
  podns image rm NAME... [--force]
  podns image inspect NAME
  podns image du [-o json]
  podns image prune [--all]
${loadUsage}

Images live in the image store (--store DIR, PODNS_STORE, default /var/lib/podns).
pull fetches an image from its registry (OCI distribution API) and unpacks its layers once each:
  REF                  nginx (= docker.io/library/nginx:latest), host:port/name:tag, name@sha256:...
  --platform P         the platform to pick from a multi-platform image (default: this host's)
  --insecure-registry HOST   allow plain HTTP / unverified TLS to HOST[:PORT] (repeatable; also
                       PODNS_INSECURE_REGISTRIES=HOST,HOST; loopback registries may always use HTTP)
  --authfile FILE      credentials from FILE instead of REGISTRY_AUTH_FILE / auth.json / ~/.docker/config.json
  -q, --quiet          print only the digest
On a terminal each layer has a progress bar; on a pipe, one line per step. The last line is the digest.
import takes a tarball of a root filesystem, such as 'docker export' writes (plain, .gz, .xz, .bz2, .zst),
or a directory, and records default settings the way 'docker import --change' does:
  --cmd JSON         default arguments, a JSON array:   --cmd '["httpd","-f","-p","80"]'
  --entrypoint JSON  default program, a JSON array:     --entrypoint '["/bin/sh","-c"]'
  --env K=V          default environment (repeatable)
  --workdir DIR      default working directory
NAME is a reference as Docker writes it: nginx (= nginx:latest), nginx:1.25, hwchiu/netutils,
localhost:5000/team/app:v2. Importing onto an existing name moves the name to the new image.
rm refuses to remove an image a container uses; --force removes the name and keeps the image until
no container uses it. du shows the store's disk usage per part (each file once); prune removes the
images no name points at and no container uses (--all: every image no container uses) and the work
directories of dead processes.
${loadHelp}

Example:
  docker export $(docker create nginx) > nginx.tar
  podns image import nginx nginx.tar --cmd '["nginx","-g","daemon off;"]'
`;

function jsonArray(flag: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new PodnsError('EUSAGE', `podns image import: --${flag} must be a JSON array of strings, e.g. --${flag} '["httpd","-f"]' (got ${JSON.stringify(text)})`);
  }
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
    throw new PodnsError('EUSAGE', `podns image import: --${flag} must be a JSON array of strings, e.g. --${flag} '["httpd","-f"]'`);
  }
  return v as string[];
}

async function importCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ cmd?: string; entrypoint?: string; env?: string[]; workdir?: string }>(
    'image import', argv, {
      cmd: { type: 'string' }, entrypoint: { type: 'string' }, env: { type: 'string', multiple: true, short: 'e' },
      workdir: { type: 'string', short: 'w' },
    });
  if (p.positionals.length !== 2) {
    throw new PodnsError('EUSAGE', 'podns image import: give a NAME and a FILE.tar or DIR, e.g. podns image import nginx rootfs.tar');
  }
  const [name, source] = p.positionals as [string, string];
  // `docker import` takes FILE first; catch that order before it becomes "no such file".
  if (!existsSync(source) && existsSync(name)) {
    throw new PodnsError('EUSAGE', `podns image import: "${source}" does not exist; the name comes first: podns image import ${source} ${name}`);
  }
  const config: ImageConfig = {};
  const entrypoint = jsonArray('entrypoint', p.values.entrypoint);
  const cmd = jsonArray('cmd', p.values.cmd);
  if (entrypoint) config.entrypoint = entrypoint;
  if (cmd) config.cmd = cmd;
  if (p.values.env) config.env = parseKeyValues(p.values.env, 'environment variable', 'image import');
  if (p.values.workdir !== undefined) config.workingDir = p.values.workdir;
  const rec = await importImage({ root: p.globals.root, store: p.globals.store, name, source, config });
  if (p.globals.output === 'json') stdout.write(json(rec));
  else if (p.globals.output === 'name') stdout.write(`${rec.ref}\n`);
  else stdout.write(`imported ${rec.ref} (${humanSize(rec.size)})\n`);
  return 0;
}

async function pullCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ platform?: string; 'insecure-registry'?: string[]; authfile?: string; quiet?: boolean }>('image pull', argv, {
    platform: { type: 'string' }, 'insecure-registry': { type: 'string', multiple: true }, authfile: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  if (p.positionals.length !== 1) {
    throw new PodnsError('EUSAGE', `podns image pull: give one image reference, e.g. podns image pull nginx:1.25${p.positionals.length > 1 ? ` (got ${p.positionals.length})` : ''}`);
  }
  const asJson = p.globals.output === 'json';
  const quiet = p.values.quiet === true;
  const display = pullDisplay(stdout, !asJson && !quiet);
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const r = await pullImage({
      ref: p.positionals[0]!, store: p.globals.store,
      ...(p.values.platform !== undefined ? { platform: p.values.platform } : {}),
      ...(p.values['insecure-registry'] !== undefined ? { insecure: p.values['insecure-registry'] } : {}),
      ...(p.values.authfile !== undefined ? { authFile: p.values.authfile } : {}),
      ...(display.onProgress !== undefined ? { onProgress: display.onProgress } : {}),
      onWarning: (line) => stderr.write(`podns image pull: warning: ${line}\n`),
      signal: ac.signal,
    });
    display.finish();
    if (asJson) stdout.write(json(r));
    else if (quiet) stdout.write(`${r.digest}\n`);
    else stdout.write(`Pulled ${r.ref} (${humanSize(r.record.size)}, ${r.record.platform ?? 'unknown platform'})\nDigest: ${r.digest}\n`);
    return 0;
  } finally {
    display.finish();
    process.off('SIGINT', onSigint);
  }
}

async function lsCmd(argv: string[]): Promise<number> {
  const p = parseCommand('image ls', argv, {});
  if (p.positionals.length > 0) {
    throw new PodnsError('EUSAGE', `podns image ls: unexpected argument "${p.positionals[0]}"; it lists every image`);
  }
  const images = listImages({ store: p.globals.store });
  if (p.globals.output === 'json') {
    stdout.write(json(images));
  } else if (p.globals.output === 'name') {
    for (const i of images) stdout.write(`${i.ref}\n`);
  } else {
    const wide = p.globals.output === 'wide';
    const headers = ['REPOSITORY', 'TAG', 'DIGEST', 'SIZE', 'CREATED', ...(wide ? ['ID', 'PLATFORM', 'COMMAND', 'SOURCE'] : [])];
    const rows = images.map((i) => [
      i.repository, i.tag, wide ? i.digest : shortId(i.digest), humanSize(i.size), humanAgo(i.created),
      ...(wide ? [i.id, i.platform ?? '', JSON.stringify([...(i.config.entrypoint ?? []), ...(i.config.cmd ?? [])]), i.source ?? ''] : []),
    ]);
    stdout.write(table(headers, rows));
  }
  return 0;
}

async function rmCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ force?: boolean }>('image rm', argv, { force: { type: 'boolean', short: 'f' } });
  if (p.positionals.length === 0) throw new PodnsError('EUSAGE', 'podns image rm: name at least one image, e.g. podns image rm nginx');
  let code = 0;
  for (const n of p.positionals) {
    try {
      const r = await removeImageAndContent({ root: p.globals.root, store: p.globals.store, name: n, force: p.values.force });
      if (r.deleted) stdout.write(`Deleted: ${r.ref}${r.layers.length > 0 || r.blobs.length > 0 ? ` (${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}, ${r.blobs.length} blob${r.blobs.length === 1 ? '' : 's'} no other image uses)` : ''}\n`);
      else stdout.write(`Untagged: ${r.ref}${r.kept !== undefined ? ` (the image ${shortId(r.id)} stays while ${r.kept})` : ''}\n`);
    } catch (err) {
      stderr.write(`podns image rm: ${oneLine(err)}\n`);
      code = 1;
    }
  }
  return code;
}

async function inspectCmd(argv: string[]): Promise<number> {
  const p = parseCommand('image inspect', argv, {});
  if (p.positionals.length === 0) throw new PodnsError('EUSAGE', 'podns image inspect: name an image, e.g. podns image inspect nginx');
  stdout.write(json(p.positionals.map((n) => inspectImage({ store: p.globals.store, name: n }))));
  return 0;
}

async function duCmd(argv: string[]): Promise<number> {
  const p = parseCommand('image du', argv, {});
  if (p.positionals.length > 0) throw new PodnsError('EUSAGE', `podns image du: unexpected argument "${p.positionals[0]}"`);
  const u = storeUsage({ store: p.globals.store });
  if (p.globals.output === 'json') {
    stdout.write(json(u));
    return 0;
  }
  const rows = u.parts.map((x) => [x.part, humanSize(x.bytes), String(x.entries)]);
  rows.push(['total', humanSize(u.total), `${u.images} images`]);
  stdout.write(table(['PART', 'SIZE', 'ENTRIES'], rows));
  return 0;
}

async function pruneCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ all?: boolean }>('image prune', argv, { all: { type: 'boolean', short: 'a' } });
  if (p.positionals.length > 0) throw new PodnsError('EUSAGE', `podns image prune: unexpected argument "${p.positionals[0]}"`);
  const r = await pruneImages({ root: p.globals.root, store: p.globals.store, all: p.values.all === true });
  if (p.globals.output === 'json') {
    stdout.write(json(r));
    return 0;
  }
  for (const id of r.images) stdout.write(`Deleted: ${id}\n`);
  for (const d of r.blobs) stdout.write(`Deleted blob: ${d}\n`);
  for (const c of r.layers) stdout.write(`Deleted layer: ${c}\n`);
  for (const f of r.ingest) stdout.write(`Deleted partial download: ${f}\n`);
  for (const l of r.temp) stdout.write(`${l}\n`);
  return 0;
}

const subcommands: Record<string, (argv: string[]) => Promise<number>> = {
  pull: pullCmd, import: importCmd, ls: lsCmd, list: lsCmd, rm: rmCmd, remove: rmCmd, inspect: inspectCmd, du: duCmd, prune: pruneCmd,
  load: loadCmd, save: saveCmd,
};

export const commands: Command[] = [
  {
    name: 'image',
    aliases: ['images'],
    summary: 'pull, import, list and remove images',
    usage,
    async run(argv) {
      const [sub, ...rest] = argv;
      // `podns images` is `podns image ls`, as with docker.
      if (sub === undefined || sub.startsWith('-')) return lsCmd(argv);
      const fn = subcommands[sub];
      if (!fn) throw new PodnsError('EUSAGE', `podns image: unknown subcommand "${sub}"; use pull, import, ls, rm, inspect, du, prune, load or save`);
      if (rest[0] === '--help' || rest[0] === '-h') {
        stdout.write(usage);
        return 0;
      }
      return fn(rest);
    },
  },
];
