// `podns tour`: the pause-container lesson, run live on this kernel, inside a throwaway sandbox.
//
// Two processes. The outer one (what the user started) re-executes the CLI through
// `podns-helper sandbox`, which gives it a network and mount namespace of its own, a tmpfs on /run and a
// fresh /sys; the inner one (`tour --in-sandbox`) refuses to run anywhere else and does the work, with a
// state root made under that /run. Bridges, veths, nft rules, pins and the fake outside host all live in
// the sandbox's namespaces and end with them. Processes are another matter: pauses and container
// watchers detach, and the sandbox has no pid namespace of its own to end them, so the inner process
// deletes every pod it made before it exits — on success, on a failed claim, and on SIGINT/SIGTERM/SIGHUP.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { oneLine, PodnsError } from '../errors.js';
import { HELPER_ARGV0, sandboxArgv } from '../native/helper.js';
import { executable, helperPath, packageRoot } from '../native/index.js';
import { listPodNames } from '../pod/store.js';
import { paint, type Writer } from '../cli/output.js';
import { childColourEnv, enter, Tour, TourFailure } from './runner.js';
import { checkTools, OUTSIDE_IP, OUTSIDE_NS } from './stage.js';
import { cleanup, leftovers, prepare, step1, step2, step3, step4, step5, type StepContext } from './steps.js';
import { textFor, type Lang } from './text.js';

export { textFor, LANGS, type Lang } from './text.js';

export interface TourOptions {
  lang?: Lang;
  /** keep the pods until Enter at the end, with directions to look at them from another terminal */
  keep?: boolean;
  /** wait for Enter between steps */
  step?: boolean;
  out?: Writer;
}

export const binPath = join(packageRoot, 'bin', 'podns.js');

function tourArgs(o: TourOptions): string[] {
  return ['--lang', o.lang ?? 'en', ...(o.keep ? ['--keep'] : []), ...(o.step ? ['--step'] : [])];
}

/** Starts the sandbox and the tour inside it; resolves to the tour's exit status. */
export async function runTour(o: TourOptions = {}): Promise<number> {
  textFor(o.lang); // a bad language is a usage error before anything starts
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new PodnsError('EPERM', 'podns tour needs root: it makes namespaces, a bridge and pods (all inside its own sandbox); run it with sudo');
  }
  checkTools();
  const helper = executable(helperPath);
  const child = spawn(helper, sandboxArgv([process.execPath, binPath, 'tour', '--in-sandbox', ...tourArgs(o)]), {
    stdio: 'inherit',
    env: { ...process.env, [HOST_NS_ENV]: hostNsToken() },
    argv0: HELPER_ARGV0,
  });
  // Ctrl-C reaches the whole foreground group: the tour inside cleans up and exits; we wait for it.
  const ignore = (): void => undefined;
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, ignore);
  const forward = (s: NodeJS.Signals) => (): void => { child.kill(s); };
  const fwd = { SIGTERM: forward('SIGTERM'), SIGHUP: forward('SIGHUP') };
  process.on('SIGTERM', fwd.SIGTERM);
  process.on('SIGHUP', fwd.SIGHUP);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    for (const s of sigs) process.off(s, ignore);
    process.off('SIGTERM', fwd.SIGTERM);
    process.off('SIGHUP', fwd.SIGHUP);
  }
}

const HOST_NS_ENV = 'PODNS_TOUR_HOST_NS';

function nsIno(pid: number | 'self', type: string): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/${type}`).ino;
  } catch {
    return undefined; // /proc/1/ns may be out of reach (EACCES) from inside a sandbox
  }
}

/** "net:INO,mnt:INO" of the namespaces the outer tour process runs in. */
function hostNsToken(): string {
  return `net:${nsIno('self', 'net')},mnt:${nsIno('self', 'mnt')}`;
}

/**
 * True when we are neither in the namespaces the outer `podns tour` ran in (it says which in the
 * environment) nor, when /proc lets us see them, in pid 1's.
 */
function inSandbox(): boolean {
  const token = process.env[HOST_NS_ENV];
  if (token === undefined) return false;
  const outer = Object.fromEntries(token.split(',').map((kv) => kv.split(':') as [string, string]));
  for (const t of ['net', 'mnt']) {
    const mine = nsIno('self', t);
    if (mine === undefined || String(mine) === outer[t] || mine === nsIno(1, t)) return false;
  }
  return true;
}

/** The tour itself; only inside the sandbox runTour made. Returns the exit status. */
export async function runInSandbox(o: TourOptions = {}): Promise<number> {
  const out = o.out ?? process.stdout;
  const t = textFor(o.lang);
  if (!inSandbox()) {
    throw new PodnsError('ENOSANDBOX', "podns tour --in-sandbox runs only inside the tour's sandbox (its own network and mount namespace); run 'podns tour'");
  }
  checkTools();
  // /run is the sandbox's own tmpfs; a fresh directory in it keeps even that clean
  const base = mkdtempSync('/run/podns-tour-');
  // the state root, and beside it (never inside: image import refuses that) the images' sources and the manifest
  const root = join(base, 'state');
  const netnsDir = join(base, 'netns');
  const work = join(base, 'work');
  mkdirSync(root, { mode: 0o700 });
  mkdirSync(work, { mode: 0o700 });
  // PATH without node_modules/.bin: under npx it comes first and holds an unrelated `nft` (@vercel/nft)
  const PATH = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((d) => !d.includes('node_modules')).join(':');
  // its own image store too: the tour leaves nothing in /var/lib/podns
  const store = join(base, 'store');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH, PODNS_ROOT: root, PODNS_STORE: store, PODNS_NETNS_DIR: netnsDir, ...childColourEnv(out) };
  for (const k of ['PODNS_FAULT', 'PODNS_NFT_TABLE', HOST_NS_ENV]) delete env[k];
  // the views and checks that run in this process look at the same state
  process.env.PODNS_ROOT = root;
  process.env.PODNS_STORE = store;
  process.env.PODNS_NETNS_DIR = netnsDir;
  const tour = new Tour(t, { out, podns: [process.execPath, binPath], env, cwd: work, step: o.step === true }, { outside: OUTSIDE_IP });
  const ctx: StepContext = { root, work };

  let stopping = false;
  let finished = false;
  const quietCleanup = async (): Promise<void> => {
    await tour.stopBackground();
    for (const pod of listPodNames(root).reverse()) {
      const r = await tour.podnsQuiet(['delete', '--force', '--grace', '1', pod]);
      if (r.code !== 0) out.write(`podns tour: could not delete pod ${pod}: ${oneLine(r.stderr.trim())}\n`);
    }
    await tour.exec('ip', ['netns', 'delete', OUTSIDE_NS]).catch(() => undefined);
  };
  const onSignal = (sig: NodeJS.Signals) => (): void => {
    if (stopping || finished) return;
    stopping = true;
    tour.mute();
    out.write(`\n${paint(t.ui.stopped, 'yellow', out)}\n`);
    void quietCleanup().finally(() => process.exit(128 + constants.signals[sig]));
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);

  try {
    tour.title(t.title);
    tour.say(t.intro);
    await prepare(tour, ctx);
    const steps = [step1, step2, step3, step4, step5];
    for (let i = 0; i < steps.length; i++) {
      await tour.waitEnter();
      tour.heading(`${t.ui.step(i + 1, steps.length)} · ${t.steps[i]!.title}`);
      await steps[i]!(tour, ctx);
    }
    if (o.keep) {
      tour.heading('--keep');
      out.write(t.ui.keep({ pid: process.pid, root, netnsDir, podns: `node ${binPath}` }) + '\n');
      await enter(t.ui.pressEnter, out);
    } else {
      await tour.waitEnter();
    }
    await cleanup(tour, ctx, listPodNames(root));
    finished = true;
    out.write(`\n${paint(t.ui.passed(tour.claims), 'green', out)}\n`);
    return 0;
  } catch (err) {
    if (stopping) return new Promise<number>(() => undefined); // the signal handler exits
    finished = true;
    if (err instanceof TourFailure) {
      out.write(`\n${paint('✗', 'red', out)} ${paint(t.ui.failed(err.claim), 'red', out)}${err.detail ? `\n  ${err.detail}` : ''}\n`);
    } else {
      out.write(`\n${paint('✗', 'red', out)} ${oneLine(err)}\n`);
      if (process.env.PODNS_DEBUG) out.write(`${(err as Error)?.stack ?? err}\n`);
    }
    await quietCleanup();
    const left = leftovers(root);
    if (left.length > 0) out.write(`podns tour: still running after clean-up: ${left.join(', ')}\n`);
    return 1;
  } finally {
    // The state root is left in place: it holds shared mount points, and it lives on the sandbox's own
    // /run tmpfs, which goes away with the sandbox's mount namespace when the tour exits.
    for (const [s, h] of handlers) process.off(s, h);
  }
}
