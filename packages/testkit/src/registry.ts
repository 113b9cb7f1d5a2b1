/**
 * Debian's `docker-registry` for tests: started on a free loopback port with storage in a temp
 * dir (optionally behind htpasswd, optionally TLS with a self-signed certificate for
 * 127.0.0.1), images pushed to it with skopeo from OCI layouts, stopped at teardown. Nothing
 * leaves loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { runCommand, runCommandOk } from './exec';
import { tmpDir, type Teardownable } from './tmp';

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Stops a child with SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Waits until 127.0.0.1:`port` accepts connections; fails when `child` exits or after 30 s. */
async function waitPort(what: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} on 127.0.0.1:${port} did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running registry. */
export interface Registry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  /** root of the registry's filesystem storage */
  storage: string;
  /** `https` for a TLS registry */
  scheme: 'http' | 'https';
  /** path of a blob's data in the storage */
  blobData(digest: string): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** require these credentials (htpasswd, bcrypt) */
  htpasswd?: { user: string; password: string };
  /** serve TLS with a self-signed certificate for 127.0.0.1 */
  tls?: boolean;
}

/** Starts `docker-registry serve` on a free loopback port; stopped at teardown. */
export async function startRegistry(t: Teardownable, opts: RegistryOptions = {}): Promise<Registry> {
  const dir = await tmpDir('registry', t);
  const storage = join(dir, 'storage');
  mkdirSync(storage);
  const port = await freePort();
  const lines = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${storage}`, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`];
  if (opts.tls) {
    await runCommandOk('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ]);
    lines.push('  tls:', `    certificate: ${join(dir, 'cert.pem')}`, `    key: ${join(dir, 'key.pem')}`);
  }
  if (opts.htpasswd) {
    const r = await runCommandOk('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password]);
    writeFileSync(join(dir, 'htpasswd'), r.stdout);
    lines.push('auth:', '  htpasswd:', '    realm: rkt-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  writeFileSync(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (log.length < 8192) log += d.toString();
  });
  const stop = () => stopChild(child);
  t.teardown(stop);
  const scheme = opts.tls ? 'https' : 'http';
  await waitPort(`docker-registry (${scheme})`, port, child, () => log);
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    scheme,
    blobData: (digest) => {
      const hex = digest.split(':')[1] ?? '';
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}

/** Options of {@link pushLayout}. */
export interface PushOptions {
  /** `--all`: copy every platform of an index */
  all?: boolean;
  /** `--format v2s2`: convert to Docker schema 2 manifests (and manifest lists) */
  dockerFormat?: boolean;
  /** `--preserve-digests` (keeps uncompressed and zstd layers as they are; default unless dockerFormat) */
  preserve?: boolean;
  creds?: { user: string; password: string };
}

/** Pushes `layoutDir:ref` with skopeo to `registry` as `name` (`repo:tag`). */
export async function pushLayout(registry: Pick<Registry, 'host'>, layoutDir: string, ref: string, name: string, opts: PushOptions = {}): Promise<void> {
  const args = ['copy', '--dest-tls-verify=false', '--retry-times', '2'];
  if (opts.all) args.push('--all');
  if (opts.dockerFormat) args.push('--format', 'v2s2');
  if (opts.preserve ?? !opts.dockerFormat) args.push('--preserve-digests');
  if (opts.creds) args.push('--dest-creds', `${opts.creds.user}:${opts.creds.password}`);
  args.push(`oci:${layoutDir}:${ref}`, `docker://${registry.host}/${name}`);
  const r = await runCommand('skopeo', args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed: ${r.stderr}`);
}
