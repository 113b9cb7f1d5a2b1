/**
 * Docker registry configuration besides credentials (`dockerAuth` in `auth.d`, read by
 * ../config): registry mirrors, kind `dockerRegistries` in `registries.d/*.json` of the system,
 * local and user configuration directories (later directories override earlier ones per
 * registry):
 *
 *     { "rktKind": "dockerRegistries", "rktVersion": "v1",
 *       "mirrors": { "registry.k8s.io": ["http://127.0.0.1:5000"], "docker.io": ["https://mirror.example.com"] } }
 *
 * A registry's mirrors are tried in order before the registry itself, like containerd's
 * `registry.mirrors`; the image keeps its original name. A mirror URL names its scheme: an
 * `http://` mirror is used over plain HTTP because it was configured so.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { userError } from '@rktnetes/errors';
import { dockerCredentialsFor, type BasicCredentials, type Stage0Config } from '../config';
import { DOCKER_HUB, isDockerHub } from './docker-reference';

/** Mirror base URLs per registry host (Docker Hub under `registry-1.docker.io`). */
export type RegistryMirrors = Map<string, URL[]>;

const KIND = 'dockerRegistries';

function normalizeHost(h: string): string {
  return isDockerHub(h) ? DOCKER_HUB : h.toLowerCase();
}

function parseMirrorFile(path: string): RegistryMirrors {
  const bad = (why: string) => userError('config.invalid', `configuration file ${path}: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw bad(`not valid JSON: ${(e as Error).message}`);
  }
  const out: RegistryMirrors = new Map();
  if (typeof doc !== 'object' || doc === null || (doc as { rktKind?: unknown }).rktKind !== KIND) return out;
  const d = doc as { rktVersion?: unknown; mirrors?: unknown };
  if (d.rktVersion !== 'v1') throw bad(`unsupported rktVersion ${JSON.stringify(d.rktVersion)} of kind ${KIND} (want "v1")`);
  if (typeof d.mirrors !== 'object' || d.mirrors === null || Array.isArray(d.mirrors)) throw bad('"mirrors" must be an object of registry host -> list of URLs');
  for (const [host, urls] of Object.entries(d.mirrors as Record<string, unknown>)) {
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string')) throw bad(`mirrors of "${host}" must be a non-empty list of URLs`);
    out.set(
      normalizeHost(host),
      (urls as string[]).map((u) => {
        let url: URL;
        try {
          url = new URL(u);
        } catch {
          throw bad(`mirror "${u}" of "${host}" is not a URL`);
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`mirror "${u}" of "${host}" must be an http or https URL`);
        return url;
      }),
    );
  }
  return out;
}

/**
 * The mirrors configured in `dirs` (lowest precedence first): `registries.d/*.json` files of
 * kind `dockerRegistries`; other kinds are ignored. Throws `config.invalid` naming the file.
 */
export function loadRegistryMirrors(dirs: readonly string[]): RegistryMirrors {
  const all: RegistryMirrors = new Map();
  for (const dir of dirs) {
    const sub = join(dir, 'registries.d');
    let names: string[];
    try {
      if (!statSync(sub).isDirectory()) continue;
      names = readdirSync(sub).filter((n) => n.endsWith('.json')).sort();
    } catch {
      continue;
    }
    const here: RegistryMirrors = new Map();
    for (const n of names) {
      for (const [host, urls] of parseMirrorFile(join(sub, n))) {
        if (here.has(host)) throw userError('config.invalid', `configuration file ${join(sub, n)}: mirrors of "${host}" are already defined in ${sub}`);
        here.set(host, urls);
      }
    }
    for (const [host, urls] of here) all.set(host, urls);
  }
  return all;
}

/** The mirrors of `registry`, in order. */
export function mirrorsFor(mirrors: RegistryMirrors, registry: string): URL[] {
  return mirrors.get(normalizeHost(registry)) ?? [];
}

/** `dockerAuth` credentials for a registry host (Docker Hub under any of its names). */
export function registryCredentials(cfg: Stage0Config, host: string): BasicCredentials | undefined {
  if (isDockerHub(host)) {
    for (const h of [DOCKER_HUB, 'docker.io', 'index.docker.io']) {
      const c = dockerCredentialsFor(cfg, h);
      if (c) return c;
    }
    return undefined;
  }
  return dockerCredentialsFor(cfg, host);
}
