// /etc/hosts, /etc/hostname and /etc/resolv.conf for the pod's containers (pods/POD/etc), written the way
// kubelet writes them (pkg/kubelet/kubelet_pods.go: managedHostsFileContent).
//
// Mode 0644, unlike the rest of the state: the container runtime bind-mounts these into containers whose
// workload may run as any uid, and every program reads /etc/hosts. They hold nothing secret, and on the
// host side they stay behind the pod directory's 0700.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIR_MODE, writeFileNew } from '../state/files.js';
import { paths } from '../state/paths.js';

export function hostsFile(hostname: string, ip: string | undefined): string {
  const lines = [
    '# Kubernetes-style hosts file, managed by podns.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    // kubelet maps the hostname to the pod IP; a pod without one (network none) gets it on loopback.
    `${ip ?? '127.0.1.1'}\t${hostname}`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * The host's resolv.conf. For a pod with its own network namespace, nameservers on loopback (a local
 * stub such as systemd-resolved's 127.0.0.53) cannot be reached from inside: they are dropped, and the
 * upstream list systemd-resolved keeps is used when there is one — what Docker and kubelet do.
 */
export function resolvConf(ownNetns: boolean): string {
  const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
  const host = read('/etc/resolv.conf') ?? '';
  if (!ownNetns) return host;
  const isLoopbackNs = (l: string): boolean => /^\s*nameserver\s+(127\.|::1\b)/.test(l);
  const hasRemote = (t: string): boolean => t.split('\n').some((l) => /^\s*nameserver\s+/.test(l) && !isLoopbackNs(l));
  let text = host;
  if (!hasRemote(text)) {
    const upstream = read('/run/systemd/resolve/resolv.conf');
    if (upstream !== undefined && hasRemote(upstream)) text = upstream;
  }
  return text.split('\n').filter((l) => !isLoopbackNs(l)).join('\n');
}

/**
 * Written once, by create, into a new directory of a pod that is not 'ready' yet: no container (and no
 * reader) uses them before the record says the pod is complete, and a create killed part way is removed
 * whole by gc. So plain O_EXCL writes, no temporary file and rename each.
 */
/** resolv.conf from a pod's own DNS settings (validated: src/pod/validate.ts validateDns). */
export function resolvConfFrom(dns: { servers: string[]; searches: string[]; options: string[] }): string {
  const lines = dns.servers.map((s) => `nameserver ${s}`);
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

export function writeEtcFiles(root: string, pod: string, o: { hostname: string; ip?: string; mode: 'own' | 'host'; dns?: { servers: string[]; searches: string[]; options: string[] } }): string {
  const dir = paths.podEtc(root, pod);
  mkdirSync(dir, { mode: DIR_MODE });
  const hosts = o.mode === 'host' && existsSync('/etc/hosts') ? readFileSync('/etc/hosts', 'utf8') : hostsFile(o.hostname, o.ip);
  writeFileNew(join(dir, 'hosts'), hosts, 0o644);
  writeFileNew(join(dir, 'hostname'), `${o.hostname}\n`, 0o644);
  writeFileNew(join(dir, 'resolv.conf'), o.dns !== undefined ? resolvConfFrom(o.dns) : resolvConf(o.mode === 'own'), 0o644);
  return dir;
}
