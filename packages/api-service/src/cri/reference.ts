/**
 * Image references as the kubelet writes them (the Docker reference grammar): `busybox`,
 * `registry.k8s.io/pause:3.9`, `localhost:5000/a/b@sha256:...`. References are compared in
 * their fully qualified form: Docker Hub is `docker.io` (`library/` for one-component names;
 * stage0's `registry-1.docker.io` and `index.docker.io` are the same registry), and a
 * reference with neither tag nor digest means `:latest`.
 */
import { invalidArgument } from './grpc';

/** A parsed image reference. */
export interface ImageReference {
  /** registry host, with port: `docker.io`, `127.0.0.1:5000` */
  domain: string;
  /** repository path below the registry: `library/busybox` */
  path: string;
  tag?: string;
  /** `algorithm:hex` */
  digest?: string;
}

/** Docker Hub's canonical domain in references. */
export const DOCKER_HUB = 'docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d+)?$/;

/** Whether the first path component of a reference names a registry (Docker's rule). */
function isDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

/**
 * Parses a reference and qualifies it (registry, `library/`). Throws `cri.invalid-argument`
 * for text that is not a reference (upper case in the repository, empty components, bad tag or
 * digest).
 */
export function parseImageReference(text: string): ImageReference {
  const bad = (why: string) => invalidArgument(`invalid image reference ${JSON.stringify(text)}: ${why}`);
  if (text === '') throw bad('empty');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('malformed digest');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('malformed tag');
  }
  const parts = rest.split('/');
  let domain = DOCKER_HUB;
  if (parts.length > 1 && isDomain(parts[0]!)) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad('malformed registry');
  }
  if (HUB_ALIASES.has(domain)) domain = DOCKER_HUB;
  for (const p of parts) if (!COMPONENT.test(p)) throw bad(`invalid repository component ${JSON.stringify(p)}`);
  if (domain === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const ref: ImageReference = { domain, path: parts.join('/') };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `domain/path`. */
export const repositoryOf = (ref: Pick<ImageReference, 'domain' | 'path'>): string => `${ref.domain}/${ref.path}`;

/** The reference as text: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${repositoryOf(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * What a reference asks for, for comparing with the images present: the digest when it has one
 * (a tag next to a digest is ignored, as by every runtime), else the tag, `latest` by default.
 */
export function lookupKey(ref: ImageReference): { repository: string; tag?: string; digest?: string } {
  if (ref.digest !== undefined) return { repository: repositoryOf(ref), digest: ref.digest };
  return { repository: repositoryOf(ref), tag: ref.tag ?? 'latest' };
}

/** Whether `text` parses as a reference (no exception). */
export function tryParseImageReference(text: string): ImageReference | undefined {
  try {
    return parseImageReference(text);
  } catch {
    return undefined;
  }
}
