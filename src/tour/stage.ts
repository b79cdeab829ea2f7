// The tour's props: two images made from the static busybox binary, the lesson's manifest, and a stand-in
// for "the internet" (a network namespace holding 203.0.113.2, a documentation address) so that no packet
// of the tour ever leaves the machine.
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PodnsError } from '../errors.js';
import { executable, pingPath } from '../native/index.js';

export const BUSYBOX = '/bin/busybox';
export const OUTSIDE_NS = 'outside';
export const OUTSIDE_IP = '203.0.113.2';
export const UPLINK_IP = '203.0.113.1';
export const UPLINK = 'outside0';

/** What the web server serves; the client's fetch must return it. */
export const PAGE_MARK = 'served by www-server, fetched over 127.0.0.1';
const PAGE = `<!DOCTYPE html>\n<html><head><title>two-containers</title></head>\n<body><h1>Hello from the pod</h1><p>${PAGE_MARK}</p></body></html>\n`;

const APPLETS = ['sh', 'sleep', 'wget', 'httpd', 'ifconfig', 'ip', 'cat', 'ls', 'ps', 'hostname', 'echo', 'nc', 'netstat', 'id'];

export function checkTools(): void {
  if (!existsSync(BUSYBOX)) {
    throw new PodnsError('ENOBUSYBOX', `the tour builds its images from ${BUSYBOX}, which is missing; install it with: apt-get install busybox-static`);
  }
  if (!['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => existsSync(p))) {
    throw new PodnsError('ENOIP', "the tour wires its fake outside host with iproute2's ip, which is missing; install it with: apt-get install iproute2");
  }
}

/** A root filesystem: busybox and its applets, /etc/passwd, mount points; `www` adds /www/index.html. */
export function makeRootfs(dir: string, o: { www?: boolean } = {}): string {
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'dev', 'sys', 'root', 'run']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  // ping without NET_RAW, over the ICMP datagram socket that ping_group_range opens (native/ping/ping.c)
  copyFileSync(executable(pingPath), join(dir, 'bin', 'ping'));
  chmodSync(join(dir, 'bin', 'ping'), 0o755);
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\n');
  if (o.www) {
    mkdirSync(join(dir, 'www'), { mode: 0o755 });
    writeFileSync(join(dir, 'www', 'index.html'), PAGE);
  }
  return dir;
}

export const NETUTILS_CMD = ['sleep', 'infinity'];
// -vv: one log line per request with the client's address, so `podns logs` has something to show
export const NGINX_CMD = ['httpd', '-f', '-vv', '-p', '80', '-h', '/www'];

/** The lesson's manifest (introduction/pod/pause.yaml), as is. */
export const MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  name: two-containers
  labels:
    app: myapp
spec:
  containers:
  - name: client
    image: hwchiu/netutils
  - name: www-server
    image: nginx
`;

/** The commands that build the outside host, as a user would type them (run as argv, no shell). */
export function outsideCommands(): string[][] {
  return [
    ['ip', 'netns', 'add', OUTSIDE_NS],
    ['ip', 'link', 'add', UPLINK, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUTSIDE_NS],
    ['ip', 'address', 'add', `${UPLINK_IP}/24`, 'dev', UPLINK],
    ['ip', 'link', 'set', UPLINK, 'up'],
    ['ip', '-n', OUTSIDE_NS, 'address', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0'],
    ['ip', '-n', OUTSIDE_NS, 'link', 'set', 'eth0', 'up'],
  ];
}
