// Shared pieces of the privileged network tests: namespace holders, workloads run inside them, a fake
// outside host, and per-file isolation (state root, nft table) so files can run in parallel in the one
// test sandbox. Every helper registers its own cleanup with t.teardown.
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helperPath, native } from '../../src/native/index.js';
import { NetlinkHandle } from '../../src/network/netlink/handle.js';
import { nftBinary } from '../../src/network/nft.js';

export interface Holder {
  pid: number;
  nsPath: string;
  /** an fd of its netns; closed at teardown */
  fd: number;
  stop(): void;
}

/** A process alone in a new network namespace (a pod's or the outside host's). */
export function holder(t: ExecutionContext): Holder {
  const pid = native.spawn({ path: '/bin/sleep', argv: ['sleep', '100000'], cloneFlags: native.CLONE_NEWNET });
  const nsPath = `/proc/${pid}/ns/net`;
  const fd = openSync(nsPath, 'r');
  let alive = true;
  const stop = () => {
    if (!alive) return;
    alive = false;
    closeSync(fd);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already; still reap
    }
    native.waitpid(pid);
  };
  t.teardown(stop);
  return { pid, nsPath, fd, stop };
}

/** Runs argv inside the holder's netns (podns-helper exec, else nsenter). */
export function runIn(h: Holder, argv: string[]): ChildProcess {
  const cmd = existsSync(helperPath)
    ? [helperPath, 'exec', '--ns', `net=${h.nsPath}`, '--', ...argv]
    : ['nsenter', `--net=${h.nsPath}`, '--', ...argv];
  return spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
}

// A TCP server that answers every connection with "<who I am> <the address I saw>\n".
const SERVER = `
const net = require('node:net');
const [host, port, name] = process.argv.slice(1);
const s = net.createServer((c) => { c.end(name + ' ' + c.remoteAddress.replace(/^::ffff:/, '') + '\\n'); });
s.listen(Number(port), host, () => process.stdout.write('ready\\n'));
// gone with the test process: stdin is a pipe from it (through podns-helper exec, which only relays)
process.stdin.on('end', () => process.exit(0)).resume();
`;

const CLIENT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const c = net.connect({ host, port: Number(port) });
let out = '';
c.setTimeout(5000, () => { process.stderr.write('timeout\\n'); process.exit(2); });
c.on('data', (d) => { out += d; });
c.on('end', () => { process.stdout.write(out); process.exit(0); });
c.on('error', (e) => { process.stderr.write(e.code + '\\n'); process.exit(1); });
`;

/** Starts the echo server in the holder's netns; resolves once it listens. Killed at teardown. */
export async function serveIn(t: ExecutionContext, h: Holder, host: string, port: number, name: string): Promise<void> {
  const child = runIn(h, [process.execPath, '-e', SERVER, host, String(port), name]);
  const closed = new Promise((resolve) => child.on('close', resolve));
  t.teardown(async () => {
    // not SIGKILL: that would kill podns-helper only and orphan the server, which keeps the netns alive
    child.stdin!.end();
    child.kill('SIGTERM');
    await closed;
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d; });
    child.stdout!.on('data', (d: Buffer) => { if (String(d).includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

/** Connects from inside the holder's netns (or from here without one); resolves with the server's line. */
export async function connectFrom(h: Holder | undefined, host: string, port: number): Promise<string> {
  const argv = [process.execPath, '-e', CLIENT, host, String(port)];
  const child = h ? runIn(h, argv) : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end();
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`client to ${host}:${port} failed (${code}): ${err.trim()}`);
  return out.trim();
}

/** Own state root and own nft table for this test file (set before the network code runs). */
export function isolate(tag: string): { root: string; table: string } {
  const base = process.env.PODNS_SANDBOX === '1' && existsSync('/run') ? '/run' : tmpdir();
  const root = mkdtempSync(join(base, `podns-test-${tag}-`));
  const table = `podns_t_${tag}`;
  process.env.PODNS_NFT_TABLE = table;
  return { root, table };
}

/** The sandbox's ruleset as text. */
export function nftRuleset(): string {
  return spawnSync(nftBinary(), ['list', 'ruleset'], { encoding: 'utf8' }).stdout;
}

export function dropIsolation(root: string, table: string): void {
  spawnSync(nftBinary(), ['delete', 'table', 'ip', table], { encoding: 'utf8' });
  rmSync(root, { recursive: true, force: true });
}

export interface Outside {
  holder: Holder;
  /** our side's address (what the outside sees after masquerade) */
  uplinkIp: string;
  outsideIp: string;
}

/**
 * The fake "internet": a netns holding OUTSIDE/24, joined to the sandbox netns by a veth whose sandbox
 * end has UPLINK/24. The outside has no route to any pod subnet: only NAT gets answers back to a pod.
 */
export function outsideHost(t: ExecutionContext, uplinkName: string, prefix = '198.51.100'): Outside {
  const h = holder(t);
  const here = NetlinkHandle.open();
  const there = NetlinkHandle.open(h.fd);
  t.teardown(() => {
    here.linkDel(uplinkName);
    here.close();
    there.close();
  });
  const uplinkIp = `${prefix}.1`;
  const outsideIp = `${prefix}.2`;
  const echo = here.linkAddVeth({ name: uplinkName, peerName: 'eth0', peerNetnsFd: h.fd, up: true });
  here.addrAdd(uplinkName, `${uplinkIp}/24`);
  there.linkSetUp(1);
  const eth0 = echo?.link ?? there.linkIndex('eth0');
  there.addrAdd(eth0, `${outsideIp}/24`);
  there.linkSetUp(eth0);
  return { holder: h, uplinkIp, outsideIp };
}

export function sysfsCounter(ifname: string, counter: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/statistics/${counter}`, 'utf8'));
}
