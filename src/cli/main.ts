// podns CLI entry: find the command, run it, turn any error into one line and a non-zero exit.
import { oneLine, PodnsError } from '../errors.js';
import type { Command } from './command.js';
import { commands as podCommands } from './commands/pod.js';
import { commands as containerCommands } from './commands/container.js';
import { commands as imageCommands } from './commands/image.js';
import { commands as manifestCommands } from './commands/manifest.js';
import { commands as viewCommands } from './commands/views.js';
import { commands as tourCommands } from './commands/tour.js';

export const allCommands: Command[] = [...podCommands, ...containerCommands, ...imageCommands, ...manifestCommands, ...viewCommands, ...tourCommands];

function find(name: string): Command | undefined {
  return allCommands.find((c) => c.name === name || c.aliases?.includes(name));
}

export function helpText(): string {
  const width = Math.max(...allCommands.map((c) => c.name.length));
  const lines = allCommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'podns: Kubernetes-style pods from raw Linux namespaces',
    '',
    'Usage: podns COMMAND [OPTIONS]',
    '',
    'Commands:',
    ...lines,
    '',
    'Global options: --root DIR (or PODNS_ROOT; default /run/podns), -o json',
    "Run 'podns COMMAND --help' for more.",
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`podns ${pkg.version}\n`);
    return 0;
  }
  const cmd = find(name);
  if (!cmd) {
    process.stderr.write(`podns: unknown command "${name}"; run 'podns --help' for the list\n`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    process.stdout.write(cmd.usage.endsWith('\n') ? cmd.usage : cmd.usage + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (process.env.PODNS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    process.stderr.write(`podns ${cmd.name}: ${oneLine(err)}\n`);
    return err instanceof PodnsError && err.code === 'EUSAGE' ? 2 : 1;
  }
}
