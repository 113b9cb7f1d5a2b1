/**
 * A small HTTP(S) client on Node's http/https: redirects (credentials recomputed per host, no
 * https->http downgrade unless allowed), timeouts, TLS verification that can be turned off,
 * and readable one-line errors naming the URL.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { pipeline, Transform, type Readable } from 'node:stream';
import { systemError, userError } from '@rktnetes/errors';

/** How requests are made. */
export interface HttpClientOptions {
  /** accept any TLS certificate (`--insecure-options=tls`) */
  insecureTls: boolean;
  /** allow plain http, including redirects to it (`--insecure-options=http`) */
  allowHttp: boolean;
  /** headers that authenticate a request (from the `auth` configuration) */
  authHeaders?: (method: string, url: URL, headers: Readonly<Record<string, string>>) => Record<string, string>;
  /** milliseconds without progress (connecting, waiting for headers, between body chunks) before giving up */
  timeoutMs: number;
  userAgent: string;
  debug?: (msg: string) => void;
}

/** A response with its final URL (after redirects); read or `resume()` the body. */
export interface HttpResponse {
  url: URL;
  status: number;
  headers: IncomingHttpHeaders;
  /** the body; fails (rather than ends) when the connection breaks or stalls */
  body: Readable;
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The default timeout; `RKT_FETCH_TIMEOUT_MS` overrides it. */
export function defaultTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.RKT_FETCH_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 60_000;
}

/** A one-line reason for a failed request (`connection refused`, `timed out after 5s`, ...). */
export function describeNetError(e: unknown, timeoutMs: number): string {
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  switch (code) {
    case 'ETIMEDOUT':
    case 'RKT_TIMEOUT':
      return `timed out after ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 100) / 10}s` : `${timeoutMs}ms`} without progress`;
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS certificate not trusted (${code}); use --insecure-options=tls to skip TLS verification`;
    default: {
      const msg = e instanceof Error ? e.message : String(e);
      return code && !msg.includes(code) ? `${msg} (${code})` : msg;
    }
  }
}

function timeoutError(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error('timed out');
  e.code = 'RKT_TIMEOUT';
  return e;
}

/**
 * Sends one request and follows redirects. Resolves with the first non-redirect response,
 * whatever its status; the caller decides. The body stays subject to the idle timeout.
 *
 * @param what names the resource in errors (`image example.com/app`, `signature ...`)
 * @throws RktError `fetch.http` (system) when the server cannot be reached or times out,
 *   `fetch.insecure-http` (user) for plain http without `allowHttp`
 */
export async function httpRequest(
  client: HttpClientOptions,
  method: 'GET' | 'HEAD',
  url: URL,
  headers: Readonly<Record<string, string>> = {},
  what = url.href,
): Promise<HttpResponse> {
  let current = url;
  for (let hop = 0; ; hop++) {
    if (current.protocol === 'http:' && !client.allowHttp) {
      throw userError(
        'fetch.insecure-http',
        hop === 0
          ? `${what}: refusing plain http ${current.href}; use --insecure-options=http`
          : `${what}: refusing redirect to plain http ${current.href}; use --insecure-options=http`,
      );
    }
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw userError('fetch.unsupported-scheme', `${what}: cannot fetch ${current.href}: only http and https URLs are supported here`);
    }
    const all: Record<string, string> = { 'user-agent': client.userAgent, ...headers };
    Object.assign(all, client.authHeaders?.(method, current, all) ?? {});
    client.debug?.(`${method} ${current.href}`);
    const { res, body } = await send(client, method, current, all).catch((e: unknown) => {
      throw systemError('fetch.http', `${what}: cannot fetch ${current.href}: ${describeNetError(e, client.timeoutMs)}`, { cause: e });
    });
    if (!REDIRECTS.has(res.statusCode ?? 0)) {
      return { url: current, status: res.statusCode ?? 0, headers: res.headers, body };
    }
    body.resume();
    const location = res.headers.location;
    if (!location) throw systemError('fetch.http', `${what}: ${current.href} answered HTTP ${res.statusCode} without a Location`);
    if (hop >= MAX_REDIRECTS) throw systemError('fetch.http', `${what}: too many redirects from ${url.href}`);
    const next = new URL(location, current);
    if (current.protocol === 'https:' && next.protocol === 'http:' && !client.allowHttp) {
      throw userError('fetch.insecure-http', `${what}: refusing redirect from ${current.href} to plain http ${next.href}; use --insecure-options=http`);
    }
    client.debug?.(`redirected to ${next.href}`);
    current = next;
  }
}

function send(client: HttpClientOptions, method: string, url: URL, headers: Record<string, string>): Promise<{ res: IncomingMessage; body: Readable }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method,
      headers,
      agent: false,
      ...(url.protocol === 'https:' ? { rejectUnauthorized: !client.insecureTls } : {}),
    });
    let timer: NodeJS.Timeout | undefined;
    let watch: Transform | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const e = timeoutError();
        watch?.destroy(e);
        req.destroy(e);
      }, client.timeoutMs);
    };
    arm();
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      // keep watching the body: every chunk re-arms the timer; a connection closed before the
      // whole message arrived is an error, not an end
      arm();
      watch = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          arm();
          cb(null, chunk);
        },
        flush(cb) {
          clearTimeout(timer);
          cb(res.complete ? null : Object.assign(new Error('connection closed before the end of the response'), { code: 'ECONNRESET' }));
        },
      });
      const body = pipeline(res, watch, () => clearTimeout(timer));
      resolve({ res, body });
    });
    req.end();
  });
}

/** Reads a whole (small) body, failing beyond `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string, timeoutMs: number): Promise<Buffer> {
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
    if ((e as { code?: string }).code === 'fetch.too-large') throw e;
    throw systemError('fetch.http', `${what}: cannot fetch ${res.url.href}: ${describeNetError(e, timeoutMs)}`, { cause: e });
  }
  return Buffer.concat(parts);
}

/** `HTTP 404 Not Found`. */
export function statusText(status: number): string {
  return `HTTP ${status}${http.STATUS_CODES[status] ? ` ${http.STATUS_CODES[status]}` : ''}`;
}

/** The error for an unexpected status: 4xx are user errors (wrong URL, no access), others system errors. */
export function statusError(what: string, res: HttpResponse): Error {
  res.body.resume();
  const make = res.status >= 400 && res.status < 500 ? userError : systemError;
  return make('fetch.http-status', `${what}: ${res.url.href} answered ${statusText(res.status)}`, {
    details: { url: res.url.href, status: res.status },
  });
}

/** The max-age of a Cache-Control header in seconds (0 with no-cache/no-store or when absent). */
export function cacheMaxAge(header: string | undefined): number {
  if (!header) return 0;
  let maxAge = 0;
  for (const part of header.split(',')) {
    const [rawName, rawValue] = part.trim().split('=', 2);
    const name = (rawName ?? '').toLowerCase();
    if (name === 'no-cache' || name === 'no-store') return 0;
    if (name === 'max-age' && rawValue !== undefined && /^\d+$/.test(rawValue.trim())) {
      maxAge = Number(rawValue.trim());
    }
  }
  return maxAge;
}
