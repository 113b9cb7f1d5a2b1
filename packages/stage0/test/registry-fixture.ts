/**
 * Test fixtures for Docker registry fetching: Debian's `docker-registry` on 127.0.0.1 (plain,
 * htpasswd-protected or TLS with a self-signed certificate) with storage in a temp dir, images
 * pushed with skopeo from OCI layouts built by testkit, a loopback proxy counting requests (and
 * optionally demanding bearer tokens from its own token endpoint), and the built rkt CLI.
 * Everything is stopped in teardown; nothing leaves loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOciLayout, runCommand, runCommandOk, tmpDir, type OciLayoutOptions } from '@rktnetes/testkit';

export const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));

interface Teardownable {
  teardown(fn: () => unknown): void;
}

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

async function waitReady(scheme: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry on ${scheme}://127.0.0.1:${port} did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
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
  await waitReady(scheme, port, child, () => log);
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

/** Options of {@link push}. */
export interface PushOptions {
  /** `--all`: copy every platform of an index */
  all?: boolean;
  /** `--format v2s2`: convert to Docker schema 2 manifests (and manifest lists) */
  dockerFormat?: boolean;
  /** `--preserve-digests` (keeps uncompressed and zstd layers as they are) */
  preserve?: boolean;
  creds?: { user: string; password: string };
}

/** Builds an OCI layout and pushes it with skopeo to `registry` as `name:tag`. */
export async function pushImage(t: Teardownable, registry: Registry, name: string, layout: OciLayoutOptions, opts: PushOptions = {}): Promise<Awaited<ReturnType<typeof buildOciLayout>>> {
  const dir = await tmpDir('oci-layout', t);
  const built = await buildOciLayout(dir, { ...layout, ref: 'src' });
  await pushLayout(registry, dir, 'src', name, opts);
  return built;
}

/** Pushes `layoutDir:ref` to `registry` as `name` (`repo:tag`). */
export async function pushLayout(registry: Registry, layoutDir: string, ref: string, name: string, opts: PushOptions = {}): Promise<void> {
  const args = ['copy', '--dest-tls-verify=false', '--retry-times', '2'];
  if (opts.all) args.push('--all');
  if (opts.dockerFormat) args.push('--format', 'v2s2');
  if (opts.preserve ?? !opts.dockerFormat) args.push('--preserve-digests');
  if (opts.creds) args.push('--dest-creds', `${opts.creds.user}:${opts.creds.password}`);
  args.push(`oci:${layoutDir}:${ref}`, `docker://${registry.host}/${name}`);
  const r = await runCommand('skopeo', args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed: ${r.stderr}`);
}

/** A request seen by the {@link startProxy} proxy. */
export interface SeenRequest {
  method: string;
  path: string;
  status: number;
}

/** A loopback reverse proxy in front of a registry. */
export interface Proxy {
  host: string;
  requests: SeenRequest[];
  /** requests for blobs (`/v2/<name>/blobs/...`) */
  blobRequests(): SeenRequest[];
  reset(): void;
}

/**
 * Starts a reverse proxy to `registry` on a free port that records every request. With
 * `bearer`, it demands `Authorization: Bearer <token>` (a 401 with a `WWW-Authenticate: Bearer`
 * challenge pointing at its own `/token`, which issues tokens for these basic credentials).
 */
export async function startProxy(t: Teardownable, registry: Registry, opts: { bearer?: { user: string; password: string } } = {}): Promise<Proxy> {
  const requests: SeenRequest[] = [];
  const tokens = new Set<string>();
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const seen: SeenRequest = { method: req.method ?? 'GET', path: url.pathname, status: 0 };
    requests.push(seen);
    const reply = (status: number, headers: Record<string, string>, body: string) => {
      seen.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (opts.bearer) {
      if (url.pathname === '/token') {
        const want = `Basic ${Buffer.from(`${opts.bearer.user}:${opts.bearer.password}`).toString('base64')}`;
        if (req.headers.authorization !== want) return reply(401, { 'content-type': 'application/json' }, '{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        const token = `tok-${Math.random().toString(16).slice(2)}`;
        tokens.add(token);
        return reply(200, { 'content-type': 'application/json' }, JSON.stringify({ token, expires_in: 300 }));
      }
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
        const repo = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1] ?? '';
        return reply(
          401,
          { 'content-type': 'application/json', 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="rkt-test",scope="repository:${repo}:pull"` },
          '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
        );
      }
    }
    const headers = { ...req.headers, host: registry.host };
    delete headers.authorization;
    const up = http.request({ host: '127.0.0.1', port: registry.port, method: req.method, path: req.url, headers }, (upRes) => {
      seen.status = upRes.statusCode ?? 0;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.once('error', () => reply(502, {}, 'bad gateway'));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    host: `127.0.0.1:${port}`,
    requests,
    blobRequests: () => requests.filter((r) => /\/blobs\//.test(r.path)),
    reset: () => requests.splice(0),
  };
}

/** The rkt CLI with a private data dir and config dirs. */
export interface Rkt {
  dir: string;
  config: string;
  run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** A data dir and config dirs under a temp dir, and a runner of the built rkt. */
export async function rktEnv(t: Teardownable): Promise<Rkt> {
  const work = await tmpDir('rkt-docker', t);
  const dir = join(work, 'data');
  const config = join(work, 'config');
  mkdirSync(config);
  return {
    dir,
    config,
    run: (...args) => runCommand(process.execPath, [RKT, '--dir', dir, '--local-config', config, '--system-config', config, '--user-config', config, ...args], { timeoutMs: 120_000 }),
  };
}

/** Writes a config file below the rkt config dir (`auth.d/docker.json`, ...). */
export function writeConfig(rkt: Rkt, path: string, doc: unknown): void {
  mkdirSync(join(rkt.config, path, '..'), { recursive: true });
  writeFileSync(join(rkt.config, path), JSON.stringify(doc));
}
