// The ns and net views as people read them: aligned tables, colour only when the stream is a terminal.
import { paint, table, type Writer } from '../cli/output.js';
import type { NetView } from './net.js';
import type { NsRow, NsView } from './ns.js';
import { NS_TYPES } from './proc.js';

/** Mark of a namespace that is the container's own (not the pause's). */
export const OWN_MARK = '*';

function rowLabel(r: NsRow): string {
  if (r.role === 'pause') return '(pause)';
  if (r.role === 'exec') return `${r.container} (exec)`;
  return r.container ?? '';
}

export function renderNs(view: NsView, out: Writer = process.stdout): string {
  const multi = new Set(view.rows.map((r) => r.pod)).size > 1;
  const headers = [...(multi ? ['POD'] : []), 'CONTAINER', 'PID', 'COMMAND', ...NS_TYPES];
  let anyOwn = false;
  const rows = view.rows.map((r) => {
    const nsCells = NS_TYPES.map((t) => {
      const c = r.ns[t];
      if (c === undefined) return '-';
      // the pause's own row defines "shared": only containers and sessions get marks
      if (r.role === 'pause') return c.host ? paint(String(c.ino), 'dim', out) : String(c.ino);
      if (!c.shared) {
        anyOwn = true;
        return paint(`${c.ino}${OWN_MARK}`, 'yellow', out);
      }
      return c.host ? paint(String(c.ino), 'dim', out) : paint(String(c.ino), 'green', out);
    });
    const command = r.pid === null ? `(${r.state ?? 'no process'})` : truncate(r.command, 28);
    return [...(multi ? [r.pod] : []), rowLabel(r), r.pid === null ? '-' : String(r.pid), command, ...nsCells];
  });
  let text = table(headers, rows);
  const notes: string[] = [];
  for (const p of view.pods) {
    if (p.cgroup !== null) notes.push(`pod ${p.pod}: cgroup ${p.cgroup.path} (cgroup ${p.cgroup.driver}; the pause in ${p.cgroup.path}/_pause, each container in ${p.cgroup.path}/NAME)`);
    const outside = view.rows.filter((r) => r.pod === p.pod && r.pid !== null && p.cgroup !== null && r.cgroup != null && !r.cgroup.startsWith(`/${p.cgroup.path}/`));
    for (const r of outside) notes.push(`pod ${p.pod}: ${rowLabel(r)} (pid ${r.pid}) is outside the pod's cgroup: ${r.cgroup}`);
    if (!p.pauseAlive) notes.push(`pod ${p.pod}: the pause is not running; its namespaces are held by their pins (podns repair ${p.pod} starts a new pause in them)`);
  }
  if (anyOwn) notes.push(`${OWN_MARK} the container's own namespace; unmarked: the pause's, shared by the pod`);
  if (notes.length > 0) text += notes.map((n) => paint(n, 'dim', out)).join('\n') + '\n';
  return text;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

export function renderNet(view: NetView, out: Writer = process.stdout): string {
  const who = view.container !== null
    ? `container ${view.container} (pid ${view.pid}) of pod ${view.pod}`
    : `pod ${view.pod}`;
  const holder = view.pauseAlive ? "the pause's" : "the pod's, held by its pin while the pause is gone";
  const whose = view.hostNetwork ? "the host's (network: host)"
    : view.sharedWithPause ? (view.joinedFrom ? `${holder}, joined from pod ${view.joinedFrom}` : holder)
      : view.podNetns === null ? 'the pod has no namespace left' : "NOT the pod's";
  const head = `${paint(who, 'bold', out)}: network namespace net:[${view.netns.ino}] (${whose})\n` +
    (view.cgroup !== null ? `cgroup ${view.cgroup.path} (cgroup ${view.cgroup.driver})\n` : '');
  const rows = view.interfaces.map((i) => [
    String(i.index), i.name, colourState(i.state, out), i.mac ?? '-', i.addresses.join(',') || '-', i.mtu === null ? '-' : String(i.mtu),
    n(i.stats?.rxPackets), n(i.stats?.rxBytes), n(i.stats?.txPackets), n(i.stats?.txBytes),
  ]);
  let text = head + table(['INDEX', 'NAME', 'STATE', 'MAC', 'ADDRESSES', 'MTU', 'RX PACKETS', 'RX BYTES', 'TX PACKETS', 'TX BYTES'], rows);
  for (const p of view.hostPeers) {
    text += `${p.podIfname} is one end of a veth pair; the other end is ${paint(p.name, 'bold', out)} (ifindex ${p.index}, ${p.state}) in the host namespace` +
      (p.bridge ? `, a port of bridge ${paint(p.bridge, 'bold', out)}` : ', on no bridge') + '\n';
  }
  const veths = view.interfaces.filter((i) => i.kind === 'veth');
  if (veths.length > view.hostPeers.length) {
    for (const v of veths.filter((i) => !view.hostPeers.some((p) => p.podIfname === i.name))) {
      text += paint(`${v.name}: its peer (ifindex ${v.peerIndex}) is not in the host namespace`, 'dim', out) + '\n';
    }
  }
  return text;
}

function n(v: number | undefined): string {
  return v === undefined ? '-' : String(v);
}

function colourState(s: string, out: Writer): string {
  if (s === 'UP') return paint(s, 'green', out);
  if (s === 'DOWN' || s === 'LOWERLAYERDOWN') return paint(s, 'red', out);
  return s;
}
