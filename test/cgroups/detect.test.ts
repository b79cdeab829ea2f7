// Driver detection from sample /proc/self/mountinfo texts (v2 only, v1 only, this VM's hybrid), and the
// layout's name checks. Unprivileged: pure parsing, plus this process's own view.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { cgroupPaths, detectCgroups, ourCgroup, parseMountinfo, parseProcCgroup, PAUSE_LEAF, validateCgroupParent } from '../../src/cgroups/index.js';

// a current distribution (systemd unified): one cgroup2 at /sys/fs/cgroup
const V2_ONLY = `22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

// an older distribution (legacy): cpu,cpuacct and net_cls,net_prio co-mounted, no cgroup2
const V1_ONLY = `25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
32 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
33 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,freezer
34 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset
`;

// this VM: every controller on v1, cgroup2 at /sys/fs/cgroup/unified with only hugetlb
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

const controllersOf = (text: string | undefined) => () => text;

test('v2 only: the unified mount and the controllers its root offers', (t) => {
  const h = detectCgroups({ mountinfo: V2_ONLY, readController: (mp) => (mp === '/sys/fs/cgroup' ? 'cpuset cpu io memory hugetlb pids rdma misc\n' : undefined) });
  t.deepEqual(h, { driver: 'v2', mountPoint: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'] });
});

test('v1 only: co-mounted controllers share a hierarchy; name=systemd and net_cls are not controllers podns uses', (t) => {
  const h = detectCgroups({ mountinfo: V1_ONLY, readController: controllersOf(undefined) });
  t.is(h.driver, 'v1');
  if (h.driver !== 'v1') return;
  t.deepEqual(h.controllers, ['cpu', 'cpuacct', 'cpuset', 'memory', 'freezer', 'pids']);
  t.is(h.mounts.cpu, '/sys/fs/cgroup/cpu,cpuacct');
  t.is(h.mounts.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
  t.is(h.mounts.blkio, undefined);
  t.is(h.unified, null);
});

test('hybrid (this VM): v1 controllers and a cgroup2 without memory → driver v1', (t) => {
  for (const v2 of ['', 'hugetlb\n']) {
    const h = detectCgroups({ mountinfo: HYBRID, readController: controllersOf(v2) });
    t.is(h.driver, 'v1');
    if (h.driver !== 'v1') return;
    t.deepEqual(h.controllers, ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids']);
    t.is(h.mounts.memory, '/sys/fs/cgroup/memory');
    t.is(h.unified, '/sys/fs/cgroup/unified');
  }
  // a hybrid whose cgroup2 holds memory (controllers moved there) is driven as v2
  t.is(detectCgroups({ mountinfo: HYBRID, readController: controllersOf('memory pids') }).driver, 'v2');
});

test('no cgroup filesystem: driver none, with the reason', (t) => {
  const h = detectCgroups({ mountinfo: '22 1 259:1 / / rw - ext4 /dev/root rw\n', readController: controllersOf(undefined) });
  t.is(h.driver, 'none');
  t.regex(h.driver === 'none' ? h.reason : '', /no cgroup filesystem/);
});

test('mountinfo: octal escapes in mount points; optional fields of any number', (t) => {
  const m = parseMountinfo('50 31 0:40 / /tmp/a\\040b rw shared:3 master:1 - cgroup2 none rw\n51 31 0:41 /sub /x rw - cgroup c rw,memory\n');
  t.deepEqual(m, [
    { mountPoint: '/tmp/a b', root: '/', type: 'cgroup2', controllers: [] },
    { mountPoint: '/x', root: '/sub', type: 'cgroup', controllers: ['memory'] },
  ]);
});

test('/proc/PID/cgroup: v1 lines per controller, co-mounted lists split, v2 under ""', (t) => {
  const m = parseProcCgroup('9:name=systemd:/\n4:memory:/process_api/e8\n2:cpu,cpuacct:/a\n0::/b/c\n');
  t.is(m.get('memory'), '/process_api/e8');
  t.is(m.get('cpu'), '/a');
  t.is(m.get('cpuacct'), '/a');
  t.is(m.get(''), '/b/c');
  t.is(m.get('name=systemd'), '/');
});

test('this host: the detection agrees with the files the kernel shows', (t) => {
  const h = detectCgroups();
  const v2Memory = existsSync('/sys/fs/cgroup/cgroup.controllers') && readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('memory');
  if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    t.is(h.driver, 'v1');
    t.true(h.controllers.includes('memory' as never));
  } else if (v2Memory) {
    t.is(h.driver, 'v2');
  } else {
    t.log(`neither a v1 memory hierarchy nor a v2 root with memory at /sys/fs/cgroup: driver ${h.driver}`);
    t.pass();
  }
});

test('layout: PARENT/POD-UID8/CONTAINER, names checked before they reach a path', (t) => {
  const uid = '1A2B3C4D-0000-4000-8000-000000000000';
  t.deepEqual(cgroupPaths({ name: 'web', uid }, 'app', 'podns'), { parent: 'podns', pod: 'podns/web-1a2b3c4d', container: 'podns/web-1a2b3c4d/app' });
  t.deepEqual(cgroupPaths({ name: 'web', uid }, undefined, '/kubepods/burstable/'), { parent: 'kubepods/burstable', pod: 'kubepods/burstable/web-1a2b3c4d' });
  // hostile names: each would step out of the parent or make a path the kernel reads otherwise
  for (const name of ['..', 'a/b', '../x', 'A', '']) {
    t.throws(() => cgroupPaths({ name, uid }, 'app', 'podns'), { code: 'EINVALIDNAME' });
    t.throws(() => cgroupPaths({ name: 'web', uid }, name, 'podns'), { code: 'EINVALIDNAME' });
  }
  for (const parent of ['..', 'a/../b', '.hidden', 'a//b/..', '', '/', 'a b', 'x/-y', 'a/b/c/d/e/f/g/h/i']) {
    t.throws(() => validateCgroupParent(parent), { code: 'EINVALIDCGROUP' }, parent);
  }
  t.throws(() => cgroupPaths({ name: 'web', uid: '../../etc' }, 'app', 'podns'), { code: 'EINVALIDCGROUP' });
});

test('ourCgroup: only a path podns makes is killed or removed from a record (a hand-edited one is left alone)', (t) => {
  t.is(ourCgroup('podns/web-1a2b3c4d', 'pod'), 'podns/web-1a2b3c4d');
  t.is(ourCgroup('/kubepods/burstable/web-1a2b3c4d/', 'pod'), 'kubepods/burstable/web-1a2b3c4d');
  t.is(ourCgroup('podns/web-1a2b3c4d/app', 'leaf'), 'podns/web-1a2b3c4d/app');
  t.is(ourCgroup(`podns/web-1a2b3c4d/${PAUSE_LEAF}`, 'leaf'), 'podns/web-1a2b3c4d/_pause');
  // hostile records: the machine's own cgroups, escapes, a pod level given as a leaf and back, non-strings
  for (const [rel, kind] of [
    ['system.slice', 'pod'], ['/', 'pod'], ['', 'leaf'], ['user.slice/user-0.slice', 'leaf'], ['podns/../system.slice/x-1a2b3c4d', 'pod'],
    ['podns/web-1a2b3c4d', 'leaf'], ['podns/web-1a2b3c4d/app', 'pod'], ['web-1a2b3c4d', 'pod'], ['podns/web-XYZ12345', 'pod'],
    ['podns/web-1a2b3c4d/../../etc', 'leaf'], ['podns/web-1a2b3c4d/App', 'leaf'], [42, 'pod'], [undefined, 'leaf'],
  ] as const) {
    t.is(ourCgroup(rel, kind), undefined, `${String(rel)} as ${kind}`);
  }
  t.is(PAUSE_LEAF.startsWith('_'), true, 'no DNS-1123 container name can equal the pause leaf');
});
