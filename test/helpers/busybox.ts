// A small real root filesystem for tests: the static /bin/busybox (apt busybox-static) with its applets
// as symlinks, the way busybox images are laid out. Tests that need an image build one with this instead
// of downloading anything.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pingPath } from '../../src/native/index.js';

export const BUSYBOX = '/bin/busybox';

export const APPLETS = [
  'sh', 'ash', 'wget', 'httpd', 'sleep', 'cat', 'ls', 'echo', 'env', 'id', 'hostname', 'ifconfig', 'ip', 'ps', 'true',
  'false', 'pwd', 'mkdir', 'rm', 'touch', 'nc', 'grep', 'kill', 'head', 'tail', 'test', 'readlink', 'stat', 'uname',
  'nslookup', 'netstat', 'printf', 'wc', 'sed',
];

export function busyboxAvailable(): boolean {
  return existsSync(BUSYBOX);
}

export interface BusyboxOptions {
  /** /www/index.html content (for the httpd "nginx" of the lesson) */
  www?: string;
  /** extra files: path inside the rootfs → content */
  files?: Record<string, string>;
}

/** Lays out DIR/bin/busybox, DIR/bin/<applet> → busybox, /etc, /tmp, /proc, /dev, /sys mount points. */
export function makeBusyboxRootfs(dir: string, o: BusyboxOptions = {}): string {
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'dev', 'sys', 'root', 'var', 'run']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) {
    if (!existsSync(join(dir, 'bin', a))) symlinkSync('busybox', join(dir, 'bin', a));
  }
  // busybox's ping opens a raw socket (NET_RAW, not in the default set): this one uses ping_group_range
  if (!existsSync(join(dir, 'bin', 'ping'))) {
    copyFileSync(pingPath, join(dir, 'bin', 'ping'));
    chmodSync(join(dir, 'bin', 'ping'), 0o755);
  }
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  if (o.www !== undefined) {
    mkdirSync(join(dir, 'www'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'www', 'index.html'), o.www);
  }
  for (const [p, content] of Object.entries(o.files ?? {})) {
    const full = join(dir, p);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
  }
  return dir;
}

/** A rootfs tarball as `docker export` writes one (members relative to /, no leading ./ directory name). */
export function makeBusyboxTar(workDir: string, tarPath: string, o: BusyboxOptions & { compress?: 'gzip' | 'xz' } = {}): string {
  const dir = makeBusyboxRootfs(join(workDir, 'rootfs-src'), o);
  const flags = o.compress === 'gzip' ? ['-z'] : o.compress === 'xz' ? ['-J'] : [];
  execFileSync('tar', ['-c', ...flags, '-f', tarPath, '-C', dir, '--numeric-owner', '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return tarPath;
}
