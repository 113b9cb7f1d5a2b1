/**
 * A client of the Docker Registry HTTP API v2 for one repository: manifests and blobs, the
 * authentication challenge (`WWW-Authenticate: Bearer` -> token endpoint, or `Basic`), https
 * with an optional fall-back to plain http (`--insecure-options=http`), unverified TLS
 * (`--insecure-options=tls`), redirects (credentials never follow to another host), keep-alive
 * connections and idle timeouts.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { systemError, userError, isRktError } from '@rktnetes/errors';
import type { BasicCredentials } from '../config';
import { describeNetError, statusText } from './http';

/** How to reach one repository. */
export interface RegistryClientOptions {
  /** the registry (`https://host:port`) or mirror base URL */
  endpoint: URL;
  /** the host named in messages and credentials (the mirror's host for a mirror) */
  host: string;
  repository: string;
  /** when https cannot be spoken to the endpoint, try plain http (only with `allowHttp`) */
  httpFallback: boolean;
  /** go straight to plain http (the registry answered only that last time; needs `allowHttp`) */
  startWithHttp?: boolean;
  /** `--insecure-options=http` */
  allowHttp: boolean;
  /** `--insecure-options=tls` */
  insecureTls: boolean;
  credentials?: BasicCredentials;
  timeoutMs: number;
  userAgent: string;
  debug?: (msg: string) => void;
  /** sees every request (method, URL): tests count requests */
  onRequest?: (method: string, url: URL) => void;
}

/** A response whose body the caller must read or discard. */
export interface RegistryResponse {
  url: URL;
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 10;

/** A one-line reason for a failed request. */
function netReason(e: unknown, timeoutMs: number): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'EPROTO' || /wrong version number|packet length too long|http request/i.test(msg)) {
    return 'TLS handshake failed (the server may speak plain HTTP)';
  }
  return (describeNetError(e, timeoutMs).split('\n')[0] ?? '').trim();
}
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Reads a small body entirely (at most `limit` bytes). */
export async function readAll(res: RegistryResponse, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n > limit) {
        res.body.destroy();
        throw userError('fetch.too-large', `${what}: ${res.url.href} is larger than ${limit} bytes`);
      }
      parts.push(c as Buffer);
    }
  } catch (e) {
    if (isRktError(e)) throw e;
    throw systemError('fetch.http', `${what}: cannot read ${res.url.href}: ${netReason(e, 0)}`, { cause: e });
  }
  return Buffer.concat(parts);
}

/** The `code: message` of a registry error body, if it has one. */
async function registryErrorText(res: RegistryResponse): Promise<string> {
  try {
    const body = await readAll(res, 64 << 10, 'error');
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const first = doc.errors?.[0];
    if (first?.code) return `${first.code}${first.message ? `: ${first.message}` : ''}`;
  } catch {
    // not a registry error document
  }
  return '';
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth",service="registry",scope="repository:x:pull"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  return { scheme: (m[1] as string).toLowerCase(), params };
}

/** A client for one repository of one registry endpoint. Call {@link close} when done. */
export class RegistryClient {
  private base: URL;
  private auth: string | undefined;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent: https.Agent;
  private probed = false;

  constructor(private readonly opts: RegistryClientOptions) {
    this.base = new URL(opts.endpoint.href.replace(/\/+$/, ''));
    if (opts.startWithHttp && opts.allowHttp && this.base.protocol === 'https:') {
      this.base.protocol = 'http:';
      this.probed = true;
    }
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: !opts.insecureTls });
  }

  /** The endpoint actually used (its scheme may have fallen back to http). */
  get endpoint(): URL {
    return this.base;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private url(path: string): URL {
    const u = new URL(this.base.href);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/v2/${this.opts.repository}/${path}`;
    return u;
  }

  /** GETs or HEADs `manifests/<reference>` with `accept`. */
  manifest(method: 'GET' | 'HEAD', reference: string, accept: readonly string[]): Promise<RegistryResponse> {
    return this.request(method, `manifests/${reference}`, { accept: accept.join(', ') });
  }

  /** GETs `blobs/<digest>`. */
  blob(digest: string): Promise<RegistryResponse> {
    return this.request('GET', `blobs/${digest}`, {});
  }

  /**
   * Sends a request to the repository, authenticating when challenged (once). Resolves with any
   * status but 401; a 401 after authenticating is `fetch.auth`.
   */
  async request(method: 'GET' | 'HEAD', path: string, headers: Record<string, string>): Promise<RegistryResponse> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.probe(() => this.follow(method, this.url(path), headers));
      if (res.status !== 401) return res;
      const detail = await registryErrorText(res);
      const header = res.headers['www-authenticate'];
      if (attempt > 0 || !header) throw this.authFailed(401, detail);
      await this.authenticate(Array.isArray(header) ? (header[0] as string) : header, detail);
    }
  }

  /** Runs the first request, falling back from https to http when allowed. */
  private async probe<T>(fn: () => Promise<T>): Promise<T> {
    if (this.probed) return fn();
    try {
      const r = await fn();
      this.probed = true;
      return r;
    } catch (e) {
      if (!(this.opts.httpFallback && this.base.protocol === 'https:' && isRktError(e) && e.code === 'fetch.http')) throw e;
      if (!this.opts.allowHttp) {
        throw systemError('fetch.http', `${e.message}; if the registry serves plain HTTP, use --insecure-options=http`);
      }
      this.opts.debug?.(`https to ${this.base.host} failed (${e.message}); trying plain http`);
      this.base.protocol = 'http:';
      const r = await fn();
      this.probed = true;
      return r;
    }
  }

  private authFailed(status: number, detail: string): Error {
    const who = this.opts.credentials ? `as user "${this.opts.credentials.user}"` : 'without credentials (add a dockerAuth entry to auth.d)';
    return userError('fetch.auth', `registry ${this.opts.host}: authentication ${this.opts.credentials ? 'failed' : 'required'} for ${this.opts.repository} ${who} (${statusText(status)}${detail ? `, ${detail}` : ''})`, {
      details: { registry: this.opts.host, status },
    });
  }

  private basic(): string | undefined {
    const c = this.opts.credentials;
    return c ? `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}` : undefined;
  }

  private async authenticate(header: string, detail: string): Promise<void> {
    const ch = parseChallenge(header);
    if (ch?.scheme === 'basic') {
      const b = this.basic();
      if (!b) throw this.authFailed(401, detail);
      this.auth = b;
      return;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) {
      throw userError('fetch.auth', `registry ${this.opts.host}: unsupported authentication challenge "${header}"`);
    }
    let realm: URL;
    try {
      realm = new URL(ch.params.realm);
    } catch {
      throw userError('fetch.auth', `registry ${this.opts.host}: invalid token realm "${ch.params.realm}"`);
    }
    if (realm.protocol === 'http:' && !this.opts.allowHttp) {
      throw userError('fetch.insecure-http', `registry ${this.opts.host}: refusing the plain http token endpoint ${realm.href}; use --insecure-options=http`);
    }
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    realm.searchParams.set('scope', ch.params.scope ?? `repository:${this.opts.repository}:pull`);
    const basic = this.basic();
    const res = await this.follow('GET', realm, basic ? { authorization: basic } : {}, true);
    const body = await readAll(res, 1 << 20, `registry ${this.opts.host} token`);
    if (res.status === 401 || res.status === 403) throw this.authFailed(res.status, detail);
    if (res.status !== 200) {
      throw systemError('fetch.auth', `registry ${this.opts.host}: token endpoint ${realm.origin}${realm.pathname} answered ${statusText(res.status)}`);
    }
    let token: unknown;
    try {
      const doc = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = doc.token ?? doc.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') throw systemError('fetch.auth', `registry ${this.opts.host}: the token endpoint returned no token`);
    this.auth = `Bearer ${token}`;
  }

  /**
   * One request following redirects. The registry's Authorization goes only to the endpoint's
   * own host (or, for `explicitAuth`, the given headers to the first URL).
   */
  private async follow(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, explicitAuth = false): Promise<RegistryResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const h: Record<string, string> = { 'user-agent': this.opts.userAgent, ...headers };
      const sameHost = current.host === this.base.host;
      if (!explicitAuth && this.auth && sameHost) h.authorization = this.auth;
      if (explicitAuth && hop > 0 && current.host !== url.host) delete h.authorization;
      this.opts.debug?.(`${method} ${current.href}`);
      this.opts.onRequest?.(method, current);
      const res = await this.send(method, current, h).catch((e: unknown) => {
        throw systemError('fetch.http', `registry ${this.opts.host}: cannot fetch ${current.href}: ${netReason(e, this.opts.timeoutMs)}`, { cause: e });
      });
      if (!REDIRECTS.has(res.statusCode ?? 0)) return { url: current, status: res.statusCode ?? 0, headers: res.headers, body: res };
      res.resume();
      const location = res.headers.location;
      if (!location) throw systemError('fetch.http', `registry ${this.opts.host}: ${current.href} answered HTTP ${res.statusCode} without a Location`);
      if (hop >= MAX_REDIRECTS) throw systemError('fetch.http', `registry ${this.opts.host}: too many redirects from ${url.href}`);
      const next = new URL(location, current);
      if (next.protocol === 'http:' && current.protocol === 'https:' && !this.opts.allowHttp) {
        throw userError('fetch.insecure-http', `registry ${this.opts.host}: refusing redirect to plain http ${next.href}; use --insecure-options=http`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw userError('fetch.http', `registry ${this.opts.host}: redirect to unsupported URL ${next.href}`);
      current = next;
    }
  }

  private send(method: string, url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? https : http).request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent });
      // idle timeout while connecting, waiting and reading: the body stream fails with it
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'RKT_TIMEOUT' })));
      req.once('error', reject);
      req.once('response', (res) => {
        res.once('aborted', () => res.destroy(Object.assign(new Error('connection closed before the end of the response'), { code: 'ECONNRESET' })));
        resolve(res);
      });
      req.end();
    });
  }

  /** The error for an unexpected status, with the registry's own error code when it sent one. */
  async statusError(what: string, res: RegistryResponse): Promise<Error> {
    const detail = await registryErrorText(res);
    const make = res.status >= 400 && res.status < 500 ? userError : systemError;
    const notFound = res.status === 404;
    return make(notFound ? 'fetch.not-found' : 'fetch.http-status', `${what}: ${notFound ? 'not found in' : 'error from'} registry ${this.opts.host} (${statusText(res.status)}${detail ? `, ${detail}` : ''})`, {
      details: { url: res.url.href, status: res.status },
    });
  }
}
