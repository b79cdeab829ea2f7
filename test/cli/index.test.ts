// The CLI loads a command group only when one of its commands runs; its index must match the groups.
import test from 'ava';
import { commandIndex, loadAllCommands } from '../../src/cli/main.js';

test('the command index names every command and alias, and nothing else', async (t) => {
  const all = await loadAllCommands();
  const names = all.flatMap((c) => [c.name, ...(c.aliases ?? [])]).sort();
  t.deepEqual(Object.keys(commandIndex).sort(), names);
});
