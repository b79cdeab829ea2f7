// podns image load | save — image archives (src/image/archive).
import { isatty } from 'node:tty';
import { PodnsError } from '../../errors.js';
import { loadImages } from '../../image/archive/load.js';
import { saveImages } from '../../image/archive/save.js';
import { parsePlatform } from '../../image/registry/platform.js';
import { parseCommand } from '../args.js';
import { json, stdout } from '../output.js';

export const loadUsage = `  podns image load -i FILE|DIR|- [--platform os/arch[/variant]] [-q]
  podns image save NAME... -o FILE|-`;

export const loadHelp = `load reads what docker save, podman save and skopeo write: a docker save archive (the legacy
layout, or Docker 25's), a docker-archive, an OCI image layout as a directory or as a tar (oci-archive); a tar
may be gzip- or zstd-compressed; -i - reads standard input. Every image of the archive is loaded, under the
names the archive gives it ("Loaded image: NAME"; an image it does not name prints "Loaded image ID: ID").
save writes an OCI archive (oci-archive) of the images named, which skopeo and podman load read (with
docker save's manifest.json beside it); an imported root filesystem is saved as a one-layer image.`;

export async function loadCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ input?: string; platform?: string; quiet?: boolean }>('image load', argv, {
    input: { type: 'string', short: 'i' }, platform: { type: 'string' }, quiet: { type: 'boolean', short: 'q' },
  });
  if (p.positionals.length > 0) throw new PodnsError('EUSAGE', `podns image load: unexpected argument "${p.positionals[0]}"; give the archive with -i FILE (or -i - for standard input)`);
  const input = p.values.input;
  if (input === undefined || input === '') throw new PodnsError('EUSAGE', 'podns image load: give the archive with -i FILE, -i DIR (an OCI layout) or -i - (standard input)');
  if (input === '-' && isatty(0)) throw new PodnsError('EUSAGE', 'podns image load: -i - reads an archive from standard input, which is a terminal; pipe one in: podman save busybox | podns image load -i -');
  const loaded = await loadImages({
    store: p.globals.store, input,
    ...(p.values.platform !== undefined ? { platform: parsePlatform(p.values.platform) } : {}),
  });
  if (p.globals.output === 'json') stdout.write(json(loaded));
  else if (p.globals.output === 'name') for (const l of loaded) for (const n of l.names.length > 0 ? l.names : [l.id]) stdout.write(`${n}\n`);
  else if (p.values.quiet !== true) {
    for (const l of loaded) {
      if (l.names.length === 0) stdout.write(`Loaded image ID: ${l.id}\n`);
      for (const n of l.names) stdout.write(`Loaded image: ${n}\n`);
    }
  }
  return 0;
}

/**
 * `-o FILE` is save's archive, as in docker and podman save; everywhere else -o is the output format. So it is
 * taken out of the line here (the output format of save's own report can still be given as --output=json).
 */
function takeFile(argv: string[]): { file?: string; rest: string[] } {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') {
      if (i + 1 >= argv.length) throw new PodnsError('EUSAGE', 'podns image save: -o needs a file name, e.g. -o busybox.tar');
      file = argv[++i]!;
    } else if (a.startsWith('-o') && a.length > 2 && !a.startsWith('--')) file = a.slice(2);
    else rest.push(a);
  }
  return { ...(file !== undefined ? { file } : {}), rest };
}

export async function saveCmd(argv: string[]): Promise<number> {
  const { file, rest } = takeFile(argv);
  const p = parseCommand('image save', rest, {});
  if (p.positionals.length === 0) throw new PodnsError('EUSAGE', 'podns image save: name at least one image, e.g. podns image save busybox -o busybox.tar');
  const output = file ?? '-';
  if (output === '-' && isatty(1)) throw new PodnsError('EUSAGE', 'podns image save: refusing to write an archive to a terminal; give -o FILE or redirect standard output');
  const saved = await saveImages({ store: p.globals.store, refs: p.positionals, output });
  if (output !== '-' && p.globals.output === 'json') stdout.write(json(saved));
  return 0;
}
