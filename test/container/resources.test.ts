// Kubernetes quantities, the kubelet's cgroup numbers and the pod QoS class: pure functions, no kernel.
import test from 'ava';
import {
  cgroupValues, milliCpuToQuota, milliCpuToShares, normalizeQuantity, parseMemoryBytes, parseMilliCpu,
  podQosClass, validateResources,
} from '../../src/container/resources.js';
import { MAX_CPU_SHARES as MAX_SHARES, sharesToWeight } from '../../src/cgroups/plan.js';
import { QuantityError } from '../../src/util/units.js';
import { PodnsError } from '../../src/errors.js';
import type { ContainerResources } from '../../src/pod/types.js';

// [written, millicores] — as resource.Quantity.MilliValue() gives them (rounded up)
const CPU: Array<[string, number]> = [
  ['500m', 500], ['0.5', 500], ['.5', 500], ['0.1', 100], ['2', 2000], ['1.5', 1500], ['1.', 1000], ['+1', 1000],
  ['2500m', 2500], ['1m', 1], ['0', 0], ['-0', 0], ['0.000', 0], ['1e3', 1_000_000], ['1E3', 1_000_000], ['1e-3', 1],
  ['1e+0', 1000], ['0.0001', 1], ['100u', 1], ['0.9n', 1], ['1k', 1_000_000], ['1M', 1_000_000_000], ['1Ki', 1_024_000],
  ['007', 7000], ['0.30000000000000004', 301],
];

test('cpu quantities: millicores as Kubernetes reads them', (t) => {
  for (const [s, milli] of CPU) t.is(parseMilliCpu(s), milli, s);
});

// [written, bytes, fractional] — resource.Quantity.Value(), rounded up to a whole byte
const MEMORY: Array<[string, number, boolean]> = [
  ['128Mi', 134_217_728, false], ['1Gi', 1_073_741_824, false], ['1.5Gi', 1_610_612_736, false], ['1G', 1e9, false],
  ['1k', 1000, false], ['1Ki', 1024, false], ['1e3', 1000, false], ['0.5Ki', 512, false], ['512', 512, false],
  ['100m', 1, true], ['1500m', 2, true], ['1e-3', 1, true], ['0', 0, false], ['7Pi', 7 * 2 ** 50, false], ['.5Mi', 524_288, false],
  ['1.G', 1e9, false], ['1E', -1, false],
];

test('memory quantities: bytes, decimal and binary suffixes, fractions rounded up', (t) => {
  for (const [s, bytes, fractional] of MEMORY) {
    if (bytes < 0) {
      t.throws(() => parseMemoryBytes(s), { instanceOf: QuantityError, message: /more memory than podns accepts/ }, s);
      continue;
    }
    t.deepEqual({ bytes: parseMemoryBytes(s).bytes, fractional: parseMemoryBytes(s).fractional }, { bytes, fractional }, s);
  }
});

test('normalised text: Kubernetes canonical forms', (t) => {
  const cases: Array<['cpu' | 'memory', string, string]> = [
    ['cpu', '0.5', '500m'], ['cpu', '2', '2'], ['cpu', '2000m', '2'], ['cpu', '1.5', '1500m'], ['cpu', '0.1', '100m'], ['cpu', '0', '0'],
    ['memory', '1.5Gi', '1536Mi'], ['memory', '1024Ki', '1Mi'], ['memory', '128Mi', '128Mi'], ['memory', '1G', '1G'],
    ['memory', '1000M', '1G'], ['memory', '1500000', '1500k'], ['memory', '1e3', '1k'], ['memory', '0.5Ki', '512'],
    ['memory', '100m', '1'], ['memory', '1000Ki', '1000Ki'],
  ];
  for (const [r, s, want] of cases) t.is(normalizeQuantity(r, s), want, `${r} ${s}`);
});

test('bad quantities: one clear reason each', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /"" is not a quantity; write a number with an optional suffix/],
    ['abc', /"abc" is not a quantity/],
    ['.', /"\." is not a quantity/],
    ['--1', /"--1" is not a quantity/],
    [' 1', /" 1" is not a quantity/],
    ['1K', /unknown suffix "K" \(kilo is a lowercase k: 1k = 1000; or Ki = 1024\)/],
    ['1GB', /unknown suffix "GB" \(Kubernetes writes Ki Mi Gi Ti Pi Ei or k M G T P E, no B\)/],
    ['1ki', /unknown suffix "ki"/],
    ['1e', /unknown suffix "e"/],
    ['1 Gi', /unknown suffix " Gi"/],
    ['1.5.3', /unknown suffix "\.3"/],
    ['0x10', /unknown suffix "x10"/],
    ['Infinity', /"Infinity" is not a quantity/],
    ['-1', /"-1" is negative; a cpu or memory amount is 0 or more/],
    ['-500m', /is negative/],
    ['1e100', /the exponent e100 is out of range/],
    ['9'.repeat(70), /is too long for a quantity/],
  ];
  for (const [s, re] of bad) {
    t.throws(() => parseMilliCpu(s), { instanceOf: QuantityError, message: re }, `cpu ${s}`);
    t.throws(() => parseMemoryBytes(s), { instanceOf: QuantityError, message: re }, `memory ${s}`);
  }
  // absurd amounts
  t.throws(() => parseMilliCpu('1000001'), { message: /"1000001" is more cpu than podns accepts \(at most 1000000 cores\)/ });
  t.throws(() => parseMilliCpu('1G'), { message: /more cpu than podns accepts/ });
  t.is(parseMilliCpu('1000000'), 1e9);
  t.throws(() => parseMemoryBytes('8Pi'), { message: /"8Pi" is more memory than podns accepts/ });
  t.throws(() => parseMemoryBytes('1Ei'), { message: /more memory than podns accepts/ });
  t.throws(() => parseMemoryBytes('99999999999999999999999999'), { message: /more memory than podns accepts/ });
});

test('cpu limit → CFS quota per 100 ms period, never below 1 ms', (t) => {
  const cases: Array<[number, number | undefined]> = [[0, undefined], [1, 1000], [10, 1000], [11, 1100], [250, 25000], [500, 50000], [1000, 100000], [2000, 200000], [1500, 150000]];
  for (const [m, q] of cases) t.is(milliCpuToQuota(m), q, `${m}m`);
});

test('cpu request → v1 shares (2 for none, 1024 per core, capped) and v2 weight', (t) => {
  const shares: Array<[number, number]> = [[0, 2], [1, 2], [2, 2], [3, 3], [100, 102], [250, 256], [500, 512], [1000, 1024], [256000, MAX_SHARES], [1_000_000, MAX_SHARES]];
  for (const [m, s] of shares) t.is(milliCpuToShares(m), s, `${m}m`);
  // runc's documented points: 2 → 1, 1024 → 39, 262144 → 10000
  const weight: Array<[number, number]> = [[2, 1], [1024, 39], [262144, 10000], [512, 20], [102, 4], [256, 10]];
  for (const [s, w] of weight) t.is(sharesToWeight(s), w, `shares ${s}`);
});

test('cgroupValues: what the kubelet writes for a container', (t) => {
  t.deepEqual(cgroupValues(undefined), { cpuPeriod: 100000, cpuShares: 2, cpuWeight: 1 });
  t.deepEqual(cgroupValues({ limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '500m', memory: '128Mi' } }),
    { cpuQuota: 50000, cpuPeriod: 100000, cpuShares: 512, cpuWeight: 20, memoryLimit: 134217728 });
  // a limit without a request: the shares follow the limit
  t.deepEqual(cgroupValues({ limits: { cpu: '1' } }), { cpuQuota: 100000, cpuPeriod: 100000, cpuShares: 1024, cpuWeight: 39 });
  t.deepEqual(cgroupValues({ requests: { cpu: '250m', memory: '64Mi' } }), { cpuPeriod: 100000, cpuShares: 256, cpuWeight: 10 });
  t.deepEqual(cgroupValues({ limits: { memory: '100m' } }), { cpuPeriod: 100000, cpuShares: 2, cpuWeight: 1, memoryLimit: 1 });
});

test('pod QoS class as Kubernetes computes it', (t) => {
  const G = { limits: { cpu: '1', memory: '1Gi' } };
  const cases: Array<[Array<ContainerResources | undefined>, string]> = [
    [[], 'BestEffort'],
    [[undefined], 'BestEffort'],
    [[{}], 'BestEffort'],
    [[{ limits: { cpu: '0', memory: '0' } }], 'BestEffort'],
    [[{ requests: { cpu: '0' } }, undefined], 'BestEffort'],
    [[G], 'Guaranteed'],
    [[{ ...G, requests: { cpu: '1', memory: '1Gi' } }], 'Guaranteed'],
    [[{ ...G, requests: { cpu: '1000m', memory: '1024Mi' } }], 'Guaranteed'],
    [[G, { limits: { cpu: '500m', memory: '64Mi' } }], 'Guaranteed'],
    [[G, undefined], 'Burstable'],
    [[G, {}], 'Burstable'],
    [[{ ...G, requests: { cpu: '500m' } }], 'Burstable'],
    [[{ ...G, requests: { cpu: '0' } }], 'Burstable'],
    [[{ limits: { cpu: '1' } }], 'Burstable'],
    [[{ limits: { memory: '1Gi' } }], 'Burstable'],
    [[{ requests: { cpu: '100m' } }], 'Burstable'],
    [[{ requests: { memory: '1Mi' } }, undefined], 'Burstable'],
    [[{ limits: { cpu: '1', memory: '0' } }], 'Burstable'],
  ];
  for (const [rs, want] of cases) t.is(podQosClass(rs) as string, want, JSON.stringify(rs));
});

test('validateResources (library API): normalised, defaulted, request above limit refused', (t) => {
  t.is(validateResources(undefined), undefined);
  t.is(validateResources({}), undefined);
  t.deepEqual(validateResources({ limits: { cpu: '0.5', memory: '1.5Gi' }, requests: { cpu: '100m' } }),
    { limits: { cpu: '500m', memory: '1536Mi' }, requests: { cpu: '100m', memory: '1536Mi' } });
  const bad: Array<[unknown, RegExp]> = [
    [{ limits: { cpu: '1' }, requests: { cpu: '2' } }, /^resources\.requests\.cpu 2 is more than the cpu limit 1; a request must be at most its limit$/],
    [{ limits: { memory: '1K' } }, /^resources\.limits\.memory: "1K" has an unknown suffix "K"/],
    [{ limits: { cpus: '1' } }, /^resources\.limits\.cpus: podns knows only cpu and memory$/],
    [{ requests: { cpu: 1 } }, /^resources\.requests\.cpu must be a quantity string/],
    [{ limits: { memory: '-1Gi' } }, /is negative/],
  ];
  for (const [r, re] of bad) {
    const err = t.throws(() => validateResources(r as ContainerResources), { instanceOf: PodnsError, message: re });
    t.is((err as PodnsError).code, 'EUSAGE');
  }
});
