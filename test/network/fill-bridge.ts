// Run by pod-network.test.ts inside a nested `podns-helper sandbox` (a netns of its own): fills a bridge
// to the kernel's 1023-port limit, then asks setupPodNetwork for one more pod. Prints one JSON line.
// Everything made here dies with this process's network namespace.
import { existsSync, mkdtempSync } from 'node:fs';
import { openSync, closeSync } from 'node:fs';
import { native } from '../../src/native/index.js';
import { allocateIp, ensureNetwork, hostVethName, setupPodNetwork } from '../../src/network/index.js';
import * as E from '../../src/network/netlink/encode.js';
import { NetlinkHandle, type Request } from '../../src/network/netlink/handle.js';

const root = mkdtempSync('/run/podns-full-');
const net = await ensureNetwork({ root, bridge: 'ptn-full', subnet: '10.241.128.0/17' });
const h = NetlinkHandle.open();
const br = h.linkIndex('ptn-full');
for (let i = 0; i < 1023; i += 64) {
  const reqs: Request[] = [];
  for (let j = i; j < Math.min(i + 64, 1023); j++) {
    reqs.push({ msg: E.linkAddVeth({ name: `f${j}`, peerName: `g${j}`, master: br, queues: 1 }), what: `f${j}` });
  }
  h.exchange(reqs);
}
const ports = h.linkList().filter((l) => l.master === br).length;
const pid = native.spawn({ path: '/bin/sleep', argv: ['sleep', '1000'], cloneFlags: native.CLONE_NEWNET });
const fd = openSync(`/proc/${pid}/ns/net`, 'r');
const hostVeth = hostVethName('one-more', 'uid');
let code = 'none';
let message = '';
try {
  setupPodNetwork({ net, netnsFd: fd, hostVeth, ip: allocateIp(root, net, 'one-more') });
} catch (err) {
  code = (err as { code?: string }).code ?? 'unknown';
  message = (err as Error).message;
}
const leftover = existsSync(`/sys/class/net/${hostVeth}`);
closeSync(fd);
process.kill(pid, 'SIGKILL');
native.waitpid(pid);
process.stdout.write(JSON.stringify({ ports, code, message, leftover }) + '\n');
