// A synchronous rtnetlink socket with verbs named after iproute2 (`ip link add` → linkAdd).
//
// The socket comes from the addon (native.nlOpen) and stays bound to the netns it was opened in, so a
// handle opened with a pod's netns fd configures that pod from here without the process ever
// switching namespaces (beyond the socket() call itself, inside nlOpen).
//
// Requests are synchronous: send, then read until every request in the batch is answered. The kernel
// answers at once (no waiting on the network), and sync calls keep the pod-create hot path free of
// event-loop hops. Every receive waits at most `timeoutMs` (ETIMEDOUT then: a long-running process must
// not hang on a socket that never answers) and takes datagrams from the kernel only (nl_pid 0: any process
// may unicast to our port id; native.nlRecv drops what another sender forged). Several requests can share one datagram (`exchange`): the kernel processes them in
// order and answers each, which makes pod set-up one send per namespace.
import { closeSync } from 'node:fs';
import { native } from '../../native/index.js';
import type { ErrnoError } from '../../errors.js';
import * as C from './constants.js';
import { decodeAddr, decodeError, decodeLink, decodeRoute, errnoInfo, splitMessages, type Addr, type Link, type NlMsg, type Route } from './decode.js';
import * as E from './encode.js';

export type { Addr, Link, Route } from './decode.js';
export type { LinkRef, LinkSet, VethAdd, BridgeAdd, RouteAdd } from './encode.js';

/**
 * Turns a reply into a value, or undefined to skip it; gets the shared receive buffer, so it must
 * copy what it keeps.
 */
export type Decoder<T> = (buf: Buffer, m: NlMsg) => T | undefined;

export interface Request<T = unknown> {
  msg: Buffer;
  /** for RTM_NEW* replies (dumps, gets, NLM_F_ECHO) */
  decode?: Decoder<T>;
  /** named in the error when this request fails (e.g. the interface name) */
  what?: string;
}

/** How long one receive waits for the kernel's answer; the kernel answers at once, so this is only a bound. */
export const NETLINK_TIMEOUT_MS = 10_000;

const RECV_SIZE = 64 * 1024; // the kernel caps one dump datagram at 32 KiB

// One receive buffer for every handle of the process (a pod create opens a handle in each new pod's
// netns: a fresh 64 KiB buffer each time showed in its profile). exchange() is synchronous and the
// decoders copy out what they keep, so one buffer serves all; `busy` covers a decoder that would start
// an exchange of its own (that one gets a buffer of its own).
let sharedRecv: Buffer | undefined;
let sharedBusy = false;

/** The errno error for a failed request: code 'EEXIST', syscall 'netlink RTM_NEWLINK', path = what. */
export function netlinkError(errno: number, requestType: number, what?: string, extAck?: string): ErrnoError {
  const [code, text] = errnoInfo(errno);
  const syscall = `netlink ${C.RTM_NAMES[requestType] ?? `type ${requestType}`}`;
  const detail = extAck ? `${text}: ${extAck}` : text;
  const err = new Error(`${syscall}${what ? ` ${what}` : ''}: ${code} (${detail})`) as ErrnoError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (what !== undefined) err.path = what;
  return err;
}

export class NetlinkHandle {
  readonly fd: number;
  private seq: number;
  private closed = false;
  /** datagrams sent, for the benchmark's round-trip count */
  sends = 0;
  /** the longest wait for one datagram of an answer (ETIMEDOUT after it) */
  timeoutMs = NETLINK_TIMEOUT_MS;

  private constructor(fd: number) {
    this.fd = fd;
    this.seq = (Date.now() & 0x3fffffff) >>> 0;
  }

  /** A socket in the current netns, or (with netnsFd) in that netns. */
  static open(netnsFd?: number): NetlinkHandle {
    return new NetlinkHandle(native.nlOpen(native.NETLINK_ROUTE, netnsFd));
  }

  /** A handle over a bound NETLINK_ROUTE socket opened elsewhere (native.nsCreate's `nl`); it owns the fd. */
  static fromFd(fd: number): NetlinkHandle {
    return new NetlinkHandle(fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /**
   * Sends the requests in one datagram and reads until each one is acknowledged (or, for a dump,
   * done). Returns the decoded replies per request. Throws the first failed request's error (with
   * `request`, its position in `reqs`); the kernel still ran the others (it does not stop at a
   * failure), so callers order requests so that a later one cannot do harm when an earlier one failed.
   *
   * A batch of acknowledged requests (no gets, no dumps) asks for one acknowledgement only, the last
   * one's: the kernel runs the messages of a datagram in order and reports a failure whether or not an
   * ACK was asked for, so when the last ACK arrives every earlier error is already in the socket — and
   * each ACK saved is one recv and one datagram fewer (four per pod create).
   */
  exchange(reqs: Request[]): unknown[][] {
    if (this.closed) throw new Error('netlink handle is closed');
    const seqs: number[] = [];
    for (const r of reqs) {
      this.seq = (this.seq + 1) >>> 0 || 1;
      r.msg.writeUInt32LE(this.seq, 8);
      seqs.push(this.seq);
    }
    const first = seqs[0]!;
    const own = sharedBusy;
    if (!own) {
      sharedBusy = true;
      sharedRecv ??= Buffer.allocUnsafe(RECV_SIZE);
    }
    const buf = own ? Buffer.allocUnsafe(RECV_SIZE) : sharedRecv!;
    try {
      return this.exchangeIn(reqs, seqs, first, buf);
    } finally {
      if (!own) sharedBusy = false;
    }
  }

  /**
   * One request sent from a libuv pool thread (native.nlSendAsync), so that a request the kernel runs for
   * long inside send() (a link delete: RCU grace periods) does not hold up the event loop; then its answer
   * read as exchange() reads one. Only on a handle of its own (openAsync): another exchange on the same
   * socket meanwhile would read this one's answer and drop it.
   */
  async requestAsync<T>(req: Request<T>): Promise<T[]> {
    if (this.closed) throw new Error('netlink handle is closed');
    this.seq = (this.seq + 1) >>> 0 || 1;
    req.msg.writeUInt32LE(this.seq, 8);
    await native.nlSendAsync(this.fd, req.msg);
    this.sends++;
    return this.exchangeIn([req], [this.seq], this.seq, Buffer.allocUnsafe(RECV_SIZE), true)[0] as T[];
  }

  /** ip link del REF from a pool thread (requestAsync); false when it does not exist (ENODEV) */
  async linkDelAsync(ref: E.LinkRef): Promise<boolean> {
    try {
      await this.requestAsync({ msg: E.linkDel(ref), what: String(ref) });
      return true;
    } catch (err) {
      if ((err as ErrnoError).code === 'ENODEV') return false;
      throw err;
    }
  }

  private exchangeIn(reqs: Request[], seqs: number[], first: number, buf: Buffer, sent = false): unknown[][] {
    // How each request ends: an ACK, a dump's DONE, a get's one reply, or (a batched request that asks
    // for no ACK) nothing unless it fails.
    const ends = reqs.map((r): 'ack' | 'done' | 'reply' | 'none' => {
      const f = r.msg.readUInt16LE(6);
      return f & C.NLM_F_DUMP ? 'done' : f & C.NLM_F_ACK ? 'ack' : 'reply';
    });
    const datagram = reqs.length === 1 ? reqs[0]!.msg : Buffer.concat(reqs.map((r) => r.msg));
    if (reqs.length > 1 && !ends.some((e) => e !== 'ack')) {
      // in the datagram (a copy), not in the callers' messages: one sent alone later must still ask
      for (let i = 0, off = 0; i < reqs.length - 1; off += reqs[i]!.msg.length, i++) {
        datagram.writeUInt16LE(datagram.readUInt16LE(off + 6) & ~C.NLM_F_ACK, off + 6);
        ends[i] = 'none';
      }
    }
    if (!sent) {
      native.nlSend(this.fd, datagram);
      this.sends++;
    }
    const replies: unknown[][] = reqs.map(() => []);
    const errors: Array<ErrnoError | undefined> = reqs.map(() => undefined);
    let pending = ends.filter((e) => e !== 'none').length;
    while (pending > 0) {
      const n = native.nlRecv(this.fd, buf, this.timeoutMs);
      for (const m of splitMessages(buf, n)) {
        const i = (m.seq - first) >>> 0;
        if (i >= reqs.length || seqs[i] !== m.seq) continue; // a late answer to an abandoned request
        const req = reqs[i]!;
        if (m.type === C.NLMSG_ERROR) {
          const e = decodeError(buf, m);
          if (e.errno !== 0) errors[i] = netlinkError(e.errno, e.requestType || req.msg.readUInt16LE(4), req.what, e.message);
          if (ends[i] !== 'none') pending--;
        } else if (m.type === C.NLMSG_DONE) {
          // a dump's end; its payload is an int, negative when the dump failed
          const err = m.end - m.start >= 4 ? buf.readInt32LE(m.start) : 0;
          if (err < 0) errors[i] = netlinkError(-err, req.msg.readUInt16LE(4), req.what);
          else if (m.flags & C.NLM_F_DUMP_INTR) errors[i] = netlinkError(4 /* EINTR */, req.msg.readUInt16LE(4), req.what, 'dump interrupted by a change, retry');
          pending--;
        } else if (m.type === C.NLMSG_OVERRUN) {
          throw netlinkError(105 /* ENOBUFS */, req.msg.readUInt16LE(4), req.what, 'receive buffer overrun');
        } else if (req.decode) {
          const v = req.decode(buf, m);
          if (v !== undefined) replies[i]!.push(v);
          // a plain get (no NLM_F_ACK, not a dump) is answered by its one reply
          if (!(m.flags & C.NLM_F_MULTI) && ends[i] === 'reply') pending--;
        }
      }
    }
    const i = errors.findIndex((e) => e !== undefined);
    if (i >= 0) throw Object.assign(errors[i]!, { request: i });
    return replies;
  }

  /** One request; its replies. */
  request<T>(req: Request<T>): T[] {
    return this.exchange([req])[0] as T[];
  }

  private dump<T>(msg: Buffer, decode: Decoder<T>, what?: string): T[] {
    // A dump that races with a change is flagged NLM_F_DUMP_INTR: read it again.
    for (let attempt = 0; ; attempt++) {
      try {
        return this.request({ msg, decode, ...(what !== undefined ? { what } : {}) });
      } catch (err) {
        if ((err as ErrnoError).code !== 'EINTR' || attempt >= 4) throw err;
      }
    }
  }

  // ---- links ----

  /** ip link add NAME type veth peer name PEER [netns FD] ... ; returns the new host-side link (NLM_F_ECHO) */
  linkAddVeth(v: E.VethAdd): Link | undefined {
    return this.request({ msg: E.linkAddVeth(v, C.NLM_F_ECHO), decode: linkDecoder, what: v.name })[0];
  }

  /** ip link add NAME type bridge */
  linkAddBridge(b: E.BridgeAdd): void {
    this.request({ msg: E.linkAddBridge(b), what: b.name });
  }

  /** ip link add: kind 'veth' (with peer) or 'bridge' */
  linkAdd(o: ({ kind: 'veth' } & E.VethAdd) | ({ kind: 'bridge' } & E.BridgeAdd)): void {
    if (o.kind === 'veth') this.linkAddVeth(o);
    else this.linkAddBridge(o);
  }

  /** ip link del REF; false when it does not exist (ENODEV) */
  linkDel(ref: E.LinkRef): boolean {
    try {
      this.request({ msg: E.linkDel(ref), what: String(ref) });
      return true;
    } catch (err) {
      if ((err as ErrnoError).code === 'ENODEV') return false;
      throw err;
    }
  }

  /** ip link set REF ... (see encode.linkSet) */
  linkSet(ref: E.LinkRef, s: E.LinkSet): void {
    this.request({ msg: E.linkSet(ref, s), what: String(ref) });
  }

  linkSetUp(ref: E.LinkRef): void { this.linkSet(ref, { up: true }); }
  linkSetDown(ref: E.LinkRef): void { this.linkSet(ref, { up: false }); }
  linkSetMtu(ref: E.LinkRef, mtu: number): void { this.linkSet(ref, { mtu }); }
  linkSetAddrGenModeNone(ref: E.LinkRef): void { this.linkSet(ref, { addrGenModeNone: true }); }

  /** ip link set REF master BRIDGE (a name or ifindex); nomaster with 0 */
  linkSetMaster(ref: E.LinkRef, bridge: E.LinkRef): void {
    const master = typeof bridge === 'number' ? bridge : this.linkIndex(bridge);
    this.linkSet(ref, { master });
  }

  /** bridge link set dev REF hairpin on|off (RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO) */
  linkSetHairpin(ref: E.LinkRef, on: boolean): void {
    const index = typeof ref === 'number' ? ref : this.linkIndex(ref);
    this.request({ msg: E.bridgeLinkSetHairpin(index, on), what: String(ref) });
  }

  /** ip link set REF netns FD */
  linkSetNsFd(ref: E.LinkRef, netnsFd: number): void {
    const r = typeof ref === 'number' ? { index: ref, attrs: [] as Buffer[] } : { index: 0, attrs: [E.strAttr(C.IFLA_IFNAME, E.checkIfname(ref))] };
    this.request({
      msg: E.nlmsg(C.RTM_NEWLINK, C.NLM_F_ACK, E.ifinfomsg({ index: r.index }), ...r.attrs, E.u32Attr(C.IFLA_NET_NS_FD, netnsFd)),
      what: String(ref),
    });
  }

  /**
   * ip link show REF; undefined when it does not exist. stats false: without the counters (half the cost
   * of the reply, for the lookups on the pod-create path that only want kind, flags and index).
   */
  linkGet(ref: E.LinkRef, o: { stats?: boolean } = {}): Link | undefined {
    try {
      return this.request({ msg: E.linkGet(ref, o), decode: linkDecoder, what: String(ref) })[0];
    } catch (err) {
      if ((err as ErrnoError).code === 'ENODEV') return undefined;
      throw err;
    }
  }

  /** ifindex of a link by name; ENODEV error when missing */
  linkIndex(name: string): number {
    const l = this.linkGet(name);
    if (!l) throw netlinkError(19, C.RTM_GETLINK, name, 'no such device');
    return l.index;
  }

  /** ip -s link show: every link with its stats64 */
  linkList(): Link[] {
    return this.dump(E.linkDump(), linkDecoder);
  }

  // ---- addresses ----

  /** ip addr add IP/PREFIX dev REF (IPv4) */
  addrAdd(ref: E.LinkRef, cidr: string): void {
    const index = typeof ref === 'number' ? ref : this.linkIndex(ref);
    const [ip, prefix] = splitCidr(cidr);
    this.request({ msg: E.addrMsg(C.RTM_NEWADDR, index, ip, prefix), what: `${cidr} dev ${ref}` });
  }

  /** ip addr del IP/PREFIX dev REF; false when not there */
  addrDel(ref: E.LinkRef, cidr: string): boolean {
    const index = typeof ref === 'number' ? ref : this.linkIndex(ref);
    const [ip, prefix] = splitCidr(cidr);
    try {
      this.request({ msg: E.addrMsg(C.RTM_DELADDR, index, ip, prefix), what: `${cidr} dev ${ref}` });
      return true;
    } catch (err) {
      if ((err as ErrnoError).code === 'EADDRNOTAVAIL') return false;
      throw err;
    }
  }

  /** ip addr show [dev REF] (IPv4 and IPv6) */
  addrList(ref?: E.LinkRef): Addr[] {
    const all = this.dump(E.addrDump(), addrDecoder);
    if (ref === undefined) return all;
    const index = typeof ref === 'number' ? ref : this.linkIndex(ref);
    return all.filter((a) => a.index === index);
  }

  // ---- routes ----

  /** ip route add default via GW [dev OIF] | ip route add DST/N [via GW] dev OIF */
  routeAdd(r: E.RouteAdd): void {
    this.request({ msg: E.routeAdd(r), what: r.dst ? `${r.dst.ip}/${r.dst.prefixLength}` : 'default' });
  }

  /** ip route show table all (IPv4) */
  routeList(): Route[] {
    return this.dump(E.routeDump(), routeDecoder);
  }
}

function splitCidr(cidr: string): [string, number] {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  if (!m || Number(m[2]) > 32) throw new TypeError(`invalid IPv4 CIDR ${JSON.stringify(cidr)}`);
  return [m[1]!, Number(m[2])];
}

export const linkDecoder: Decoder<Link> = (buf, m) => (m.type === C.RTM_NEWLINK ? decodeLink(buf, m.start, m.end) : undefined);
export const addrDecoder: Decoder<Addr> = (buf, m) => (m.type === C.RTM_NEWADDR ? decodeAddr(buf, m.start, m.end) : undefined);
export const routeDecoder: Decoder<Route> = (buf, m) => (m.type === C.RTM_NEWROUTE ? decodeRoute(buf, m.start, m.end) : undefined);
