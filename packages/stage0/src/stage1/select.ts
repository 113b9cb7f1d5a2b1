/**
 * Choosing the stage1 image of a new pod, as rkt does: one of the `--stage1-{url,path,name,
 * hash,from-dir}` flags, or else the configured default (`stage1.d`), or else the build-time
 * default (`coreos.com/rkt/stage1-coreos` at the rkt version, from
 * `/usr/lib/rkt/stage1-images/stage1-coreos.aci` or the stage1 package installed next to this
 * rkt). The chosen image is imported into the store like any image and its store key returned.
 *
 * Stage0 knows nothing else about stage1 flavors: everything it needs later comes from the
 * stage1 image manifest.
 */
import * as fs from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRktError, userError, usageError } from '@rktnetes/errors';
import type { Store } from '@rktnetes/store';
import type { Context } from '../cli/context';
import { fetchImage } from '../fetch/index';
import type { FlagSpec } from '../pod/flags';
import { versionInfo } from '../version';
import { readStage1Config, type Stage1Config } from './config';

/** The name of the default stage1 image. */
export const DEFAULT_STAGE1_NAME = 'coreos.com/rkt/stage1-coreos';
/** The stage1 images directory: `--stage1-from-dir` looks here, files here are trusted. */
export const DEFAULT_STAGE1_IMAGES_DIR = '/usr/lib/rkt/stage1-images';
/** File name of the default stage1 image in the images directory. */
export const DEFAULT_STAGE1_FILE = 'stage1-coreos.aci';
/** The build-time default location of the stage1 image. */
export const DEFAULT_STAGE1_LOCATION = join(DEFAULT_STAGE1_IMAGES_DIR, DEFAULT_STAGE1_FILE);

/** How the user named the stage1 image. */
export type Stage1LocationKind = 'url' | 'path' | 'name' | 'hash' | 'from-dir';

/** The `--stage1-*` flag of each kind. */
export const STAGE1_FLAGS: Readonly<Record<Stage1LocationKind, string>> = {
  url: 'stage1-url',
  path: 'stage1-path',
  name: 'stage1-name',
  hash: 'stage1-hash',
  'from-dir': 'stage1-from-dir',
};

/** Help texts of the `--stage1-*` flags. */
export const STAGE1_FLAG_HELP: Readonly<Record<Stage1LocationKind, string>> = {
  url: 'URL to an image to use as stage1',
  path: 'absolute or relative path to an image to use as stage1',
  name: 'name of an image to use as stage1',
  hash: 'hash of an image to use as stage1',
  'from-dir': 'filename of an image in stage1 images directory to use as stage1',
};

/** A stage1 chosen with a flag. */
export interface Stage1Choice {
  kind: Stage1LocationKind;
  location: string;
}

/**
 * The `--stage1-*` flag specs writing into `target.choice`. A second one is a usage error
 * `cli.stage1-flags` ("flags --stage1-path and --stage1-name are mutually exclusive").
 */
export function stage1FlagSpecs(target: { choice?: Stage1Choice }): FlagSpec[] {
  return (Object.keys(STAGE1_FLAGS) as Stage1LocationKind[]).map((kind) => ({
    name: STAGE1_FLAGS[kind],
    kind: 'value' as const,
    set: (location: string) => {
      const current = target.choice;
      if (current) {
        throw usageError(
          'cli.stage1-flags',
          current.kind === kind ? `--${STAGE1_FLAGS[kind]} already used` : `flags --${STAGE1_FLAGS[kind]} and --${STAGE1_FLAGS[current.kind]} are mutually exclusive`,
        );
      }
      if (location === '') throw usageError('cli.invalid-value', `--${STAGE1_FLAGS[kind]}: empty value`);
      target.choice = { kind, location };
    },
  }));
}

/** The root of this package (the directory holding its package.json), from the module's location. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * Where a stage1 image file built in this repository (or installed with this rkt from npm,
 * where the `@rktnetes/*` packages are siblings) would be: `stage1-fly.aci` ->
 * `<packages>/stage1-fly/dist/stage1-fly.aci`. Undefined when the name is not `<flavor>.aci`.
 */
export function bundledStage1Path(fileName: string): string | undefined {
  const m = /^([a-z0-9][a-z0-9-]*)\.aci$/.exec(fileName);
  const root = packageRoot();
  if (!m || !root) return undefined;
  return join(dirname(root), m[1]!, 'dist', fileName);
}

/**
 * Whether an image file at `path` is trusted without a signature, as rkt trusts its own
 * default stage1: the default location, anything in the default stage1 images directory, or
 * a stage1 image of this rkt's own build.
 */
export function isTrustedStage1Location(path: string): boolean {
  const abs = resolve(path);
  if (abs === DEFAULT_STAGE1_LOCATION || abs.startsWith(DEFAULT_STAGE1_IMAGES_DIR + sep)) return true;
  return bundledStage1Path(basename(abs)) === abs;
}

/** Imports a local stage1 image file: trusted ones directly, others through the fetcher (signature checks). */
async function importStage1File(ctx: Context, store: Store, path: string): Promise<string> {
  const abs = resolve(path);
  if (isTrustedStage1Location(abs)) {
    ctx.log.debug(`using trusted stage1 image ${abs}`);
    return (await store.importImage(abs, { name: abs })).key;
  }
  return fetchImage(ctx, store, { ref: abs, pullPolicy: 'new' });
}

function fileUrlPath(url: string): string | undefined {
  return url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : undefined;
}

function stage1Error(message: string, cause: unknown): Error {
  return userError('stage1.image', message, { cause });
}

async function fromFlag(ctx: Context, store: Store, choice: Stage1Choice, cfg: Stage1Config): Promise<string> {
  const what = `--${STAGE1_FLAGS[choice.kind]}=${choice.location}`;
  try {
    switch (choice.kind) {
      case 'hash':
        return store.resolveImage(choice.location);
      case 'name':
        return await fetchImage(ctx, store, { ref: choice.location, pullPolicy: 'new' });
      case 'url': {
        const path = fileUrlPath(choice.location);
        return path !== undefined ? await importStage1File(ctx, store, path) : await fetchImage(ctx, store, { ref: choice.location, pullPolicy: 'new' });
      }
      case 'path':
        return await importStage1File(ctx, store, choice.location);
      case 'from-dir': {
        if (choice.location.includes('/')) throw usageError('cli.invalid-value', `${what}: expected a file name, not a path`);
        const candidates = [join(cfg.stage1ImagesDir ?? DEFAULT_STAGE1_IMAGES_DIR, choice.location), bundledStage1Path(choice.location)].filter(
          (p): p is string => p !== undefined,
        );
        const found = candidates.find((p) => fs.existsSync(p));
        if (!found) throw userError('stage1.not-found', `stage1 image ${choice.location} not found in ${candidates.join(' or ')}`);
        return await importStage1File(ctx, store, found);
      }
    }
  } catch (e) {
    if (isRktError(e) && e.kind === 'usage') throw e;
    throw stage1Error(`cannot use stage1 image ${what}`, e);
  }
}

async function fromDefaults(ctx: Context, store: Store, cfg: Stage1Config): Promise<string> {
  const configured = cfg.name !== undefined && cfg.version !== undefined && cfg.name !== '' && cfg.version !== '';
  const name = configured ? cfg.name! : DEFAULT_STAGE1_NAME;
  const version = configured ? cfg.version! : versionInfo().rktVersion;
  const ref = `${name}:${version}`;
  if (!version.endsWith('-dirty')) {
    try {
      return store.resolveImage(ref);
    } catch (e) {
      if (!isRktError(e) || (e.code !== 'store.not-found' && e.code !== 'store.ambiguous')) throw e;
      ctx.log.debug(`default stage1 ${ref} is not in the store`);
    }
  }
  const location = cfg.location ?? DEFAULT_STAGE1_LOCATION;
  const fileName = cfg.location === undefined ? DEFAULT_STAGE1_FILE : isAbsolute(cfg.location) ? basename(cfg.location) : '';
  if (!isAbsolute(location)) {
    const path = fileUrlPath(location);
    try {
      return path !== undefined ? await importStage1File(ctx, store, path) : await fetchImage(ctx, store, { ref: location, pullPolicy: 'new' });
    } catch (e) {
      throw stage1Error(`cannot fetch stage1 image ${location}`, e);
    }
  }
  let fetchErr: unknown;
  if (fs.existsSync(location) || cfg.location !== undefined) {
    try {
      return await importStage1File(ctx, store, location);
    } catch (e) {
      fetchErr = e;
    }
  }
  const bundled = fileName ? bundledStage1Path(fileName) : undefined;
  if (bundled && fs.existsSync(bundled)) {
    try {
      return (await store.importImage(bundled, { name: bundled })).key;
    } catch (e) {
      throw stage1Error(`cannot use stage1 image ${bundled}`, e);
    }
  }
  if (fetchErr) throw stage1Error(`cannot use stage1 image ${location}`, fetchErr);
  throw userError(
    'stage1.not-found',
    `no stage1 image: ${ref} is not in the store and neither ${location}${bundled ? ` nor ${bundled}` : ''} exists; use --stage1-{path,url,name,hash,from-dir}`,
  );
}

/**
 * The store key of the stage1 image for a new pod: from `choice` (a `--stage1-*` flag) or the
 * configuration in `ctx`'s config directories. Errors: `stage1.image`, `stage1.not-found`
 * (user), `config.invalid`, and usage errors for malformed flags.
 */
export async function resolveStage1Image(ctx: Context, store: Store, choice: Stage1Choice | undefined): Promise<string> {
  const cfg = readStage1Config([ctx.systemConfig, ctx.localConfig, ctx.userConfig]);
  return choice ? fromFlag(ctx, store, choice, cfg) : fromDefaults(ctx, store, cfg);
}
