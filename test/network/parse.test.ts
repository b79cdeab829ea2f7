// Input parsing and IP arithmetic: one-line errors for bad input. Pure: runs everywhere, no root.
import test from 'ava';
import { PodnsError } from '../../src/errors.js';
import { resolveConfig, checkAgainstOthers, DEFAULT_NETWORK } from '../../src/network/config.js';
import { broadcastOf, contains, intToIp, ipToInt, overlaps, parseCidr } from '../../src/network/ip.js';
import { macForIp } from '../../src/network/mac.js';
import { hostVethName } from '../../src/network/pod.js';
import { formatPublish, parsePublish, portMappingBatch } from '../../src/network/ports.js';

function oneLineError(t: import('ava').ExecutionContext, fn: () => unknown, code: string, re: RegExp): void {
  const err = t.throws(fn, { instanceOf: PodnsError });
  t.is(err?.code, code);
  t.regex(err?.message ?? '', re);
  t.false((err?.message ?? '').includes('\n'), 'one line');
}

test('ipToInt / intToIp round trip; leading zeros and out-of-range octets are not addresses', (t) => {
  t.is(ipToInt('10.89.0.1'), 0x0a590001);
  t.is(intToIp(0xffffffff), '255.255.255.255');
  t.is(ipToInt('010.0.0.1'), undefined);
  t.is(ipToInt('10.0.0.256'), undefined);
  t.is(ipToInt('10.0.0'), undefined);
  t.is(ipToInt(' 10.0.0.1'), undefined);
});

test('parseCidr: network, prefix, broadcast, containment, overlap', (t) => {
  const c = parseCidr('10.89.0.0/16');
  t.is(c.text, '10.89.0.0/16');
  t.is(intToIp(broadcastOf(c)), '10.89.255.255');
  t.true(contains(c, ipToInt('10.89.200.3')!));
  t.false(contains(c, ipToInt('10.90.0.1')!));
  t.true(overlaps(c, parseCidr('10.89.3.0/24')));
  t.true(overlaps(parseCidr('10.0.0.0/8'), c));
  t.false(overlaps(c, parseCidr('10.90.0.0/16')));
  t.is(parseCidr('0.0.0.0/0').prefixLength, 0);
});

test('bad CIDRs: one line naming the input and the fix', (t) => {
  oneLineError(t, () => parseCidr('10.89.0.0'), 'EINVALIDCIDR', /invalid subnet "10\.89\.0\.0": .*A\.B\.C\.D\/N/);
  oneLineError(t, () => parseCidr('10.300.0.0/16', '--subnet'), 'EINVALIDCIDR', /invalid --subnet "10\.300\.0\.0\/16"/);
  oneLineError(t, () => parseCidr('10.89.0.0/33'), 'EINVALIDCIDR', /invalid subnet/);
  oneLineError(t, () => parseCidr('10.89.0.5/16'), 'EINVALIDCIDR', /host bits are set; did you mean 10\.89\.0\.0\/16\?/);
});

test('resolveConfig: defaults, derived gateway, and one-line errors for bad networks', (t) => {
  t.deepEqual(resolveConfig({}), { ...DEFAULT_NETWORK });
  t.deepEqual(resolveConfig({ bridge: 'ptx', subnet: '10.241.9.0/24' }),
    { name: 'ptx', bridge: 'ptx', subnet: '10.241.9.0/24', gateway: '10.241.9.1', mtu: 1500 });
  oneLineError(t, () => resolveConfig({ bridge: 'ptx', subnet: '10.241.9.0/24', gateway: '10.241.10.1' }),
    'EGATEWAY', /gateway 10\.241\.10\.1 is outside subnet 10\.241\.9\.0\/24: give a --gateway inside it, e\.g\. 10\.241\.9\.1/);
  oneLineError(t, () => resolveConfig({ bridge: 'ptx', subnet: '10.241.9.0/24', gateway: '10.241.9.255' }), 'EGATEWAY', /broadcast address/);
  oneLineError(t, () => resolveConfig({ bridge: 'ptx', subnet: '10.241.9.0/24', gateway: 'gw' }), 'EINVALIDIP', /invalid --gateway "gw"/);
  oneLineError(t, () => resolveConfig({ bridge: 'ptx', subnet: '10.241.9.0/31' }), 'EINVALIDCIDR', /\/8 to \/30/);
  oneLineError(t, () => resolveConfig({ bridge: 'ptx' }), 'ENOSUBNET', /give its --subnet/);
  oneLineError(t, () => resolveConfig({ bridge: 'bad/name', subnet: '10.241.9.0/24' }), 'EINVALIDIFNAME', /invalid bridge name/);
  oneLineError(t, () => resolveConfig({ bridge: 'ptx', subnet: '10.241.9.0/24', mtu: 20 }), 'EINVALIDMTU', /invalid MTU 20/);
});

test('a new network may not overlap another network or take its bridge', (t) => {
  const a = resolveConfig({ bridge: 'pta', subnet: '10.241.0.0/16' });
  oneLineError(t, () => checkAgainstOthers(resolveConfig({ bridge: 'ptb', subnet: '10.241.5.0/24' }), [a]),
    'ESUBNETOVERLAP', /overlaps 10\.241\.0\.0\/16 of network "pta"/);
  oneLineError(t, () => checkAgainstOthers({ ...resolveConfig({ name: 'other', bridge: 'pta', subnet: '10.242.0.0/24' }) }, [a]),
    'ENETCONFLICT', /bridge pta already belongs to network "pta"/);
  t.notThrows(() => checkAgainstOthers(resolveConfig({ bridge: 'ptb', subnet: '10.242.0.0/24' }), [a]));
});

test('parsePublish: HOSTPORT:PORT[/proto], PORT alone, and one-line errors', (t) => {
  t.deepEqual(parsePublish('8080:80/tcp'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePublish('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePublish('53:53/UDP'), { hostPort: 53, containerPort: 53, protocol: 'udp' });
  t.deepEqual(parsePublish('9000'), { hostPort: 9000, containerPort: 9000, protocol: 'tcp' });
  t.is(formatPublish(parsePublish('1:65535/udp')), '1:65535/udp');
  oneLineError(t, () => parsePublish('8080:80/sctp'), 'EINVALIDPUBLISH', /protocol "sctp" is not tcp or udp/);
  oneLineError(t, () => parsePublish('70000:80'), 'EINVALIDPUBLISH', /host port "70000" is not a port from 1 to 65535/);
  oneLineError(t, () => parsePublish('8080:0'), 'EINVALIDPUBLISH', /container port "0"/);
  oneLineError(t, () => parsePublish('127.0.0.1:8080:80'), 'EINVALIDPUBLISH', /binding to a host address is not supported/);
  oneLineError(t, () => parsePublish(':80'), 'EINVALIDPUBLISH', /write HOSTPORT:PORT/);
  oneLineError(t, () => parsePublish('web'), 'EINVALIDPUBLISH', /port "web"/);
});

test('hostVethName: pn + 12 hex digits, fits IFNAMSIZ, differs per pod uid', (t) => {
  const a = hostVethName('web', '1b4e28ba-2fa1-11d2-883f-0016d3cca427');
  t.regex(a, /^pn[0-9a-f]{12}$/);
  t.true(a.length <= 15);
  t.is(a, hostVethName('web', '1b4e28ba-2fa1-11d2-883f-0016d3cca427'));
  t.not(a, hostVethName('web', '6fa459ea-ee8a-3ca4-894e-db77e160355e'));
  t.not(a, hostVethName('web2', '1b4e28ba-2fa1-11d2-883f-0016d3cca427'));
});

test('macForIp: locally administered unicast 0a:58 + the address', (t) => {
  t.is(macForIp('10.89.0.5'), '0a:58:0a:59:00:05');
  t.is(macForIp('192.168.255.1'), '0a:58:c0:a8:ff:01');
});

test('port mapping batch: per-pod base chains, DNAT for local addresses, masquerade for 127/8 and hairpin', (t) => {
  process.env.PODNS_NFT_TABLE = 'podns_unit';
  const batch = portMappingBatch('web-1', '10.89.0.5', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], '10.89.0.0/16');
  t.true(batch.startsWith('add table ip podns_unit\n'));
  for (const c of ['pre', 'out', 'post']) t.true(batch.includes(`flush chain ip podns_unit pod-web-1-${c}\n`));
  t.true(batch.includes('add rule ip podns_unit pod-web-1-pre fib daddr type local tcp dport 8080 dnat to 10.89.0.5:80 comment "podns:web-1"'));
  t.true(batch.includes('add rule ip podns_unit pod-web-1-out fib daddr type local tcp dport 8080 dnat to 10.89.0.5:80'));
  t.true(batch.includes('ip saddr 127.0.0.0/8 ip daddr 10.89.0.5 tcp dport 80 ct status dnat masquerade'));
  t.true(batch.includes('ip saddr 10.89.0.0/16 ip daddr 10.89.0.5 tcp dport 80 ct status dnat masquerade'));
  t.throws(() => portMappingBatch('Bad_Name', '10.89.0.5', []), { instanceOf: PodnsError });
  t.throws(() => portMappingBatch('web', '10.89.0.5', [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }]), { instanceOf: PodnsError });
  delete process.env.PODNS_NFT_TABLE;
});
