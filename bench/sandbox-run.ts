// `npm run bench [-- ARGS]` → node dist/bench/sandbox-run.js [ARGS]
//
// The bench makes bridges, veths, namespaces and hundreds of pods: like the tests, it runs inside the
// sandbox of test/sandbox-run (podns-helper sandbox: its own network and mount namespaces, an empty
// /run, a fresh /sys), which also checks afterwards that nothing appeared in the root namespaces and
// that no process of the run is left.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const runner = path.join(here, '..', 'test', 'sandbox-run.js');
const bench = path.join(here, 'run.js');

if (process.getuid?.() !== 0) {
  process.stderr.write('bench: needs root (it makes namespaces, bridges and veths inside its sandbox): sudo npm run bench\n');
  process.exit(1);
}
if (!existsSync(runner)) {
  process.stderr.write(`bench: ${runner} is missing: run \`npm run build\` first\n`);
  process.exit(1);
}

const child = spawn(process.execPath, [runner, '--', process.execPath, bench, ...process.argv.slice(2)], { stdio: 'inherit' });
// ^C reaches everyone through the terminal's process group; the runner stays for its leak check.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('close', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
