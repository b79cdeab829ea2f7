// The stats readers and the pure parts against fake cgroupfs trees (the files laid out and worded as each
// kernel driver writes them): runs on any machine, unprivileged.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CgroupHost } from '../../src/cgroups/index.js';
import {
  binBytes, computeStats, decBytes, fromCgroup, parseBlkioV1, parseIoStatV2, statsRows, systemCpu, type Sample,
} from '../../src/views/stats.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'podns-stats-fake-'));
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), v);
  }
  return root;
}

const REL = 'podns/web-0123abcd/app';

test('v1: usage minus total_inactive_file, the huge default limit is no limit, pids.current, blkio recursive totals', (t) => {
  const root = tree({
    [`memory/${REL}/memory.usage_in_bytes`]: '50000000\n',
    [`memory/${REL}/memory.stat`]: 'cache 9000000\nrss 41000000\npgfault 5\ninactive_file 100\ntotal_cache 9000000\ntotal_rss 41000001\ntotal_pgfault 777\ntotal_pgmajfault 3\ntotal_inactive_file 8000000\n',
    [`memory/${REL}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`cpu,cpuacct/${REL}/cpuacct.usage`]: '123456789\n',
    [`pids/${REL}/pids.current`]: '3\n',
    [`blkio/${REL}/blkio.throttle.io_service_bytes_recursive`]:
      '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1\n8:16 Write 2\nTotal 12291\n',
  });
  try {
    const host: CgroupHost = { driver: 'v1', controllers: ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'], unified: null,
      mounts: { cpu: join(root, 'cpu,cpuacct'), cpuacct: join(root, 'cpu,cpuacct'), memory: join(root, 'memory'), pids: join(root, 'pids'), blkio: join(root, 'blkio') } };
    const n = fromCgroup(host, REL)!;
    t.is(n.memoryUsage, 42_000_000);
    t.is(n.memoryLimit, null, 'the v1 default is not a limit');
    t.is(n.cpuNs, 123456789);
    t.is(n.pids, 3);
    t.is(n.blockRead, 4097);
    t.is(n.blockWrite, 8194);
    t.is(n.dir, join(root, 'memory', REL));
    t.deepEqual(n.memory, { rss: 41000001, pageFaults: 777, majorPageFaults: 3 }, 'the CRI\'s rss and faults: the total_ (hierarchical) counters');
    writeFileSync(join(root, 'memory', REL, 'memory.limit_in_bytes'), '67108864\n');
    t.is(fromCgroup(host, REL)!.memoryLimit, 67108864);
    t.is(fromCgroup(host, 'podns/web-0123abcd/other'), undefined, 'no cgroup directory: not a cgroup row');
    // a container limited in memory only has no cpu, pids or blkio cgroup: those are null (/proc fills them)
    for (const c of ['cpu,cpuacct', 'pids', 'blkio']) rmSync(join(root, c), { recursive: true });
    const m = fromCgroup(host, REL)!;
    t.is(m.memoryLimit, 67108864);
    t.deepEqual([m.cpuNs, m.pids, m.blockRead, m.blockWrite], [null, null, null, null]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('v2: memory.current minus inactive_file, memory.max, cpu.stat usage_usec, io.stat', (t) => {
  const root = tree({
    [`${REL}/memory.current`]: '30000000\n',
    [`${REL}/memory.stat`]: 'anon 20000000\nfile 10000000\ninactive_file 5000000\nactive_file 5000000\npgfault 4242\npgmajfault 7\n',
    [`${REL}/memory.max`]: 'max\n',
    [`${REL}/cpu.stat`]: 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n',
    [`${REL}/pids.current`]: '2\n',
    [`${REL}/io.stat`]: '8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n',
  });
  try {
    const host: CgroupHost = { driver: 'v2', mountPoint: root, controllers: ['cpu', 'memory', 'pids', 'io'] };
    const n = fromCgroup(host, REL)!;
    t.is(n.memoryUsage, 25_000_000);
    t.is(n.memoryLimit, null);
    t.is(n.cpuNs, 2_500_000);
    t.is(n.pids, 2);
    t.deepEqual([n.blockRead, n.blockWrite], [1001, 2002]);
    t.deepEqual(n.memory, { rss: 20000000, pageFaults: 4242, majorPageFaults: 7 }, 'the CRI\'s rss (anon) and faults');
    writeFileSync(join(root, REL, 'memory.max'), '104857600\n');
    t.is(fromCgroup(host, REL)!.memoryLimit, 104857600);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('parsers and the CPU % of two samples (docker: container delta over system delta, times the CPUs)', (t) => {
  t.deepEqual(systemCpu('cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 50 0 25 425 0 0 0 0 0 0\ncpu1 50 0 25 425 0 0 0 0 0 0\nintr 1\n'),
    { systemNs: 1000 * 10_000_000, onlineCpus: 2 });
  t.is(parseBlkioV1(undefined), null);
  t.is(parseIoStatV2(undefined), null);
  const all = { cpu: 'cgroup', memory: 'cgroup', pids: 'cgroup', blockIO: 'cgroup' } as const;
  const c = { pod: 'p', container: 'a', state: 'running', source: 'cgroup' as const, sources: all, cgroup: '/x', memoryUsage: 1 << 20, memoryLimit: 4 << 20, pids: 1, blockRead: 0, blockWrite: 0 };
  const a: Sample = { systemNs: 0, onlineCpus: 2, pods: [{ pod: 'p', netRx: 1, netTx: 2, containers: [{ ...c, cpuNs: 0 }] }] };
  // 2 s of machine time over 2 CPUs is 1 s; the container used 0.5 s: 50% of one CPU
  const b: Sample = { systemNs: 2e9, onlineCpus: 2, pods: [{ pod: 'p', netRx: 1, netTx: 2, containers: [{ ...c, cpuNs: 5e8 }] }] };
  const v = computeStats(a, b, 1 << 30);
  t.is(v.containers[0]!.cpuPercent, 50);
  t.is(v.containers[0]!.memoryPercent, 25);
  t.is(v.intervalNs, 1e9);
  const row = statsRows(v)[0]!;
  t.deepEqual(row, ['p', 'a', '50.00%', '1MiB / 4MiB', '25.00%', '1B / 2B', '0B / 0B', '1', 'cgroup']);
  // a cgroup row without a limit says so; a first sample of another source gives no CPU %
  const u = computeStats({ ...a, pods: [{ ...a.pods[0]!, containers: [{ ...c, source: 'proc', sources: { ...all, cpu: 'proc' }, cpuNs: 0 }] }] },
    { ...b, pods: [{ ...b.pods[0]!, containers: [{ ...c, cpuNs: 5e8, memoryLimit: null }] }] }, 1 << 30);
  t.is(u.containers[0]!.cpuPercent, null);
  t.is(statsRows(u)[0]![3], '1MiB / unlimited');
  t.is(binBytes(1536), '1.5KiB');
  t.is(decBytes(1234567), '1.235MB');
});
