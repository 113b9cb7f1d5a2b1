/**
 * What an image argument means (rkt Documentation/image-fetching-behavior.md): an image ID,
 * an image name with labels for the store and discovery, a local file, or a URL.
 */
import { statSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { usageError } from '@rktnetes/errors';
import { acIdentifierProblem, isACIdentifier } from '@rktnetes/schema';

/** A parsed image argument. */
export type ImageRef =
  /** `sha512-...`: only ever looked up in the store */
  | { kind: 'hash'; ref: string }
  /** `name[:version][,label=value...]` */
  | { kind: 'name'; ref: string; name: string; labels: Record<string, string> }
  /** a local file (a path, or a `file://` URL), absolute */
  | { kind: 'file'; ref: string; path: string }
  /** a URL of another scheme (`http`, `https`, `docker`, ...) */
  | { kind: 'url'; ref: string; scheme: string; url: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Schemes recognised without `//` after the colon, as skopeo writes them: `docker:busybox`,
 * `oci:/path[:ref]`, `oci-archive:/path.tar[:ref]`, `docker-archive:/path.tar[:ref]`. An appc
 * image named `oci` or `docker` with a version (`oci:1.0`) therefore cannot be named this way.
 */
const BARE_SCHEMES: ReadonlySet<string> = new Set(['docker', 'docker-archive', 'oci', 'oci-archive']);

/**
 * Parses an appc app string `name[:version][,label=value...]` (the appc discovery format: a
 * colon only right after the name).
 *
 * @throws RktError `fetch.invalid-ref` (usage)
 */
export function parseAppString(s: string): { name: string; labels: Record<string, string> } {
  const bad = (why: string) => usageError('fetch.invalid-ref', `invalid image name "${s}": ${why}`);
  const colon = s.indexOf(':');
  const comma = s.indexOf(',');
  if (colon >= 0 && comma >= 0 && colon > comma) throw bad('a colon may only come right after the name');
  if (s.split(':').length > 2) throw bad('a colon may appear at most once');
  const withVersion = colon >= 0 ? `${s.slice(0, colon)},version=${s.slice(colon + 1)}` : s;
  const [name = '', ...pairs] = withVersion.split(',');
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw bad(`label "${pair}" is not name=value`);
    const k = decodeURIComponent(pair.slice(0, eq));
    const v = decodeURIComponent(pair.slice(eq + 1));
    if (!isACIdentifier(k)) throw bad(`label name "${k}" ${acIdentifierProblem(k) ?? 'is invalid'}`);
    if (Object.hasOwn(labels, k)) throw bad(`label "${k}" given twice`);
    if (k === 'version' && v === '') throw bad('empty version');
    labels[k] = v;
  }
  if (!isACIdentifier(name)) throw bad(`the name ${acIdentifierProblem(name) ?? 'is invalid'}`);
  return { name, labels };
}

/** Whether a string without scheme names a file rather than an image (rkt's guess). */
function looksLikePath(s: string, cwd: string): boolean {
  if (isAbsolute(s)) return true;
  try {
    if (statSync(resolve(cwd, s)).isFile()) return true;
  } catch {
    // not an existing file
  }
  if (s.includes(':')) return false;
  if (s.includes('./')) return true;
  return extname(s) === '.aci';
}

/**
 * Classifies an image argument.
 *
 * @param cwd resolves relative paths (default the process's)
 * @throws RktError `fetch.invalid-ref` (usage)
 */
export function parseImageRef(ref: string, cwd = process.cwd()): ImageRef {
  if (ref === '') throw usageError('fetch.invalid-ref', 'empty image argument');
  if (/^sha512-[0-9a-f]*$/i.test(ref)) return { kind: 'hash', ref };
  const m = SCHEME.exec(ref);
  // `name:version` looks like a scheme: only treat it as one when followed by `//`, or for the
  // schemes skopeo spells without it (`docker:busybox`, `oci:/path:ref`, ...)
  if (m && (ref.slice(m[0].length).startsWith('//') || BARE_SCHEMES.has(m[1]!.toLowerCase()))) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'file') {
      let path: string;
      try {
        path = decodeURIComponent(new URL(ref).pathname);
      } catch {
        throw usageError('fetch.invalid-ref', `invalid file URL "${ref}"`);
      }
      return { kind: 'file', ref, path };
    }
    if (scheme === 'http' || scheme === 'https') {
      try {
        new URL(ref);
      } catch {
        throw usageError('fetch.invalid-ref', `invalid URL "${ref}"`);
      }
    }
    return { kind: 'url', ref, scheme, url: ref };
  }
  if (looksLikePath(ref, cwd)) return { kind: 'file', ref, path: resolve(cwd, ref) };
  const app = parseAppString(ref);
  return { kind: 'name', ref, name: app.name, labels: app.labels };
}

/** The usual signature location next to an image: `x.aci` -> `x.aci.asc` (also for `x` -> `x.aci.asc`). */
export function ascPathFor(imagePath: string): string {
  return `${imagePath.replace(/\.aci$/, '')}.aci.asc`;
}

/** The same for a URL: only the path changes. */
export function ascUrlFor(imageUrl: string): string {
  const u = new URL(imageUrl);
  u.pathname = ascPathFor(u.pathname);
  return u.href;
}
