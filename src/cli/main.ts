// podns CLI entry: find the command, run it, turn any error into one line and a non-zero exit.
//
// Command groups are imported only when one of their commands runs: start-up time is part of every
// `podns create`, and loading every module of every command costs more than the whole pod does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { oneLine, PodnsError } from '../errors.js';
import { packageRoot } from '../native/index.js';
import { DEFAULT_ROOT } from '../state/paths.js';
import { DEFAULT_STORE } from '../state/store-root.js';
import { HelpRequested } from './args.js';
import type { Command } from './command.js';
import { stdout, stderr } from './output.js';

const groups = {
  pod: () => import('./commands/pod.js'),
  container: () => import('./commands/container.js'),
  image: () => import('./commands/image.js'),
  manifest: () => import('./commands/manifest.js'),
  views: () => import('./commands/views.js'),
  tour: () => import('./commands/tour.js'),
  cri: () => import('./commands/cri.js'),
};
type Group = keyof typeof groups;

/** Command (and alias) → the group that defines it. test/cli checks it against the groups' own lists. */
export const commandIndex: Record<string, Group> = {
  create: 'pod', get: 'pod', ls: 'pod', inspect: 'pod', delete: 'pod', rm: 'pod', gc: 'pod', repair: 'pod',
  run: 'container', exec: 'container', attach: 'container', logs: 'container', stop: 'container', ps: 'container',
  image: 'image', images: 'image',
  apply: 'manifest',
  ns: 'views', net: 'views', stats: 'views',
  tour: 'tour',
  cri: 'cri',
};

export async function loadAllCommands(): Promise<Command[]> {
  const mods = await Promise.all(Object.values(groups).map((load) => load()));
  return mods.flatMap((m) => m.commands);
}

async function find(name: string): Promise<Command | undefined> {
  if (!Object.hasOwn(commandIndex, name)) return undefined;
  const { commands } = await groups[commandIndex[name]!]();
  return commands.find((c) => c.name === name || c.aliases?.includes(name));
}

export async function helpText(): Promise<string> {
  const all = await loadAllCommands();
  const width = Math.max(...all.map((c) => c.name.length));
  const lines = all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'podns: Kubernetes-style pods from raw Linux namespaces',
    '',
    'Usage: podns COMMAND [OPTIONS]',
    '',
    'Commands:',
    ...lines,
    '',
    `Global options: --root DIR (or PODNS_ROOT; default ${DEFAULT_ROOT}), --store DIR (images; or PODNS_STORE;`,
    `  default ${DEFAULT_STORE}), -o json`,
    "Run 'podns COMMAND --help' for more.",
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? stderr : stdout).write(await helpText());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    stdout.write(`podns ${pkg.version}\n`);
    return 0;
  }
  const cmd = await find(name);
  if (!cmd) {
    stderr.write(`podns: unknown command "${name}"; run 'podns --help' for the list\n`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    stdout.write(cmd.usage.endsWith('\n') ? cmd.usage : cmd.usage + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof HelpRequested) {
      stdout.write(cmd.usage.endsWith('\n') ? cmd.usage : cmd.usage + '\n');
      return 0;
    }
    if (process.env.PODNS_DEBUG) stderr.write(`${(err as Error)?.stack ?? err}\n`);
    stderr.write(`podns ${cmd.name}: ${oneLine(err)}\n`);
    return err instanceof PodnsError && err.code === 'EUSAGE' ? 2 : 1;
  }
}
