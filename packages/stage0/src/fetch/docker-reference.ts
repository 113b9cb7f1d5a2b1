/**
 * Docker image references (`[registry/]name[:tag|@digest]`) and the default registry rules of
 * the Docker CLI: a first component with a `.` or `:`, or `localhost`, names a registry;
 * anything else is on Docker Hub, whose one-component names live under `library/`.
 */
import { usageError } from '@rktnetes/errors';

/** The registry Docker Hub images are pulled from (and named after, as rkt's docker2aci did). */
export const DOCKER_HUB = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', DOCKER_HUB]);

/** A parsed Docker reference. */
export interface DockerReference {
  /** registry host[:port], `registry-1.docker.io` for Docker Hub */
  registry: string;
  /** repository path, `library/busybox` */
  repository: string;
  /** the tag; `latest` when neither tag nor digest is given */
  tag?: string;
  /** `sha256:<hex>` */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

/** Whether a registry host names Docker Hub. */
export function isDockerHub(registry: string): boolean {
  return HUB_ALIASES.has(registry.toLowerCase());
}

/**
 * Parses a Docker reference (without `docker://`). `busybox` is
 * `registry-1.docker.io/library/busybox:latest`.
 *
 * @throws RktError `fetch.invalid-ref` (usage) naming what is wrong
 */
export function parseDockerReference(input: string): DockerReference {
  const bad = (why: string) => usageError('fetch.invalid-ref', `invalid docker image reference "${input}": ${why}`);
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`"${digest}" is not a sha256 or sha512 digest`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }
  if (rest === '') throw bad('no repository name');
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] as string;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    if (!HOST.test(first)) throw bad(`"${first}" is not a valid registry host`);
    registry = isDockerHub(first) ? DOCKER_HUB : first.toLowerCase();
    parts.shift();
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw bad(`"${p}" is not a valid repository name component (lowercase letters, digits, and . _ - separators)`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw bad('the repository name is longer than 255 characters');
  return { registry, repository, ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}), ...(digest ? { digest } : {}) };
}

/** `registry/repository`: the image name (before sanitizing into an AC identifier). */
export function dockerImageName(ref: DockerReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** `registry/repository:tag` or `...@digest`: the fully spelled-out reference. */
export function formatDockerReference(ref: DockerReference): string {
  return `${dockerImageName(ref)}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
}

/** `docker://` + {@link formatDockerReference}: the URL remote records are kept under. */
export function canonicalDockerURL(ref: DockerReference): string {
  return `docker://${formatDockerReference(ref)}`;
}

/** The reference part of a `docker://ref` or `docker:ref` URL. */
export function stripDockerScheme(url: string): string {
  return url.replace(/^docker:(\/\/)?/i, '');
}
