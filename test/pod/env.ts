// Shared set-up for the pod tests. Every test file gets its own state root, netns dir, nft table and
// bridge/subnet (test files run in parallel in one sandbox), and helpers that read the kernel's truth.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, pausePath } from '../../src/native/index.js';

export const packageRoot = resolve(fileURLToPath(import.meta.url), '../../../..');
export const bin = join(packageRoot, 'bin', 'podns.js');

export interface CliResult {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

export interface TestEnv {
  root: string;
  /** the image store (PODNS_STORE) */
  store: string;
  netnsDir: string;
  nftTable: string;
  bridge: string;
  subnet: string;
  env: Record<string, string>;
  /** the CLI with this env; never rejects: check exitCode */
  cli(args: string[], extraEnv?: Record<string, string>): Promise<CliResult>;
  /** delete everything left, unmount the shared mounts, remove the dirs */
  cleanup(): Promise<void>;
}

/** tag: short unique word per test file (used in the bridge name, at most 10 chars); octet: 10.OCTET.0.0/24 */
export function makeEnv(tag: string, octet: number): TestEnv {
  const base = existsSync('/run') && process.env.PODNS_SANDBOX === '1' ? '/run' : '/tmp';
  const dir = mkdtempSync(join(base, `podns-test-${tag}-`));
  const root = join(dir, 'root');
  const netnsDir = join(dir, 'netns');
  const nftTable = `podns_t_${tag}`.replace(/-/g, '_');
  const bridge = `pt${tag}`.slice(0, 15);
  const subnet = `10.${octet}.0.0/24`;
  // npm/npx put node_modules/.bin first on PATH, and ava brings @vercel/nft, whose CLI is also called
  // `nft`: the podns CLI is run with the PATH a user has, without node_modules/.bin.
  const PATH = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((d) => !d.includes('node_modules')).join(':');
  // the image store of this test file: inside the sandbox, next to its state root
  const store = join(dir, 'store');
  const env = { PODNS_ROOT: root, PODNS_STORE: store, PODNS_NETNS_DIR: netnsDir, PODNS_NFT_TABLE: nftTable, PATH };
  // the library reads these too
  Object.assign(process.env, env);
  const t: TestEnv = {
    root, store, netnsDir, nftTable, bridge, subnet, env,
    cli: async (args, extraEnv = {}) => {
      const r = await execa('node', [bin, ...args], { env: { ...env, ...extraEnv }, reject: false, stdin: 'ignore' });
      return { exitCode: r.exitCode, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    },
    async cleanup() {
      const ls = await t.cli(['get', '-o', 'name']);
      const names = ls.stdout.split('\n').filter(Boolean).map((l) => l.replace(/^pod\//, ''));
      if (names.length > 0) await t.cli(['delete', '--force', '--grace', '0', ...names]);
      await t.cli(['gc']);
      for (const m of [join(root, 'pods'), netnsDir]) {
        try {
          native.umount(m, native.MNT_DETACH);
        } catch {
          // not mounted
        }
      }
      await execa('ip', ['link', 'del', bridge], { reject: false });
      await execa('/usr/sbin/nft', ['delete', 'table', 'ip', nftTable], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Interface names in a netns pin (`ip -n` takes only names under /run/netns, so nsenter --net=PIN ip). */
export async function linksIn(pin: string): Promise<string[]> {
  const r = await execa('nsenter', [`--net=${pin}`, 'ip', '-o', 'link', 'show']);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!).sort();
}

/** IPv4 addresses (A.B.C.D/N) on an interface in a netns pin. */
export async function addrsIn(pin: string, ifname: string): Promise<string[]> {
  const r = await execa('nsenter', [`--net=${pin}`, 'ip', '-o', '-4', 'addr', 'show', 'dev', ifname], { reject: false });
  if (r.exitCode !== 0) return [];
  return [...r.stdout.matchAll(/inet (\S+)/g)].map((m) => m[1]!);
}

export function nsIno(pid: number, type: string): number {
  return statSync(`/proc/${pid}/ns/${type}`).ino;
}

export function pinIno(path: string): number {
  return native.nsIdOfPath(path).ino;
}

/** Mount points at or under a directory (pins show up here). */
export function mountsUnder(dir: string): string[] {
  const real = realpathSync(dir);
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined && m.startsWith(real + '/'));
}

/** Host veths attached to a bridge (/sys/class/net/BR/brif). */
export function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`).sort();
  } catch {
    return [];
  }
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Live processes running our pause binary with this root in their environment. */
export function pausesOf(root: string): number[] {
  const ours = realpathSync(pausePath);
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/exe`).replace(/ \(deleted\)$/, '') !== ours) continue;
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${e}/environ`, 'latin1').split('\0').includes(`PODNS_ROOT=${root}`)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** IP files allocated in a network of the root. */
export function ipFiles(root: string, network: string): string[] {
  try {
    return readdirSync(join(root, 'networks', network, 'ips')).filter((f) => !f.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** The nft ruleset of our table, as text ('' when the table does not exist). */
export async function nftRules(table: string): Promise<string> {
  const r = await execa('/usr/sbin/nft', ['list', 'table', 'ip', table], { reject: false });
  return r.exitCode === 0 ? r.stdout : '';
}

export async function waitFor(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
