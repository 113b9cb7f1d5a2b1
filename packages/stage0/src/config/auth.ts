/**
 * Turning `auth` configuration into request headers: `Authorization: Basic ...` / `Bearer ...`,
 * or an AWS signature version 4 for S3 (rkt Documentation/configuration.md).
 */
import { createHash, createHmac } from 'node:crypto';
import type { AuthCredentials, BasicCredentials, Stage0Config } from './config';

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const DEFAULT_AWS_REGION = 'us-east-1';

/**
 * The `auth` entry for a URL: looked up by `host:port` first, then by host alone. Like rkt,
 * credentials are only sent over https.
 */
export function authFor(cfg: Stage0Config, url: URL): AuthCredentials | undefined {
  if (url.protocol !== 'https:') return undefined;
  return cfg.auth.get(url.host) ?? cfg.auth.get(url.hostname);
}

/**
 * The headers that authenticate a request of `method` for `url` (empty when no `auth` entry
 * matches). `headers` are the other headers of the request; AWS signatures cover them.
 */
export function authHeaders(
  cfg: Stage0Config,
  method: string,
  url: URL,
  headers: Readonly<Record<string, string>> = {},
  now: Date = new Date(),
): Record<string, string> {
  const auth = authFor(cfg, url);
  if (!auth) return {};
  switch (auth.type) {
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${auth.credentials.user}:${auth.credentials.password}`).toString('base64')}` };
    case 'oauth':
      return { authorization: `Bearer ${auth.credentials.token}` };
    case 'aws':
      return awsSignatureV4(method, url, headers, {
        accessKeyID: auth.credentials.accessKeyID,
        secretAccessKey: auth.credentials.secretAccessKey,
        region: auth.credentials.awsRegion || guessAwsRegion(url.host),
        now,
      });
  }
}

/** Docker registry credentials for a registry host (`host` or `host:port`). */
export function dockerCredentialsFor(cfg: Stage0Config, registry: string): BasicCredentials | undefined {
  return cfg.dockerAuth.get(registry) ?? cfg.dockerAuth.get(registry.replace(/:\d+$/, ''));
}

/** The S3 region named in an S3 host name, or us-east-1 (as rkt guesses it). */
export function guessAwsRegion(host: string): string {
  const h = (host.split(':')[0] ?? '').toLowerCase();
  const parts = h.split('.');
  if (parts.length < 3 || parts[parts.length - 2] !== 'amazonaws') return DEFAULT_AWS_REGION;
  if (h.endsWith('s3.amazonaws.com') || h.endsWith('s3-external-1.amazonaws.com')) return DEFAULT_AWS_REGION;
  const third = parts[parts.length - 3] as string;
  if (parts.length > 3 && third.startsWith('s3-')) return third.slice(3);
  if (parts.length > 4 && parts[parts.length - 4] === 's3') return third;
  return DEFAULT_AWS_REGION;
}

interface AwsSignOptions {
  accessKeyID: string;
  secretAccessKey: string;
  region: string;
  now: Date;
  service?: string;
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * AWS signature version 4 headers (`x-amz-date`, `x-amz-content-sha256`, `authorization`) for a
 * request without a body; every header in `headers` and `host` is signed.
 */
export function awsSignatureV4(method: string, url: URL, headers: Readonly<Record<string, string>>, opts: AwsSignOptions): Record<string, string> {
  const service = opts.service ?? 's3';
  const amzDate = opts.now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) all[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  all.host = url.host;
  all['x-amz-content-sha256'] = EMPTY_SHA256;
  all['x-amz-date'] = amzDate;
  const names = Object.keys(all).sort();
  const canonicalPath = url.pathname
    .split('/')
    .map((seg) => rfc3986(decodeURIComponent(seg)))
    .join('/');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [
    method.toUpperCase(),
    canonicalPath || '/',
    query,
    names.map((n) => `${n}:${all[n]}\n`).join(''),
    names.join(';'),
    EMPTY_SHA256,
  ].join('\n');
  const scope = `${day}/${opts.region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${opts.secretAccessKey}`, day), opts.region), service), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return {
    'x-amz-date': amzDate,
    'x-amz-content-sha256': EMPTY_SHA256,
    authorization: `AWS4-HMAC-SHA256 Credential=${opts.accessKeyID}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}
