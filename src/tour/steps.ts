// The five steps of the lesson, each: commands as typed, their real output, claims checked against that
// output and against the kernel (/proc, netlink), then the paragraph that explains what was seen.
import { closeSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listWatchers } from '../container/watchers.js';
import { NetlinkHandle } from '../network/netlink/handle.js';
import { processAlive, scanPauses } from '../pod/proc.js';
import { readPod } from '../pod/store.js';
import { netView } from '../views/net.js';
import { nsView } from '../views/ns.js';
import { NS_TYPES, nsSetOf } from '../views/proc.js';
import { parseTable, stripAnsi, type TableRow } from './parse.js';
import { shellWords, TourFailure, type CmdResult, type Tour } from './runner.js';
import {
  MANIFEST, makeRootfs, NETUTILS_CMD, NGINX_CMD, OUTSIDE_IP, OUTSIDE_NS, outsideCommands, PAGE_MARK,
} from './stage.js';

export interface StepContext {
  root: string;
  /** where the rootfs directories and the manifest are written (the commands' working directory) */
  work: string;
}

// ---------- reading back what the CLI printed ----------

interface NetOut { ino: number | null; rows: TableRow[] }

function parseNet(text: string): NetOut {
  const m = /network namespace net:\[(\d+)\]/.exec(stripAnsi(text));
  return { ino: m ? Number(m[1]) : null, rows: parseTable(text, ['INDEX', 'NAME', 'TX PACKETS'], (r) => /^\d+$/.test(r.INDEX ?? '')) };
}

function eth0(n: NetOut): TableRow | undefined {
  return n.rows.find((r) => r.NAME === 'eth0');
}

function ipv4Of(row: TableRow | undefined): string | undefined {
  return row?.ADDRESSES?.split(',').find((a) => /^\d+\.\d+\.\d+\.\d+\//.test(a))?.split('/')[0];
}

interface NsCellOut { ino: number; own: boolean }
interface NsRowOut { container: string; pid: number | null; ns: Record<string, NsCellOut | undefined> }

function parseNs(text: string): NsRowOut[] {
  const rows = parseTable(text, ['CONTAINER', 'PID', 'COMMAND', 'net', 'mnt'], (r) => /^(\d+|-)$/.test(r.PID ?? ''));
  return rows.map((r) => {
    const ns: Record<string, NsCellOut | undefined> = {};
    for (const t of NS_TYPES) {
      const c = r[t] ?? '-';
      const m = /^(\d+)(\*?)$/.exec(c);
      ns[t] = m ? { ino: Number(m[1]), own: m[2] === '*' } : undefined;
    }
    return { container: r.CONTAINER ?? '', pid: /^\d+$/.test(r.PID ?? '') ? Number(r.PID) : null, ns };
  });
}

function getRow(text: string, pod: string): TableRow | undefined {
  return parseTable(text, ['NAME', 'STATUS', 'IP'], () => true).find((r) => r.NAME === pod);
}

function txOf(n: NetOut): number {
  return Number(eth0(n)?.['TX PACKETS'] ?? NaN);
}

/** eth0's TX packets as the kernel counts them now, read over netlink inside the pod's namespace. */
function txNow(root: string, pod: string): number {
  const v = netView(root, readPod({ root, name: pod }));
  const e = v.interfaces.find((i) => i.name === 'eth0');
  if (!e?.stats) throw new TourFailure(`eth0 of ${pod}`, 'no counters');
  return e.stats.txPackets;
}

/** readlink /proc/PID/ns/TYPE → inode (the form `ls -l /proc/PID/ns` shows), independent of the views' stat. */
function readlinkIno(pid: number, type: string): number | undefined {
  try {
    const m = /^\w+:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/${type}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for a condition the next command depends on (a server listening, a process gone); no timing claims. */
async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new TourFailure(what, `not reached within ${ms / 1000} s`);
    await sleep(20);
  }
}

/** A TCP socket listening on port in the network namespace of pid (/proc/PID/net/tcp* shows that namespace). */
function listening(pid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['tcp', 'tcp6']) {
    try {
      for (const line of readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') return true;
      }
    } catch {
      // gone or no IPv6
    }
  }
  return false;
}

// ---------- the steps ----------

export async function prepare(tour: Tour, ctx: StepContext): Promise<void> {
  const { t, facts: f } = tour;
  tour.heading(t.prepare.title);
  makeRootfs(join(ctx.work, 'netutils-rootfs'));
  makeRootfs(join(ctx.work, 'nginx-rootfs'), { www: true });
  await tour.podns(['image', 'import', 'hwchiu/netutils', './netutils-rootfs', '--cmd', JSON.stringify(NETUTILS_CMD)]);
  await tour.podns(['image', 'import', 'nginx', './nginx-rootfs', '--cmd', JSON.stringify(NGINX_CMD)]);
  const ls = await tour.podns(['image', 'ls']);
  const images = parseTable(ls.stdout, ['REPOSITORY', 'TAG']).map((r) => `${r.REPOSITORY}:${r.TAG}`);
  tour.check(t.claims.imagesImported(f), images.includes('hwchiu/netutils:latest') && images.includes('nginx:latest'), images.join(', '));

  for (const argv of outsideCommands()) await tour.run(argv);
  // the fake host, read back over netlink from inside its own namespace
  const fd = openSync(`/run/netns/${OUTSIDE_NS}`, 'r');
  let ok = false;
  try {
    const h = NetlinkHandle.open(fd);
    try {
      const link = h.linkList().find((l) => l.name === 'eth0');
      ok = link !== undefined && link.up && h.addrList().some((a) => a.index === link.index && a.address === OUTSIDE_IP);
    } finally {
      h.close();
    }
  } finally {
    closeSync(fd);
  }
  tour.check(t.claims.outsideUp(f), ok);
  tour.say(t.prepare.body(f));
}

export async function step1(tour: Tour, ctx: StepContext): Promise<void> {
  const { t, facts: f } = tour;
  await tour.podns(['create', 'hwchiu']);
  await tour.podns(['run', 'hwchiu', '--name', 'netutils', '--image', 'hwchiu/netutils']);
  await tour.podns(['create', 'hwchiu2', '--network', 'pod:hwchiu']);
  await tour.podns(['run', 'hwchiu2', '--name', 'netutils', '--image', 'hwchiu/netutils']);
  const get = await tour.podns(['get']);
  const s1 = getRow(get.stdout, 'hwchiu')?.STATUS;
  const s2 = getRow(get.stdout, 'hwchiu2')?.STATUS;
  tour.check(t.claims.podsRunning(f), s1 === 'Running' && s2 === 'Running', `hwchiu ${s1}, hwchiu2 ${s2}`);

  f.txBefore = txNow(ctx.root, 'hwchiu');
  const ping = await tour.podns(['exec', 'hwchiu', '--', 'ping', '-c', '3', OUTSIDE_IP], { allowFail: true });
  tour.check(t.claims.ping(f), ping.code === 0 && / 0% packet loss/.test(ping.stdout), `exit status ${ping.code}`);

  // Three reads, three commands: a packet the kernel sends on its own (an ARP probe for the gateway) may
  // fall between them. Read again until none did, so the outputs shown are of one moment.
  const nets = async (): Promise<CmdResult[]> => [
    await tour.podnsQuiet(['net', 'hwchiu']),
    await tour.podnsQuiet(['net', 'hwchiu2']),
    await tour.podnsQuiet(['exec', 'hwchiu2', '--', 'ifconfig', 'eth0']),
  ];
  let rs: CmdResult[] = [];
  let a: NetOut = { ino: null, rows: [] }, b: NetOut = { ino: null, rows: [] };
  let ifcTx = NaN;
  for (let i = 0; i < 5; i++) {
    rs = await nets();
    if (rs.some((r) => r.code !== 0)) break;
    a = parseNet(rs[0]!.stdout);
    b = parseNet(rs[1]!.stdout);
    ifcTx = Number(/TX packets:(\d+)/.exec(rs[2]!.stdout)?.[1] ?? NaN);
    if (txOf(a) === txOf(b) && txOf(b) === ifcTx) break;
  }
  const shown: string[][] = [['net', 'hwchiu'], ['net', 'hwchiu2'], ['exec', 'hwchiu2', '--', 'ifconfig', 'eth0']];
  rs.forEach((r, i) => {
    tour.prompt(['podns', ...shown[i]!]);
    tour.show(r);
    if (r.code !== 0) throw new TourFailure(`podns ${shellWords(shown[i]!)}`, `exit status ${r.code}: ${r.stderr.trim()}`);
  });
  const ea = eth0(a), eb = eth0(b);
  f.netIno = a.ino ?? undefined;
  f.ifindex = Number(ea?.INDEX);
  f.mac = ea?.MAC;
  f.ip = ipv4Of(ea);
  f.tx = txOf(a);
  // the pins of both pods, straight from the kernel: one namespace
  const pinA = readPod({ root: ctx.root, name: 'hwchiu' }).namespaces.find((n) => n.type === 'net');
  const pinB = readPod({ root: ctx.root, name: 'hwchiu2' }).namespaces.find((n) => n.type === 'net');
  const view = netView(ctx.root, readPod({ root: ctx.root, name: 'hwchiu' }));
  f.hostVeth = view.hostPeers[0]?.name;
  f.bridge = view.hostPeers[0]?.bridge ?? undefined;
  tour.check(t.claims.sameNetns(f), a.ino !== null && a.ino === b.ino && view.netns.ino === a.ino &&
    pinA !== undefined && pinB !== undefined && pinA.ino === a.ino && pinB.ino === a.ino,
  `net:[${a.ino}] vs net:[${b.ino}]`);
  tour.check(t.claims.sameEth0(f), ea !== undefined && eb !== undefined && ea.INDEX === eb.INDEX && ea.MAC === eb.MAC &&
    ea.ADDRESSES === eb.ADDRESSES && f.ip !== undefined, `${JSON.stringify(ea)} vs ${JSON.stringify(eb)}`);
  tour.check(t.claims.sameTx(f), txOf(a) === txOf(b) && txOf(a) >= f.txBefore + 3, `${txOf(a)} vs ${txOf(b)}, before ${f.txBefore}`);
  // ifconfig reads /proc/net/dev inside the container: the kernel's own count, not podns's netlink code
  const ifc = rs[2]!.stdout;
  tour.check(t.claims.kernelCounters(f), ifcTx === f.tx && ifc.toLowerCase().includes(f.mac!.toLowerCase()) && ifc.includes(`inet addr:${f.ip} `),
    `ifconfig TX ${ifcTx}, podns net ${f.tx}`);
  tour.say(t.steps[0].body(f));
}

export async function step2(tour: Tour, ctx: StepContext): Promise<void> {
  const { t, facts: f } = tour;
  await tour.podns(['delete', 'hwchiu']);
  const r = await tour.podns(['net', 'hwchiu2']);
  const n = parseNet(r.stdout);
  tour.check(t.claims.nsSurvives(f), n.ino === f.netIno, `net:[${n.ino}]`);
  const ifc = await tour.podns(['exec', 'hwchiu2', '--', 'ifconfig']);
  const names = n.rows.map((x) => x.NAME);
  tour.check(t.claims.onlyLo(f), names.length === 1 && names[0] === 'lo' && !/^eth0/m.test(ifc.stdout) && /^lo/m.test(ifc.stdout),
    `podns net: ${names.join(',')}`);
  // it is not in the host namespace either: the veth pair is gone, both ends
  const peer = f.hostVeth;
  if (peer !== undefined) {
    const h = NetlinkHandle.open();
    try {
      if (h.linkGet(peer) !== undefined) throw new TourFailure(t.claims.onlyLo(f), `host veth ${peer} still exists`);
    } finally {
      h.close();
    }
  }
  tour.say(t.steps[1].body(f));
}

export async function step3(tour: Tour, ctx: StepContext): Promise<void> {
  const { t, facts: f } = tour;
  writeFileSync(join(ctx.work, 'two-containers.yaml'), MANIFEST);
  await tour.run(['cat', 'two-containers.yaml']);
  await tour.podns(['apply', '-f', 'two-containers.yaml']);
  const get = await tour.podns(['get', 'two-containers']);
  const row = getRow(get.stdout, 'two-containers');
  f.podIp = row?.IP;
  tour.check(t.claims.podRunning(f), row?.STATUS === 'Running' && row?.CONTAINERS === '2/2', JSON.stringify(row));
  await tour.podns(['ps', 'two-containers']);

  // the page is fetched as soon as httpd listens; /proc/PID/net shows the pod's sockets from here
  const rec = readPod({ root: ctx.root, name: 'two-containers' });
  await until('httpd listening on port 80 in two-containers', () => listening(rec.pause!.pid, 80));
  const page = await tour.podns(['exec', 'two-containers', '-c', 'client', '--', 'wget', '-qO-', '127.0.0.1']);
  f.page = page.stdout;
  tour.check(t.claims.page(f), page.stdout.includes(PAGE_MARK));
  // httpd logs the request once it has answered it; the log file is written by the watcher
  let logs = await tour.podnsQuiet(['logs', 'two-containers', '-c', 'www-server']);
  for (let i = 0; i < 100 && !logs.stderr.includes('127.0.0.1') && !logs.stdout.includes('127.0.0.1'); i++) {
    await sleep(50);
    logs = await tour.podnsQuiet(['logs', 'two-containers', '-c', 'www-server']);
  }
  tour.prompt(['podns', 'logs', 'two-containers', '-c', 'www-server']);
  tour.show(logs);
  tour.check(t.claims.logs(f), logs.code === 0 && /127\.0\.0\.1/.test(logs.stdout + logs.stderr));
  tour.say(t.steps[2].body(f));
}

export async function step4(tour: Tour, ctx: StepContext): Promise<void> {
  const { t, facts: f } = tour;
  tour.background(['exec', 'two-containers', '-c', 'client', '--', 'sleep', '600']);
  let execPid: number | undefined;
  await until('the exec session appears', () => {
    const v = nsView(ctx.root, [readPod({ root: ctx.root, name: 'two-containers' })]);
    execPid = v.rows.find((r) => r.role === 'exec' && r.container === 'client' && r.command === 'sleep 600')?.pid ?? undefined;
    return execPid !== undefined;
  });
  f.execPid = execPid;
  const r = await tour.podns(['ns', 'two-containers']);
  const rows = parseNs(r.stdout);
  const pause = rows.find((x) => x.container === '(pause)');
  const client = rows.find((x) => x.container === 'client');
  const www = rows.find((x) => x.container === 'www-server');
  const ex = rows.find((x) => x.container === 'client (exec)');
  if (!pause || !client || !www || !ex || pause.pid === null || client.pid === null || www.pid === null || ex.pid === null) {
    throw new TourFailure(t.claims.execRow(f), `rows: ${rows.map((x) => `${x.container}/${x.pid}`).join(', ')}`);
  }
  tour.check(t.claims.execRow(f), ex.pid === execPid, `exec row pid ${ex.pid}`);

  const all = [pause, client, www, ex];
  const mismatch: string[] = [];
  for (const row of all) {
    for (const type of NS_TYPES) {
      const want = readlinkIno(row.pid!, type);
      if (want !== row.ns[type]?.ino) mismatch.push(`${row.container} ${type}: table ${row.ns[type]?.ino}, /proc ${want}`);
    }
  }
  tour.check(t.claims.tableMatchesProc(f), mismatch.length === 0, mismatch.join('; '));

  const same = (x: NsRowOut, type: string) => x.ns[type]?.ino === pause.ns[type]?.ino && x.ns[type]?.own === false;
  tour.check(t.claims.sharedNetIpcUts(f), [client, www, ex].every((x) => ['net', 'ipc', 'uts'].every((ty) => same(x, ty))));
  tour.check(t.claims.ownMnt(f),
    client.ns.mnt!.ino !== pause.ns.mnt!.ino && www.ns.mnt!.ino !== pause.ns.mnt!.ino && client.ns.mnt!.ino !== www.ns.mnt!.ino &&
    client.ns.mnt!.own && www.ns.mnt!.own && ex.ns.mnt!.ino === client.ns.mnt!.ino);
  const rec = readPod({ root: ctx.root, name: 'two-containers' });
  f.ownPid = !rec.sharePid;
  tour.check(t.claims.pidNs(f), f.ownPid
    ? client.ns.pid!.own && www.ns.pid!.own && client.ns.pid!.ino !== www.ns.pid!.ino && ex.ns.pid!.ino === client.ns.pid!.ino
    : [client, www, ex].every((x) => same(x, 'pid')));
  const host = nsSetOf('self');
  tour.check(t.claims.hostRest(f), all.every((x) => (['cgroup', 'user', 'time'] as const).every((ty) => x.ns[ty]?.ino === host[ty]?.ino)));

  f.pausePid = pause.pid;
  await tour.stopBackground();
  tour.say(t.steps[3].body(f));
}

export async function step5(tour: Tour, ctx: StepContext): Promise<void> {
  const { t, facts: f } = tour;
  const rec = readPod({ root: ctx.root, name: 'two-containers' });
  const before = netView(ctx.root, rec);
  f.podNetIno = before.netns.ino;
  f.ifindex = before.interfaces.find((i) => i.name === 'eth0')?.index;
  const nsBefore = nsView(ctx.root, [rec]);
  const pids = (v: typeof nsBefore) => v.rows.filter((x) => x.role === 'main').map((x) => `${x.container}=${x.pid}`).join(',');

  const pausePid = rec.pause!.pid;
  f.pausePid = pausePid;
  tour.prompt(['kill', '-9', String(pausePid)]);
  process.kill(pausePid, 'SIGKILL');
  await until('the pause is gone', () => !processAlive(pausePid, rec.pause!.startTime));

  const get = await tour.podns(['get', 'two-containers']);
  const row = getRow(get.stdout, 'two-containers');
  tour.check(t.claims.degraded(f), row?.STATUS === 'Degraded', `STATUS ${row?.STATUS}`);
  tour.check(t.claims.containersAlive(f), row?.CONTAINERS === '2/2', `CONTAINERS ${row?.CONTAINERS}`);
  const page = await tour.podns(['exec', 'two-containers', '-c', 'client', '--', 'wget', '-qO-', '127.0.0.1']);
  tour.check(t.claims.stillTalk(f), page.stdout.includes(PAGE_MARK));
  const net = parseNet((await tour.podns(['net', 'two-containers'])).stdout);
  tour.check(t.claims.eth0Kept(f), net.ino === f.podNetIno && Number(eth0(net)?.INDEX) === f.ifindex && ipv4Of(eth0(net)) === f.podIp,
    `net:[${net.ino}] eth0 ${eth0(net)?.INDEX} ${eth0(net)?.ADDRESSES}`);

  const rep = await tour.podns(['repair', 'two-containers']);
  const ns = parseNs((await tour.podns(['ns', 'two-containers'])).stdout);
  const get2 = await tour.podns(['get', 'two-containers']);
  const pause = ns.find((x) => x.container === '(pause)');
  f.newPausePid = pause?.pid ?? undefined;
  const after = readPod({ root: ctx.root, name: 'two-containers' });
  const nsAfter = nsView(ctx.root, [after]);
  tour.check(t.claims.repaired(f),
    pause?.pid !== null && pause?.pid !== undefined && pause.pid !== pausePid && pause.pid === after.pause?.pid &&
    pause.ns.net?.ino === f.podNetIno && readlinkIno(pause.pid, 'net') === f.podNetIno &&
    rep.stdout.includes(String(pause.pid)) && getRow(get2.stdout, 'two-containers')?.STATUS === 'Running',
    `pause ${pause?.pid} net:[${pause?.ns.net?.ino}]`);
  tour.check(t.claims.notRestarted(f), pids(nsAfter) === pids(nsBefore), `${pids(nsBefore)} → ${pids(nsAfter)}`);
  tour.say(t.steps[4].body(f));
}

/** The tour's own processes that may remain: pauses and watchers started for this state root. */
export function leftovers(root: string): string[] {
  return [
    ...scanPauses().filter((p) => p.root === root).map((p) => `pause ${p.pid} (pod ${p.pod})`),
    ...listWatchers().filter((w) => w.root === root).map((w) => `watcher ${w.pid} (${w.pod}/${w.container})`),
  ];
}

export async function cleanup(tour: Tour, ctx: StepContext, pods: string[]): Promise<void> {
  const { t, facts: f } = tour;
  tour.heading(t.cleanup.title);
  if (pods.length > 0) await tour.podns(['delete', ...pods]);
  await tour.run(['ip', 'netns', 'delete', OUTSIDE_NS]);
  await until(t.claims.nothingLeft(f), () => leftovers(ctx.root).length === 0, 10_000).catch(() => undefined);
  const left = leftovers(ctx.root);
  tour.check(t.claims.nothingLeft(f), left.length === 0, left.join(', '));
  tour.say(t.cleanup.body(f));
}
