// Argument parsing for every command, over node:util parseArgs (no dependency needed).
// Global options (--root, --store, -o) are accepted anywhere on the line, as kubectl accepts them.
// Everything after `--` is kept verbatim as the command to run (arguments stay an array: no shell).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PodnsError } from '../errors.js';
import { resolveRoot } from '../state/paths.js';
import { resolveStore } from '../state/store-root.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface GlobalOptions {
  root: string;
  /** the image store (--store, PODNS_STORE, /var/lib/podns) */
  store: string;
  output: 'table' | 'json' | 'wide' | 'name';
}

export interface Parsed<V> {
  values: V;
  positionals: string[];
  /** what came after `--`, or [] */
  rest: string[];
  /** true when the line had a `--` */
  dashdash: boolean;
  globals: GlobalOptions;
}

/** Thrown by parseCommand when the line asks for --help anywhere before `--`; main.ts prints the usage. */
export class HelpRequested extends Error {
  constructor() { super('help requested'); }
}

const globalSpec: OptionSpec = {
  root: { type: 'string' },
  store: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
};


export function parseCommand<V = Record<string, string | boolean | string[] | undefined>>(
  command: string, argv: string[], options: OptionSpec, opts: { stopAtFirstPositional?: number } = {},
): Parsed<V> {
  let head = argv;
  let rest: string[] = [];
  let dashdash = false;
  const dd = argv.indexOf('--');
  if (dd >= 0) {
    head = argv.slice(0, dd);
    rest = argv.slice(dd + 1);
    dashdash = true;
  } else if (opts.stopAtFirstPositional !== undefined) {
    // `podns exec -it POD -c client bash`: after N positionals, the rest is the command.
    const spec = { ...globalSpec, ...options };
    let seen = 0;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a.startsWith('-') && a !== '-') {
        const name = a.replace(/^--?/, '').split('=')[0]!;
        const def = Object.entries(spec).find(([k, v]) => (a.startsWith('--') ? k === name : v.short === name.slice(-1)));
        if (def && def[1].type === 'string' && !a.includes('=') && (a.startsWith('--') || name.length === 1)) i++;
        continue;
      }
      seen++;
      if (seen > opts.stopAtFirstPositional) {
        head = argv.slice(0, i);
        rest = argv.slice(i);
        break;
      }
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: head, options: { ...globalSpec, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new PodnsError('EUSAGE', `${msg}; see 'podns ${command} --help'`);
  }
  const v = parsed.values as Record<string, unknown>;
  // `podns cri serve --help` (help after a subcommand or a positional) must print the usage, never run:
  // main.ts catches this and prints the command's usage.
  if (v.help === true) throw new HelpRequested();
  const out = v.output as string | undefined;
  if (out !== undefined && !['table', 'json', 'wide', 'name'].includes(out)) {
    throw new PodnsError('EUSAGE', `unknown output format "${out}"; use -o json (or table, wide, name)`);
  }
  return {
    values: parsed.values as V,
    positionals: parsed.positionals,
    rest,
    dashdash,
    globals: { root: resolveRoot(v.root as string | undefined), store: resolveStore(v.store as string | undefined), output: (out ?? 'table') as GlobalOptions['output'] },
  };
}

/** KEY=VALUE list → record; bad entries are a one-line usage error. */
export function parseKeyValues(list: string[] | undefined, what: string, command: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new PodnsError('EUSAGE', `bad ${what} "${item}"; write it as KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
