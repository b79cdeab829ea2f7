// nftables through the `nft` program: one `nft -f -` run per change, the batch on stdin. A batch is one
// kernel transaction, so a change is applied whole or not at all.
//
// Everything podns adds lives in one table (`ip podns`), in chains named after what owns them
// (net-NAME-*, pod-NAME-*): each owner's chains are its own base chains, so adding them is idempotent
// (`add chain` + `flush chain` + `add rule`), removing them needs no rule handles, and after a crash the
// chain names alone say what belongs to whom.
import { existsSync } from 'node:fs';
import { PodnsError } from '../errors.js';
import { run, type RunResult } from '../util/run.js';

// An absolute path, never a PATH lookup: under `npm run`/`npx`, node_modules/.bin comes first in PATH,
// and @vercel/nft (a dev dependency's dependency) installs a `nft` there that exits 0 on our batches.
const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft', '/usr/bin/nft'];
let nftPath: string | undefined;

/** The nftables `nft` program; a one-line error naming the package when it is missing. */
export function nftBinary(): string {
  nftPath ??= NFT_PATHS.find((p) => existsSync(p));
  if (nftPath === undefined) {
    throw new PodnsError('ENONFT', 'nft not found (looked in /usr/sbin, /sbin, /usr/local/sbin, /usr/bin): podns needs nftables for NAT and published ports; install it (apt-get install nftables)');
  }
  return nftPath;
}

/** The table podns owns; PODNS_NFT_TABLE lets tests that share one sandbox netns keep apart. */
export function nftTable(): string {
  const t = process.env.PODNS_NFT_TABLE ?? 'podns';
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(t)) throw new PodnsError('EINVALIDNFTTABLE', `invalid PODNS_NFT_TABLE "${t.slice(0, 40)}": use lowercase letters, digits, '_' and '-'`);
  return t;
}

export type NftResult = RunResult;

async function runNft(args: string[], input?: string): Promise<NftResult> {
  try {
    return await run(nftBinary(), args, input ?? '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PodnsError('ENONFT', 'nft not found: podns needs nftables for NAT and published ports; install it (apt-get install nftables)', { cause: err });
    }
    throw err;
  }
}

/** The line of nft's stderr that says what went wrong. */
function nftReason(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => l.includes('Error:')) ?? lines[0] ?? 'no message').replace(/^\/dev\/stdin:[\d:-]+:\s*/, '');
}

export class NftError extends PodnsError {
  readonly stderr: string;
  readonly batch: string;
  constructor(reason: string, stderr: string, batch: string) {
    super('ENFT', `nft failed: ${reason}`);
    this.name = 'NftError';
    this.stderr = stderr;
    this.batch = batch;
  }
  /** the kernel said ENOENT: a table or chain it was told to change is not there */
  get missing(): boolean { return /No such file or directory/.test(this.stderr); }
}

/** Applies a batch (`nft -f -`), all or nothing. */
export async function nftApply(batch: string): Promise<void> {
  const r = await runNft(['-f', '-'], batch);
  if (r.code !== 0) throw new NftError(nftReason(r.stderr), r.stderr, batch);
}

export interface NftChain { name: string; hook?: string }

/** Chains of our table (`nft -j list table`); [] when the table does not exist. */
export async function nftListChains(): Promise<NftChain[]> {
  const table = nftTable();
  const r = await runNft(['-j', 'list', 'table', 'ip', table]);
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return [];
    throw new NftError(nftReason(r.stderr), r.stderr, `list table ip ${table}`);
  }
  const parsed = JSON.parse(r.stdout) as { nftables?: Array<{ chain?: { name: string; table: string; hook?: string } }> };
  const out: NftChain[] = [];
  for (const item of parsed.nftables ?? []) {
    if (item.chain && item.chain.table === table) out.push({ name: item.chain.name, ...(item.chain.hook ? { hook: item.chain.hook } : {}) });
  }
  return out;
}

/** nft's quoted string (comments, interface names): the names reaching here are validated, this is belt and braces. */
export function quote(s: string): string {
  if (!/^[A-Za-z0-9_.:/ @+-]*$/.test(s)) throw new TypeError(`refusing to put ${JSON.stringify(s)} in an nft batch`);
  return `"${s}"`;
}

export interface BaseChain { name: string; type: 'nat' | 'filter'; hook: 'prerouting' | 'output' | 'postrouting'; priority: string }

/** `add chain` for a base chain: creates it, or leaves an identical one alone. */
export function addChain(c: BaseChain): string {
  return `add chain ip ${nftTable()} ${c.name} { type ${c.type} hook ${c.hook} priority ${c.priority}; policy accept; }`;
}

/**
 * Lines that (re)write an owner's chains: each is created if missing and emptied, then gets `rules`.
 * Applying the same batch twice gives the same result, so a retry after a crash is safe.
 */
export function replaceChains(chains: Array<{ chain: BaseChain; rules: string[] }>): string {
  const t = nftTable();
  const lines = [`add table ip ${t}`];
  for (const { chain, rules } of chains) {
    lines.push(addChain(chain), `flush chain ip ${t} ${chain.name}`);
    for (const r of rules) lines.push(`add rule ip ${t} ${chain.name} ${r}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Lines that delete chains whether or not they exist (nft 1.0.6 has no `destroy`): `add` makes a
 * missing one, then `delete` takes it, rules and all, in the same transaction.
 */
export function deleteChains(chains: BaseChain[]): string {
  const t = nftTable();
  const lines = [`add table ip ${t}`];
  for (const c of chains) lines.push(addChain(c), `delete chain ip ${t} ${c.name}`);
  return lines.join('\n') + '\n';
}

/** Strict delete: fails (ENOENT) when any of the chains is missing. */
export function deleteChainsStrict(chains: BaseChain[]): string {
  const t = nftTable();
  return chains.map((c) => `delete chain ip ${t} ${c.name}`).join('\n') + '\n';
}
