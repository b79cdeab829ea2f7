// The tour's stagehand: prints a command the way a user would type it, runs it for real (the podns CLI is
// spawned, so what is shown is exactly what `podns` prints), shows its output, and checks claims.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { paint, useColor, visibleWidth, type Writer } from '../cli/output.js';
import type { F, TourText } from './text.js';
import { wrap } from './wrap.js';

/** A claim that did not hold: the tour stops and exits 1, naming it. */
export class TourFailure extends Error {
  constructor(readonly claim: string, readonly detail: string) {
    super(`${claim}${detail ? ` (${detail})` : ''}`);
    this.name = 'TourFailure';
  }
}

export interface CmdResult { code: number; stdout: string; stderr: string }

export interface TourIo {
  out: Writer;
  /** argv that runs the podns CLI: [node, bin/podns.js] */
  podns: string[];
  env: NodeJS.ProcessEnv;
  /** working directory of every command (the manifest and rootfs dirs are relative to it) */
  cwd: string;
  /** wait for Enter between steps */
  step: boolean;
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** argv as a shell user would type it (single quotes where needed); display only, never executed. */
export function shellWords(argv: string[]): string {
  return argv.map((a) => (SAFE.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const COMMAND_TIMEOUT_MS = 120_000;

export class Tour {
  readonly facts: F;
  claims = 0;
  private readonly bg = new Set<ChildProcess>();

  constructor(readonly t: TourText, readonly io: TourIo, facts: F) {
    this.facts = facts;
  }

  private muted = false;

  /** After Ctrl-C the clean-up speaks; the step still in flight must not print over it. */
  mute(): void {
    this.muted = true;
  }

  private w(s: string): void {
    if (!this.muted) this.io.out.write(s);
  }

  private width(): number {
    const cols = (this.io.out as { columns?: number }).columns;
    return Math.min(cols && cols > 40 ? cols : 80, 100);
  }

  title(text: string): void {
    this.w(`\n${paint(text, 'bold', this.io.out)}\n\n`);
  }

  heading(text: string): void {
    const line = `── ${text} `;
    this.w(`\n${paint(line + '─'.repeat(Math.max(3, this.width() - visibleWidth(line))), 'cyan', this.io.out)}\n\n`);
  }

  say(text: string): void {
    this.w(`\n${wrap(text, this.width())}\n`);
  }

  /** Shows "$ argv" (the prompt line) without running anything: for what the tour does in-process. */
  prompt(argv: string[], suffix = ''): void {
    this.w(`${paint('$', 'dim', this.io.out)} ${paint(shellWords(argv) + suffix, 'bold', this.io.out)}\n`);
  }

  show(r: CmdResult): void {
    if (r.stdout) this.w(r.stdout.endsWith('\n') ? r.stdout : r.stdout + '\n');
    if (r.stderr) this.w(r.stderr.endsWith('\n') ? r.stderr : r.stderr + '\n');
  }

  /** Runs a program to the end, capturing its output (nothing is printed). */
  exec(file: string, args: string[]): Promise<CmdResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { cwd: this.io.cwd, env: this.io.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
      child.once('error', (err) => { clearTimeout(timer); reject(err); });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
      });
    });
  }

  /** `podns ARGS`, captured. */
  podnsQuiet(args: string[]): Promise<CmdResult> {
    return this.exec(this.io.podns[0]!, [...this.io.podns.slice(1), ...args]);
  }

  /**
   * "$ podns ARGS", then its real output. A non-zero exit is a failed claim unless allowed: the tour only
   * shows commands that are meant to work.
   */
  async podns(args: string[], o: { allowFail?: boolean } = {}): Promise<CmdResult> {
    this.prompt(['podns', ...args]);
    const r = await this.podnsQuiet(args);
    this.show(r);
    if (r.code !== 0 && !o.allowFail) throw new TourFailure(`podns ${shellWords(args)}`, `exit status ${r.code}: ${firstLine(r.stderr || r.stdout)}`);
    return r;
  }

  /** "$ argv" for another program (ip), run and shown the same way. */
  async run(argv: string[]): Promise<CmdResult> {
    this.prompt(argv);
    const r = await this.exec(argv[0]!, argv.slice(1));
    this.show(r);
    if (r.code !== 0) throw new TourFailure(shellWords(argv), `exit status ${r.code}: ${firstLine(r.stderr || r.stdout)}`);
    return r;
  }

  /** `podns ARGS &`: started, not awaited; stopped by stopBackground. */
  background(args: string[]): ChildProcess {
    this.prompt(['podns', ...args], ' &');
    const child = spawn(this.io.podns[0]!, [...this.io.podns.slice(1), ...args], {
      cwd: this.io.cwd, env: this.io.env, stdio: ['ignore', 'ignore', 'ignore'],
    });
    this.bg.add(child);
    child.once('exit', () => this.bg.delete(child));
    return child;
  }

  async stopBackground(): Promise<void> {
    await Promise.all([...this.bg].map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      // podns exec passes SIGTERM on to the command it runs in the container
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
    })));
  }

  /** A claim: printed with ✓ when it holds, else the tour stops here. */
  check(claim: string, ok: boolean, detail = ''): void {
    if (!ok) throw new TourFailure(claim, detail);
    this.claims++;
    this.w(`${paint('✓', 'green', this.io.out)} ${claim}\n`);
  }

  async waitEnter(): Promise<void> {
    if (!this.io.step) return;
    await enter(this.t.ui.pressEnter, this.io.out);
  }
}

/** Prints the prompt and resolves on Enter (or at the end of stdin). */
export function enter(promptText: string, out: Writer): Promise<void> {
  out.write(`\n${paint(promptText, 'dim', out)}`);
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, terminal: false });
    const done = (): void => {
      rl.close();
      out.write('\n');
      resolve();
    };
    rl.once('line', done);
    rl.once('close', () => resolve());
  });
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** FORCE_COLOR for the commands the tour runs when its own output is coloured (their stdout is a pipe). */
export function childColourEnv(out: Writer): Record<string, string> {
  return useColor(out) ? { FORCE_COLOR: '1' } : {};
}
