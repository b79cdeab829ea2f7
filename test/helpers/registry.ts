// Debian's real registry (docker-registry, distribution 2.8) for tests, on 127.0.0.1 inside the test sandbox,
// with a generated config (filesystem storage in the test's directory; optional htpasswd and TLS), and fixtures
// made with umoci (a busybox-static image) and pushed with skopeo. Nothing here leaves loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUSYBOX } from './busybox.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function registryToolsMissing(): string | undefined {
  for (const [bin, pkg] of [[REGISTRY_BIN, 'docker-registry'], ['/usr/bin/skopeo', 'skopeo'], ['/usr/bin/umoci', 'umoci'], [BUSYBOX, 'busybox-static']] as const) {
    if (!existsSync(bin)) return `${bin} missing; apt install ${pkg}`;
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (bound and released: good enough inside the sandbox's own network namespace). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  /** starts it again on the same port and storage (after stop) */
  start(): Promise<void>;
}

export interface RegistryOptions {
  /** htpasswd file (bcrypt lines) */
  htpasswd?: string;
  tls?: { cert: string; key: string; ca?: string };
}

/** Starts docker-registry on 127.0.0.1 with storage in DIR/storage; resolves when /v2/ answers. */
export async function startRegistry(dir: string, o: RegistryOptions = {}): Promise<RunningRegistry> {
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const cfg = join(dir, 'config.yml');
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (o.tls) lines.push('  tls:', `    certificate: ${o.tls.cert}`, `    key: ${o.tls.key}`);
  if (o.htpasswd) lines.push('auth:', '  htpasswd:', '    realm: podns-test', `    path: ${o.htpasswd}`);
  writeFileSync(cfg, lines.join('\n') + '\n');
  let child: ChildProcess | undefined;
  const reg: RunningRegistry = {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      const c = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      let stderr = '';
      c.stderr!.setEncoding('utf8').on('data', (s: string) => {
        if (stderr.length < 8192) stderr += s;
      });
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (c.exitCode !== null) throw new Error(`docker-registry exited ${c.exitCode}: ${stderr}`);
        if (await answers(port, o.tls?.ca)) return;
        if (Date.now() > deadline) throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${stderr}`);
        await sleep(50);
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
  await reg.start();
  return reg;
}

function answers(port: number, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const mod = ca !== undefined ? https : http;
    const req = mod.request({ host: '127.0.0.1', port, path: '/v2/', method: 'GET', timeout: 1000, ...(ca !== undefined ? { ca, rejectUnauthorized: false } : {}) }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** An OCI layout DIR with image TAG: /bin/busybox and optional files, config cmd sh, the given architecture. */
export async function makeOciImage(dir: string, o: { tag?: string; arch?: string; files?: Record<string, string> } = {}): Promise<{ layout: string; tag: string }> {
  const layout = join(dir, 'oci');
  const tag = o.tag ?? 'latest';
  if (!existsSync(join(layout, 'oci-layout'))) await execa('umoci', ['init', '--layout', layout]);
  await execa('umoci', ['new', '--image', `${layout}:${tag}`]);
  await execa('umoci', ['insert', '--image', `${layout}:${tag}`, BUSYBOX, '/bin/busybox']);
  for (const [path, content] of Object.entries(o.files ?? {})) {
    const f = join(dir, `file-${createHash('sha256').update(path).digest('hex').slice(0, 12)}`);
    writeFileSync(f, content);
    await execa('umoci', ['insert', '--image', `${layout}:${tag}`, f, path]);
  }
  const cfg = ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/bin/busybox', '--config.cmd', 'sh'];
  if (o.arch !== undefined) cfg.push('--architecture', o.arch);
  await execa('umoci', cfg);
  return { layout, tag };
}

/** skopeo copy SRC → docker://HOST/DEST over plain HTTP or the given CA dir / credentials. */
export async function skopeoCopy(src: string, dest: string, extra: string[] = []): Promise<void> {
  await execa('skopeo', ['copy', '--quiet', ...extra, src, dest], { env: { TMPDIR: '/tmp' } });
}

/** PUT of a manifest (an index the test writes itself) on the registry. */
export async function putManifest(host: string, repo: string, tag: string, body: Buffer, mediaType: string, o: { ca?: string; auth?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const [hostname, port] = host.split(':');
    const mod = o.ca !== undefined ? https : http;
    const req = mod.request({
      host: hostname, port: Number(port), path: `/v2/${repo}/manifests/${tag}`, method: 'PUT',
      headers: { 'content-type': mediaType, 'content-length': body.length, ...(o.auth ? { authorization: o.auth } : {}) },
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s));
      res.on('end', () => (res.statusCode === 201 ? resolve(String(res.headers['docker-content-digest'])) : reject(new Error(`PUT manifest: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** GET of a manifest (for the test's own checks). */
export async function getJson(host: string, path: string, accept: string): Promise<{ body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const [hostname, port] = host.split(':');
    const req = http.request({ host: hostname, port: Number(port), path, headers: { accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve({ body: Buffer.concat(chunks), headers: res.headers }) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An OCI layout DIR/oci with image TAG holding the directory ROOTFS as one layer (umoci unpack, copy, repack),
 * with CMD as its config's Cmd. For images such as the lesson's, made from makeBusyboxRootfs. */
export async function makeRootfsImage(dir: string, rootfs: string, o: { tag?: string; cmd?: string[]; user?: string } = {}): Promise<{ layout: string; tag: string }> {
  const layout = join(dir, 'oci');
  const tag = o.tag ?? 'latest';
  if (!existsSync(join(layout, 'oci-layout'))) await execa('umoci', ['init', '--layout', layout]);
  await execa('umoci', ['new', '--image', `${layout}:${tag}`]);
  const bundle = join(dir, `bundle-${tag}`);
  await execa('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  await execa('cp', ['-a', `${rootfs}/.`, join(bundle, 'rootfs')]);
  await execa('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  await execa('rm', ['-rf', bundle]);
  const cfg = ['config', '--image', `${layout}:${tag}`];
  for (const c of o.cmd ?? []) cfg.push('--config.cmd', c);
  if (o.user !== undefined) cfg.push('--config.user', o.user);
  await execa('umoci', cfg);
  return { layout, tag };
}
