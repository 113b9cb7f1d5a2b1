/**
 * The directories rkt works in: the data directory (store and pods) and the three configuration
 * directories. See docs/on-disk-format.md.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { usageError } from '@rktnetes/errors';

/** Default data directory (`--dir`), holding the store (`cas/`) and the pods (`pods/`). */
export const DEFAULT_DATA_DIR = '/var/lib/rkt';
/** Default system configuration directory (`--system-config`), written by the vendor. */
export const DEFAULT_SYSTEM_CONFIG_DIR = '/usr/lib/rkt';
/** Default local configuration directory (`--local-config`), written by the administrator. */
export const DEFAULT_LOCAL_CONFIG_DIR = '/etc/rkt';
/**
 * Default user configuration directory (`--user-config`): none. Like rkt, no user directory is
 * read unless one is given; {@link xdgUserConfigDir} computes the conventional place for a
 * caller that wants to offer one.
 */
export const DEFAULT_USER_CONFIG_DIR = '';

/** Environment variable that overrides the default data directory (below `--dir`, above the default). */
export const ENV_DATA_DIR = 'RKT_DIR';

/** The resolved set of directories one rkt invocation works with; all absolute. */
export interface RktDirs {
  dataDir: string;
  systemConfigDir: string;
  localConfigDir: string;
  /** empty when no user configuration directory is used */
  userConfigDir: string;
}

/** The directory flags as given on the command line; absent means "use the default". */
export interface RktDirFlags {
  dir?: string | undefined;
  systemConfig?: string | undefined;
  localConfig?: string | undefined;
  userConfig?: string | undefined;
}

/**
 * `$XDG_CONFIG_HOME/rkt`, or `~/.config/rkt` when XDG_CONFIG_HOME is unset or not absolute.
 * Not used unless the caller passes it as `userConfig`.
 */
export function xdgUserConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'rkt');
}

function absDir(value: string, flag: string, cwd: string): string {
  // rkt rejects an empty directory flag rather than silently using the cwd
  if (value === '') throw usageError('dirs.empty', `--${flag}: "" is not a valid directory`, { details: { flag } });
  return resolve(cwd, value);
}

/**
 * Resolves the directories for one invocation. Precedence for the data directory: `--dir`,
 * then `RKT_DIR`, then {@link DEFAULT_DATA_DIR} (rkt additionally reads `paths` configuration,
 * which the caller applies by passing it as `dir`). Relative paths are made absolute against
 * `cwd`. Throws a usage error (`dirs.empty`) for an explicitly empty flag.
 */
export function resolveDirs(flags: RktDirFlags = {}, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): RktDirs {
  const dataDir =
    flags.dir !== undefined ? absDir(flags.dir, 'dir', cwd) : env[ENV_DATA_DIR] ? resolve(cwd, env[ENV_DATA_DIR]) : DEFAULT_DATA_DIR;
  return {
    dataDir,
    systemConfigDir: flags.systemConfig !== undefined ? absDir(flags.systemConfig, 'system-config', cwd) : DEFAULT_SYSTEM_CONFIG_DIR,
    localConfigDir: flags.localConfig !== undefined ? absDir(flags.localConfig, 'local-config', cwd) : DEFAULT_LOCAL_CONFIG_DIR,
    userConfigDir: flags.userConfig !== undefined ? absDir(flags.userConfig, 'user-config', cwd) : DEFAULT_USER_CONFIG_DIR,
  };
}

/**
 * The configuration directories in the order they are read, later ones overriding earlier
 * ones: system, local, and user when set.
 */
export function configDirs(dirs: RktDirs): string[] {
  return [dirs.systemConfigDir, dirs.localConfigDir, ...(dirs.userConfigDir ? [dirs.userConfigDir] : [])];
}
