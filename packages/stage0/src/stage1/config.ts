/**
 * The parts of rkt's configuration that choose the default stage1: `stage1.d/*.json` (kind
 * `stage1`: name, version, location) and the `stage1-images` field of `paths.d/*.json` (kind
 * `paths`). Directories are read in order (system, local, user); within one directory a field
 * may be set by one file only, a later directory overrides an earlier one (name and version as a
 * pair, location on its own). See rkt's Documentation/configuration.md.
 */
import * as fs from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { userError } from '@rktnetes/errors';

/** What the configuration says about the stage1. Empty fields were not configured. */
export interface Stage1Config {
  name?: string;
  version?: string;
  location?: string;
  /** `paths` kind, `stage1-images`: where `--stage1-from-dir` looks */
  stage1ImagesDir?: string;
}

const LOCATION_SCHEMES = ['file', 'docker', 'http', 'https'];

function configError(path: string, why: string): Error {
  return userError('config.invalid', `invalid configuration ${path}: ${why}`, { details: { path } });
}

/** The `*.json` regular files of `dir` in name order; none when the directory is missing. */
function jsonFiles(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw configError(dir, 'expected a directory');
    throw userError('config.read', `cannot read configuration directory ${dir}`, { cause: e });
  }
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => join(dir, e.name))
    .sort();
}

function readJson(path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw userError('config.invalid', `invalid configuration ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw configError(path, 'not a JSON object');
  const obj = raw as Record<string, unknown>;
  if (typeof obj.rktKind !== 'string' || obj.rktKind === '') throw configError(path, 'no rktKind specified');
  if (typeof obj.rktVersion !== 'string' || obj.rktVersion === '') throw configError(path, 'no rktVersion specified');
  return obj;
}

function optString(obj: Record<string, unknown>, key: string, path: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw configError(path, `${key} must be a string`);
  return v;
}

function checkKindAndVersion(obj: Record<string, unknown>, kind: string, path: string): void {
  if (obj.rktKind !== kind) throw configError(path, `expected configuration of kind "${kind}", found "${String(obj.rktKind)}"`);
  if (obj.rktVersion !== 'v1') throw configError(path, `no parser available for kind "${kind}" and version "${String(obj.rktVersion)}"`);
}

/** Validates a stage1 `location`: an absolute path or a file, docker, http or https URL. */
function checkLocation(location: string, path: string): void {
  if (isAbsolute(location)) return;
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(location);
  if (!m) throw configError(path, 'default stage1 image location is either a relative path or a URL without scheme');
  if (!LOCATION_SCHEMES.includes(m[1]!.toLowerCase())) {
    throw configError(path, `default stage1 image location URL has invalid scheme "${m[1]}", allowed schemes are "${LOCATION_SCHEMES.sort().join('", "')}"`);
  }
}

function readDir(dir: string): Stage1Config {
  const out: Stage1Config = {};
  for (const path of jsonFiles(join(dir, 'stage1.d'))) {
    const obj = readJson(path);
    checkKindAndVersion(obj, 'stage1', path);
    const name = optString(obj, 'name', path);
    const version = optString(obj, 'version', path);
    const location = optString(obj, 'location', path);
    if (name === '' && version !== '') throw configError(path, 'default stage1 image version specified, but name is missing');
    if (name !== '' && version === '') throw configError(path, 'default stage1 image name specified, but version is missing');
    if (location !== '') checkLocation(location, path);
    if (name !== '') {
      if (out.name !== undefined) throw configError(path, 'name and version of a default stage1 image are already specified');
      out.name = name;
      out.version = version;
    }
    if (location !== '') {
      if (out.location !== undefined) throw configError(path, 'location of a default stage1 image is already specified');
      out.location = location;
    }
  }
  for (const path of jsonFiles(join(dir, 'paths.d'))) {
    const obj = readJson(path);
    checkKindAndVersion(obj, 'paths', path);
    const images = optString(obj, 'stage1-images', path);
    if (images !== '') {
      if (out.stage1ImagesDir !== undefined) throw configError(path, 'stage1 images directory is already specified');
      if (!isAbsolute(images)) throw configError(path, 'stage1-images must be an absolute path');
      out.stage1ImagesDir = images;
    }
  }
  return out;
}

/**
 * Reads and merges the stage1 configuration of `dirs` (system, local, user order; empty
 * strings skipped). Errors: user `config.invalid` for malformed files or conflicting fields
 * within one directory, `config.read` for unreadable directories.
 */
export function readStage1Config(dirs: readonly string[]): Stage1Config {
  const merged: Stage1Config = {};
  for (const dir of dirs) {
    if (!dir) continue;
    const c = readDir(dir);
    if (c.name !== undefined) {
      merged.name = c.name;
      merged.version = c.version;
    }
    if (c.location !== undefined) merged.location = c.location;
    if (c.stage1ImagesDir !== undefined) merged.stage1ImagesDir = c.stage1ImagesDir;
  }
  return merged;
}
