// The CLI loads a command group only when one of its commands runs; its index must match the groups.
import test from 'ava';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandIndex, loadAllCommands } from '../../src/cli/main.js';
import { bin } from '../pod/env.js';

test('the command index names every command and alias, and nothing else', async (t) => {
  const all = await loadAllCommands();
  const names = all.flatMap((c) => [c.name, ...(c.aliases ?? [])]).sort();
  t.deepEqual(Object.keys(commandIndex).sort(), names);
});

// `podns cri serve --help` used to start the server: --help after a positional reached the command's own
// parse, which ignored it. Every command prints its usage for --help wherever it stands before `--`.
test('--help after a subcommand or positional prints the usage and runs nothing', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'podns-help-'));
  try {
    for (const argv of [['cri', 'serve', '--help'], ['cri', 'serve', '-h'], ['image', 'pull', 'x', '--help'], ['run', 'nopod', '--help']]) {
      const r = await execa('node', [bin, ...argv, '--root', root], { reject: false, timeout: 20_000, stdin: 'ignore', env: { NO_COLOR: '1' } });
      t.is(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
      t.regex(r.stdout, /^Usage/m, argv.join(' '));
    }
    t.deepEqual(readdirSync(root), [], 'nothing made in the state root');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
