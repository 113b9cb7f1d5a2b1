/**
 * appc image discovery (appc spec/discovery.md): fetch `https://{prefix}?ac-discovery=1`
 * for the image name and then each parent path, read its `ac-discovery` and
 * `ac-discovery-pubkeys` meta tags, and render the URL templates with the image's name and
 * labels.
 */
import { userError } from '@rktnetes/errors';
import { describeNetError, httpRequest, readBody, statusText, type HttpClientOptions } from './http';

/** A `<meta name="ac-..." content="prefix value">` tag. */
export interface AcMeta {
  name: string;
  prefix: string;
  value: string;
}

/** Where an image and its signature are. */
export interface AciEndpoint {
  aci: string;
  asc: string;
}

/** How discovery talks to servers. */
export interface DiscoveryOptions {
  client: HttpClientOptions;
  /** also try plain http when https fails (`--insecure-options=http`, `--insecure-allow-http`) */
  allowHttp: boolean;
  debug?: (msg: string) => void;
}

const MAX_PAGE = 1 << 20;

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e: string) => {
    const l = e.toLowerCase();
    if (l === 'amp') return '&';
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    const code = l.startsWith('#x') ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10);
    return Number.isFinite(code) ? String.fromCodePoint(code) : m;
  });
}

/** The attributes of one HTML start tag's attribute text. */
function parseAttributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const name = (m[1] as string).toLowerCase();
    if (!attrs.has(name)) attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return attrs;
}

/**
 * The `ac-*` meta tags of an HTML page, in document order. Comments are skipped; a tag whose
 * content is not `prefix value` is ignored (as the appc implementation does).
 */
export function extractAcMeta(html: string): AcMeta[] {
  const out: AcMeta[] = [];
  const text = html.replace(/<!--[\s\S]*?-->/g, '');
  const re = /<meta\b((?:[^>"']|"[^"]*"|'[^']*')*)\/?>/gi;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const attrs = parseAttributes(m[1] ?? '');
    const name = attrs.get('name') ?? '';
    if (!name.startsWith('ac-')) continue;
    const content = (attrs.get('content') ?? '').trim();
    const sp = content.search(/\s/);
    if (sp <= 0) continue;
    const prefix = content.slice(0, sp);
    const value = content.slice(sp).trim();
    if (!value) continue;
    out.push({ name, prefix, value });
  }
  return out;
}

/**
 * Substitutes `{var}` placeholders. Returns undefined when a placeholder is left (a label the
 * template needs but the image reference lacks).
 */
export function renderTemplate(template: string, vars: Readonly<Record<string, string>>): string | undefined {
  const out = template.replace(/\{([^{}]*)\}/g, (m, name: string) => (Object.hasOwn(vars, name) ? (vars[name] as string) : m));
  return /\{[^{}]*\}/.test(out) ? undefined : out;
}

/** `a.com/b/c` -> `a.com/b/c`, `a.com/b`, `a.com`: where discovery looks, longest first. */
export function discoveryPrefixes(name: string): string[] {
  const parts = name.split('/');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

interface Attempt {
  url: string;
  error: string;
}

/** Fetches one discovery page: https, then http when allowed. */
async function fetchPage(prefix: string, opts: DiscoveryOptions, attempts: Attempt[]): Promise<{ url: string; page: string } | undefined> {
  const schemes = opts.allowHttp ? ['https', 'http'] : ['https'];
  for (const scheme of schemes) {
    let url: URL;
    try {
      url = new URL(`${scheme}://${prefix}`);
    } catch {
      attempts.push({ url: `${scheme}://${prefix}`, error: 'not a valid URL' });
      return undefined;
    }
    url.search = 'ac-discovery=1';
    try {
      const res = await httpRequest({ ...opts.client, allowHttp: opts.allowHttp }, 'GET', url, {}, `discovery of ${prefix}`);
      if (res.status !== 200) {
        res.body.resume();
        attempts.push({ url: url.href, error: statusText(res.status) });
        continue;
      }
      return { url: url.href, page: (await readBody(res, MAX_PAGE, `discovery of ${prefix}`, opts.client.timeoutMs)).toString('utf8') };
    } catch (e) {
      const msg = e instanceof Error ? e.message.replace(/^.*?: cannot fetch \S+: /, '') : describeNetError(e, opts.client.timeoutMs);
      attempts.push({ url: url.href, error: msg });
      opts.debug?.(`discovery: ${url.href}: ${msg}`);
    }
  }
  return undefined;
}

function failure(kind: string, name: string, attempts: Attempt[]): Error {
  const tried = attempts.map((a) => `${a.url} (${a.error})`).join(', ');
  return userError('fetch.discovery', `discovery of ${name} failed: no ${kind} meta tag found; tried ${tried}`, {
    details: { name, attempts },
  });
}

/**
 * The image and signature URLs of image `name` with `labels` (which should include `version`,
 * `os` and `arch`; `version` defaults to `latest`).
 *
 * @throws RktError `fetch.discovery` when no page along the name's path has a matching `ac-discovery` tag
 */
export async function discoverAciEndpoints(name: string, labels: Readonly<Record<string, string>>, opts: DiscoveryOptions): Promise<AciEndpoint[]> {
  const vars: Record<string, string> = { ...labels, name };
  if (!vars.version) vars.version = 'latest';
  const attempts: Attempt[] = [];
  for (const prefix of discoveryPrefixes(name)) {
    const got = await fetchPage(prefix, opts, attempts);
    if (got === undefined) continue;
    const endpoints: AciEndpoint[] = [];
    for (const m of extractAcMeta(got.page)) {
      if (m.name !== 'ac-discovery' || !name.startsWith(m.prefix)) continue;
      const aci = renderTemplate(m.value, { ...vars, ext: 'aci' });
      const asc = renderTemplate(m.value, { ...vars, ext: 'aci.asc' });
      if (aci && asc) endpoints.push({ aci, asc });
      else opts.debug?.(`discovery: template ${m.value} needs a label ${name} does not have`);
    }
    if (endpoints.length) return endpoints;
    attempts.push({ url: got.url, error: 'no matching ac-discovery tag' });
  }
  throw failure('ac-discovery', name, attempts);
}

/**
 * The public key URLs (`ac-discovery-pubkeys`) published for `prefix`.
 *
 * @throws RktError `fetch.discovery` when no page along the path has one
 */
export async function discoverPublicKeys(prefix: string, opts: DiscoveryOptions): Promise<string[]> {
  const attempts: Attempt[] = [];
  for (const p of discoveryPrefixes(prefix)) {
    const got = await fetchPage(p, opts, attempts);
    if (got === undefined) continue;
    const keys = extractAcMeta(got.page)
      .filter((m) => m.name === 'ac-discovery-pubkeys' && prefix.startsWith(m.prefix))
      .map((m) => m.value);
    if (keys.length) return keys;
    attempts.push({ url: got.url, error: 'no matching ac-discovery-pubkeys tag' });
  }
  throw failure('ac-discovery-pubkeys', prefix, attempts);
}
