/**
 * Real HTTP and HTTPS servers for fetch, trust and discovery tests, plus a runner for the
 * built `rkt` with private data and configuration directories.
 *
 * As root, the servers listen on ports 443 and 80 of a random loopback address (127.x.y.z), so
 * image names like `127.31.7.9/app` are discoverable exactly as the appc spec says
 * (`https://{name}?ac-discovery=1`); otherwise on ephemeral ports of 127.0.0.1 (no discovery).
 * The HTTPS certificate is self-signed (openssl) for that address; rkt trusts it through
 * `NODE_EXTRA_CA_CERTS`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { openStore } from '@rktnetes/store';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTree, tmpDir, type Teardownable } from '@rktnetes/testkit';

/** What the server answers for one path. */
export interface Route {
  body?: Buffer | string;
  /** default 200 */
  status?: number;
  headers?: Record<string, string>;
  /** sent as ETag; If-None-Match with it gets a 304, If-Range with it allows ranges */
  etag?: string;
  lastModified?: string;
  cacheControl?: string;
  /** honour Range requests (default true) */
  ranges?: boolean;
  /** send only this many body bytes of a 200 response, then cut the connection */
  cutAfter?: number;
  /** send nothing (not even headers) until the client gives up */
  hang?: boolean;
  /** 302 to this URL */
  redirect?: string;
  /** the Authorization header required (401 otherwise) */
  auth?: string;
  /** only over this scheme (404 on the other) */
  only?: 'http' | 'https';
}

/** One request the server saw. */
export interface SeenRequest {
  scheme: 'http' | 'https';
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  status: number;
  /** body bytes sent */
  sent: number;
}

export interface TestServer {
  /** host name images and discovery use (`127.x.y.z` or `127.0.0.1`) */
  host: string;
  /** whether names under `host` are discoverable (ports 443/80) */
  discoverable: boolean;
  /** the HTTPS base URL (`https://host[:port]`) */
  https: string;
  /** the HTTP base URL */
  http: string;
  /** PEM of the server certificate (also the CA to trust) */
  certPath: string;
  routes: Map<string, Route>;
  requests: SeenRequest[];
  /** sets the route of a path (query strings are part of the key when given) */
  route(path: string, r: Route): void;
  /** requests for `path` (optionally only those that got a body) */
  count(path: string, opts?: { withBody?: boolean }): number;
  close(): Promise<void>;
}

function randomLoopback(): string {
  const r = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
  return `127.${r(100, 250)}.${r(1, 254)}.${r(2, 254)}`;
}

function makeCert(dir: string, host: string): { key: string; cert: string; certPath: string } {
  const keyPath = join(dir, 'server.key');
  const certPath = join(dir, 'server.crt');
  const r = spawnSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=rktnetes test',
      '-addext', `subjectAltName=IP:${host},IP:127.0.0.1,DNS:localhost`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts the servers; closes them at teardown when `t` is given. */
export async function startTestServer(t?: Teardownable, opts: { privileged?: boolean } = {}): Promise<TestServer> {
  const privileged = opts.privileged ?? process.getuid?.() === 0;
  const dir = await tmpDir('http-server');
  const routes = new Map<string, Route>();
  const requests: SeenRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const handler = (scheme: 'http' | 'https') => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = routes.get(url.pathname + url.search) ?? routes.get(url.pathname);
    const seen: SeenRequest = { scheme, method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, status: 0, sent: 0 };
    requests.push(seen);
    const reply = (status: number, headers: Record<string, string> = {}, body?: Buffer) => {
      seen.status = status;
      res.writeHead(status, { ...(body ? { 'content-length': String(body.length) } : { 'content-length': '0' }), ...headers });
      if (body && req.method !== 'HEAD') {
        seen.sent = body.length;
        res.end(body);
      } else res.end();
    };
    if (!route || (route.only && route.only !== scheme)) return reply(404, {}, Buffer.from('not found\n'));
    if (route.hang) return;
    if (route.auth !== undefined && req.headers.authorization !== route.auth) return reply(401, {}, Buffer.from('unauthorized\n'));
    if (route.redirect) return reply(302, { location: route.redirect });
    const body = Buffer.from(route.body ?? '');
    const status = route.status ?? 200;
    const headers: Record<string, string> = { ...route.headers };
    if (route.etag) headers.etag = route.etag;
    if (route.lastModified) headers['last-modified'] = route.lastModified;
    if (route.cacheControl) headers['cache-control'] = route.cacheControl;
    if (status !== 200) return reply(status, headers, body);
    const ranges = route.ranges ?? true;
    if (ranges) headers['accept-ranges'] = 'bytes';
    if (route.etag && req.headers['if-none-match'] === route.etag) return reply(304, headers);
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const ifRange = req.headers['if-range'];
    const rangeOk = ranges && range && (ifRange === undefined || ifRange === route.etag || ifRange === route.lastModified);
    if (rangeOk) {
      const start = Number(range[1]);
      if (start >= body.length) return reply(416, { 'content-range': `bytes */${body.length}` });
      return reply(206, { ...headers, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` }, body.subarray(start));
    }
    if (route.cutAfter !== undefined && req.method !== 'HEAD') {
      seen.status = 200;
      res.writeHead(200, { ...headers, 'content-length': String(body.length) });
      res.write(body.subarray(0, route.cutAfter), () => {
        seen.sent = route.cutAfter as number;
        setTimeout(() => res.socket?.destroy(), 50);
      });
      return;
    }
    reply(200, headers, body);
  };

  let host = '127.0.0.1';
  let cert: ReturnType<typeof makeCert> | undefined;
  let httpsServer: https.Server | undefined;
  let httpServer: http.Server | undefined;
  let httpsPort = 0;
  let httpPort = 0;
  for (let attempt = 0; ; attempt++) {
    if (privileged) host = randomLoopback();
    cert = makeCert(dir, host);
    httpsServer = https.createServer({ key: cert.key, cert: cert.cert }, handler('https'));
    httpServer = http.createServer(handler('http'));
    for (const s of [httpsServer, httpServer]) s.on('connection', (c) => (sockets.add(c), c.on('close', () => sockets.delete(c))));
    try {
      httpsPort = await listen(httpsServer, privileged ? 443 : 0, host);
      httpPort = await listen(httpServer, privileged ? 80 : 0, host);
      break;
    } catch (e) {
      httpsServer.close();
      httpServer.close();
      if (attempt > 10) throw e;
    }
  }
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= shutdown());
  const shutdown = async () => {
    for (const s of sockets) s.destroy();
    await Promise.all([httpsServer, httpServer].map((s) => new Promise<void>((r) => s!.close(() => r()))));
    await removeTree(dir);
  };
  t?.teardown(close);
  const withPort = (scheme: string, port: number, def: number) => `${scheme}://${host}${port === def ? '' : `:${port}`}`;
  return {
    host,
    discoverable: privileged,
    https: withPort('https', httpsPort, 443),
    http: withPort('http', httpPort, 80),
    certPath: cert!.certPath,
    routes,
    requests,
    route: (path, r) => void routes.set(path, r),
    count: (path, o = {}) => requests.filter((r) => (r.path === path || r.path.startsWith(`${path}?`)) && (!o.withBody || r.sent > 0)).length,
    close,
  };
}

/** The discovery page of a prefix: `ac-discovery` and `ac-discovery-pubkeys` meta tags. */
export function discoveryPage(tags: Array<{ name: 'ac-discovery' | 'ac-discovery-pubkeys'; prefix: string; value: string }>): string {
  const metas = tags.map((m) => `    <meta name="${m.name}" content="${m.prefix} ${m.value}">`).join('\n');
  return `<!DOCTYPE html>\n<html>\n  <head>\n${metas}\n  </head>\n  <body>discovery</body>\n</html>\n`;
}

/** The rkt under test: the built bundle, or `RKTNETES_RKT_BIN` (a copy that other builds do not replace meanwhile). */
const RKT = process.env.RKTNETES_RKT_BIN || fileURLToPath(new URL('../../dist/rkt.mjs', import.meta.url));

/** The result of one rkt run. */
export interface RktResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An rkt with its own data dir and config dirs. */
export interface RktEnv {
  root: string;
  dataDir: string;
  localConfig: string;
  systemConfig: string;
  userConfig: string;
  /** runs `rkt <global flags> args` asynchronously (the test's servers keep running) */
  run(args: readonly string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<RktResult>;
  /** the keys of the images in the store (none when there is no store yet) */
  images(): string[];
  /** the same through `script`, so that stdin/stdout/stderr are a terminal */
  runOnTty(args: readonly string[], input: string): Promise<RktResult>;
}

/** A fresh rkt environment; `certPath` (a server's) is trusted through NODE_EXTRA_CA_CERTS. */
export async function rktEnv(t: Teardownable, certPath?: string): Promise<RktEnv> {
  const root = await tmpDir('rkt-fetch', t);
  const env: RktEnv = {
    root,
    dataDir: join(root, 'data'),
    localConfig: join(root, 'etc'),
    systemConfig: join(root, 'usr-lib'),
    userConfig: join(root, 'user'),
    run: (args, opts = {}) => {
      const argv = [
        RKT,
        `--dir=${env.dataDir}`,
        `--local-config=${env.localConfig}`,
        `--system-config=${env.systemConfig}`,
        `--user-config=${env.userConfig}`,
        ...args,
      ];
      return runProcess(process.execPath, argv, {
        env: { ...process.env, RKT_DEBUG: '', ...(certPath ? { NODE_EXTRA_CA_CERTS: certPath } : {}), ...opts.env },
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        timeoutMs: opts.timeoutMs ?? 60_000,
      });
    },
    images: () => {
      if (!existsSync(join(env.dataDir, 'cas', 'db'))) return [];
      const store = openStore(env.dataDir, { readOnly: true });
      try {
        return store.listImages().map((i) => i.key);
      } finally {
        store.close();
      }
    },
    runOnTty: async (args, input) => {
      const cmd = [process.execPath, RKT, `--dir=${env.dataDir}`, `--local-config=${env.localConfig}`, `--system-config=${env.systemConfig}`, `--user-config=${env.userConfig}`, ...args]
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ');
      // script gives the command a pty; the answer is typed after a pause, like a user would
      const r = await runProcess('sh', ['-c', `(sleep 1; printf '%s' "$ANSWER"; sleep 2) | script -qfec ${JSON.stringify(`${cmd}; echo "[exit=$?]"`)} /dev/null`], {
        env: { ...process.env, ANSWER: input, ...(certPath ? { NODE_EXTRA_CA_CERTS: certPath } : {}) },
        timeoutMs: 60_000,
      });
      const m = /\[exit=(\d+)\]/.exec(r.stdout);
      return { ...r, code: m ? Number(m[1]) : r.code };
    },
  };
  for (const d of [env.localConfig, env.systemConfig, env.userConfig]) mkdirSync(d, { recursive: true });
  return env;
}

function runProcess(cmd: string, args: readonly string[], opts: { env: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs: number }): Promise<RktResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Writes a JSON file, creating its directory. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2));
}
