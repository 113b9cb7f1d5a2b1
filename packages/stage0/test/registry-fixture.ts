/**
 * Test fixtures for Docker registry fetching: Debian's `docker-registry` on 127.0.0.1 (plain,
 * htpasswd-protected or TLS with a self-signed certificate) with storage in a temp dir, images
 * pushed with skopeo from OCI layouts built by testkit, a loopback proxy counting requests (and
 * optionally demanding bearer tokens from its own token endpoint), and the built rkt CLI.
 * Everything is stopped in teardown; nothing leaves loopback.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOciLayout, freePort, pushLayout, runCommand, tmpDir, type OciLayoutOptions, type PushOptions, type Registry } from '@rktnetes/testkit';

export const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export { freePort, pushLayout, startRegistry, type PushOptions, type Registry, type RegistryOptions } from '@rktnetes/testkit';

/** Builds an OCI layout and pushes it with skopeo to `registry` as `name:tag`. */
export async function pushImage(t: Teardownable, registry: Registry, name: string, layout: OciLayoutOptions, opts: PushOptions = {}): Promise<Awaited<ReturnType<typeof buildOciLayout>>> {
  const dir = await tmpDir('oci-layout', t);
  const built = await buildOciLayout(dir, { ...layout, ref: 'src' });
  await pushLayout(registry, dir, 'src', name, opts);
  return built;
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
