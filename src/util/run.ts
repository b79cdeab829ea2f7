// Runs a program with an argv array (never a shell) and collects its output. node:child_process only:
// the CLI's start-up time is a budget (node + 15 ms), and a process library costs more than that to load.
// Even node:child_process itself (with the stream machinery it pulls in) costs ~6 ms to load in a fresh
// process, so it is loaded on the first run: a `podns create` on an existing network runs no program.
// (require, not import(): the CLI bundle runs in a vm.Script, which has no dynamic-import hook.)
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface RunResult {
  stdout: string;
  stderr: string;
  /** exit status, or null when killed by a signal */
  code: number | null;
}

/** Rejects only when the program cannot be started (err.code ENOENT, EACCES, ...); a non-zero exit resolves. */
export function run(path: string, args: string[], input?: string): Promise<RunResult> {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    if (input !== undefined) {
      // EPIPE when the program dies early: its exit status and stderr say why, not this
      child.stdin!.on('error', () => {});
      child.stdin!.end(input);
    }
  });
}
