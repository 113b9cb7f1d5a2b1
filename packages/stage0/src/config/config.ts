/**
 * rkt's stage0 configuration: JSON files with `rktKind` and `rktVersion` in sub-directories of
 * the system, local and user configuration directories (rkt Documentation/configuration.md).
 * Later directories override earlier ones per domain, registry, path or stage1 field; within one
 * directory a setting defined twice is an error.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { userError } from '@rktnetes/errors';

/** Credentials of an `auth` entry, by `type`. */
export type AuthCredentials =
  | { type: 'basic'; credentials: { user: string; password: string } }
  | { type: 'oauth'; credentials: { token: string } }
  | { type: 'aws'; credentials: { accessKeyID: string; secretAccessKey: string; awsRegion?: string } };

/** `user` and `password`, as `dockerAuth` entries hold them. */
export interface BasicCredentials {
  user: string;
  password: string;
}

/** The merged stage0 configuration. */
export interface Stage0Config {
  /** `auth` kind: credentials per host (`host` or `host:port`) for https image and signature downloads */
  auth: Map<string, AuthCredentials>;
  /** `dockerAuth` kind: credentials per docker registry host */
  dockerAuth: Map<string, BasicCredentials>;
  /** `paths` kind; empty strings when not configured */
  paths: { data: string; stage1Images: string };
  /** `stage1` kind: the default stage1 image; empty strings when not configured */
  stage1: { name: string; version: string; location: string };
}

/** Which kinds each configuration sub-directory may hold. */
const SUBDIRS: Record<string, readonly string[]> = {
  'auth.d': ['auth', 'dockerAuth'],
  'paths.d': ['paths'],
  'stage1.d': ['stage1'],
};

type Parser = (cfg: Stage0Config, doc: Record<string, unknown>) => void;

const STAGE1_SCHEMES = ['docker', 'file', 'http', 'https'];

/** Parsers by kind and version; add a version by adding an entry. */
const PARSERS: Record<string, Record<string, Parser>> = {
  auth: { v1: parseAuthV1 },
  dockerAuth: { v1: parseDockerAuthV1 },
  paths: { v1: parsePathsV1 },
  stage1: { v1: parseStage1V1 },
};

/** An empty configuration. */
export function emptyConfig(): Stage0Config {
  return { auth: new Map(), dockerAuth: new Map(), paths: { data: '', stage1Images: '' }, stage1: { name: '', version: '', location: '' } };
}

/**
 * Reads and merges the configuration of `dirs`, each overriding the ones before it (rkt passes
 * system, local, then user). Missing directories are skipped.
 *
 * @throws RktError `config.invalid` naming the file for malformed or conflicting entries
 */
export function readConfig(dirs: readonly string[]): Stage0Config {
  const cfg = emptyConfig();
  for (const dir of dirs) {
    if (dir) mergeConfig(cfg, readConfigDir(dir));
  }
  return cfg;
}

/** The configuration of one directory, without merging. */
export function readConfigDir(dir: string): Stage0Config {
  const cfg = emptyConfig();
  if (!isDir(dir)) return cfg;
  for (const [sub, kinds] of Object.entries(SUBDIRS)) {
    const d = join(dir, sub);
    if (!isDir(d)) continue;
    for (const name of readdirSync(d).sort()) {
      if (!name.endsWith('.json')) continue;
      const path = join(d, name);
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      if (st.isFile()) parseConfigFile(cfg, path, kinds);
    }
  }
  return cfg;
}

function isDir(path: string): boolean {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) throw userError('config.invalid', `configuration path ${path} is not a directory`);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function parseConfigFile(cfg: Stage0Config, path: string, kinds: readonly string[]): void {
  const fail = (why: string, cause?: unknown) => userError('config.invalid', `configuration file ${path}: ${why}`, { cause, details: { path } });
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw fail('malformed JSON', e);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fail('must be a JSON object');
  const obj = doc as Record<string, unknown>;
  const kind = obj.rktKind;
  const version = obj.rktVersion;
  if (typeof kind !== 'string' || !kind) throw fail('no rktKind specified');
  if (typeof version !== 'string' || !version) throw fail('no rktVersion specified');
  if (!kinds.includes(kind)) throw fail(`kind "${kind}" does not belong in this directory (expected ${kinds.map((k) => `"${k}"`).join(' or ')})`);
  const parser = PARSERS[kind]?.[version];
  if (!parser) throw fail(`no parser for kind "${kind}" version "${version}"`);
  try {
    parser(cfg, obj);
  } catch (e) {
    throw fail(e instanceof Error ? e.message : String(e));
  }
}

function str(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Error(`"${key}" must be a string`);
  return v;
}

function strList(obj: Record<string, unknown>, key: string): string[] {
  const v = obj[key];
  if (!Array.isArray(v) || v.length === 0) throw new Error(`no ${key} specified`);
  if (!v.every((x): x is string => typeof x === 'string' && x !== '')) throw new Error(`"${key}" must be a list of non-empty strings`);
  return v;
}

function object(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = obj[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`no ${key} specified`);
  return v as Record<string, unknown>;
}

function basic(obj: Record<string, unknown>): BasicCredentials {
  const creds = object(obj, 'credentials');
  const user = str(creds, 'user');
  const password = str(creds, 'password');
  if (!user) throw new Error('user not specified');
  if (!password) throw new Error('password not specified');
  return { user, password };
}

function parseAuthV1(cfg: Stage0Config, doc: Record<string, unknown>): void {
  const domains = strList(doc, 'domains');
  const type = str(doc, 'type');
  if (!type) throw new Error('no auth type specified');
  let auth: AuthCredentials;
  if (type === 'basic') {
    auth = { type, credentials: basic(doc) };
  } else if (type === 'oauth') {
    const token = str(object(doc, 'credentials'), 'token');
    if (!token) throw new Error('no oauth bearer token specified');
    auth = { type, credentials: { token } };
  } else if (type === 'aws') {
    const c = object(doc, 'credentials');
    const accessKeyID = str(c, 'accessKeyID');
    const secretAccessKey = str(c, 'secretAccessKey');
    const awsRegion = str(c, 'awsRegion');
    if (!accessKeyID) throw new Error('no AWS Access Key ID specified');
    if (!secretAccessKey) throw new Error('no AWS Secret Access Key specified');
    auth = { type, credentials: { accessKeyID, secretAccessKey, ...(awsRegion ? { awsRegion } : {}) } };
  } else {
    throw new Error(`unknown auth type "${type}" (valid: basic, oauth, aws)`);
  }
  for (const d of domains) {
    if (cfg.auth.has(d)) throw new Error(`auth for domain "${d}" is already specified`);
    cfg.auth.set(d, auth);
  }
}

function parseDockerAuthV1(cfg: Stage0Config, doc: Record<string, unknown>): void {
  const registries = strList(doc, 'registries');
  const creds = basic(doc);
  for (const r of registries) {
    if (cfg.dockerAuth.has(r)) throw new Error(`credentials for docker registry "${r}" are already specified`);
    cfg.dockerAuth.set(r, creds);
  }
}

function parsePathsV1(cfg: Stage0Config, doc: Record<string, unknown>): void {
  const data = str(doc, 'data');
  const stage1Images = str(doc, 'stage1-images');
  if (data) {
    if (cfg.paths.data) throw new Error('data directory is already specified');
    if (!isAbsolute(data)) throw new Error('data directory must be an absolute path');
    cfg.paths.data = data;
  }
  if (stage1Images) {
    if (cfg.paths.stage1Images) throw new Error('stage1 images directory is already specified');
    if (!isAbsolute(stage1Images)) throw new Error('stage1 images directory must be an absolute path');
    cfg.paths.stage1Images = stage1Images;
  }
}

function parseStage1V1(cfg: Stage0Config, doc: Record<string, unknown>): void {
  const name = str(doc, 'name');
  const version = str(doc, 'version');
  const location = str(doc, 'location');
  if (!name && version) throw new Error('invalid stage1 configuration: version specified, but name is missing');
  if (name && !version) throw new Error('invalid stage1 configuration: name specified, but version is missing');
  if (location && !isAbsolute(location)) {
    const m = /^([a-z][a-z0-9+.-]*):/i.exec(location);
    if (!m) throw new Error('invalid stage1 configuration: location is a relative path or a URL without scheme');
    const scheme = (m[1] as string).toLowerCase();
    if (!STAGE1_SCHEMES.includes(scheme)) {
      throw new Error(`invalid stage1 configuration: location scheme "${scheme}" is not one of ${STAGE1_SCHEMES.join(', ')}`);
    }
  }
  if (name) {
    if (cfg.stage1.name) throw new Error('name and version of a default stage1 image are already specified');
    cfg.stage1.name = name;
    cfg.stage1.version = version;
  }
  if (location) {
    if (cfg.stage1.location) throw new Error('location of a default stage1 image is already specified');
    cfg.stage1.location = location;
  }
}

/** Applies `over` on top of `base` with rkt's override rules. */
export function mergeConfig(base: Stage0Config, over: Stage0Config): void {
  for (const [k, v] of over.auth) base.auth.set(k, v);
  for (const [k, v] of over.dockerAuth) base.dockerAuth.set(k, v);
  if (over.paths.data) base.paths.data = over.paths.data;
  if (over.paths.stage1Images) base.paths.stage1Images = over.paths.stage1Images;
  if (over.stage1.name) {
    base.stage1.name = over.stage1.name;
    base.stage1.version = over.stage1.version;
  }
  if (over.stage1.location) base.stage1.location = over.stage1.location;
}

/** One entry of `rkt config` output. */
export type ConfigEntry = Record<string, unknown> & { rktVersion: string; rktKind: string };

/**
 * The configuration as `rkt config` prints it: `{"stage0": [...]}` with one `auth` entry per
 * domain, one `dockerAuth` entry per registry (both sorted), then `paths` and `stage1`.
 */
export function configToJSON(cfg: Stage0Config): { stage0: ConfigEntry[] } {
  const stage0: ConfigEntry[] = [];
  for (const domain of [...cfg.auth.keys()].sort()) {
    const a = cfg.auth.get(domain) as AuthCredentials;
    stage0.push({ rktVersion: 'v1', rktKind: 'auth', domains: [domain], type: a.type, credentials: { ...a.credentials } });
  }
  for (const registry of [...cfg.dockerAuth.keys()].sort()) {
    const c = cfg.dockerAuth.get(registry) as BasicCredentials;
    stage0.push({ rktVersion: 'v1', rktKind: 'dockerAuth', registries: [registry], credentials: { user: c.user, password: c.password } });
  }
  stage0.push({ rktVersion: 'v1', rktKind: 'paths', data: cfg.paths.data, 'stage1-images': cfg.paths.stage1Images });
  stage0.push({ rktVersion: 'v1', rktKind: 'stage1', name: cfg.stage1.name, version: cfg.stage1.version, location: cfg.stage1.location });
  return { stage0 };
}
