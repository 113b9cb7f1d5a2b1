/**
 * Environment variable names that cross stage boundaries, and the app environment file format
 * (`<s1root>/rkt/env/<app>`). See docs/stage1-interface.md.
 */
import { userError } from '@rktnetes/errors';

/** stage0 → stage1 run: number of the inherited fd that holds the pod directory's exclusive flock. */
export const ENV_LOCK_FD = 'RKT_LOCK_FD';
/** stage0 → stage1 run: SELinux process label for the apps (set, possibly empty). */
export const ENV_SELINUX_CONTEXT = 'RKT_SELINUX_CONTEXT';
/** stage0 → stage1 run: SELinux mount label for the pod's files (set, possibly empty). */
export const ENV_SELINUX_MOUNT_CONTEXT = 'RKT_SELINUX_MOUNT_CONTEXT';
/** stage0 → crossing entrypoints: absolute path of the stage1 `enter` entrypoint. */
export const ENV_STAGE1_ENTERCMD = 'RKT_STAGE1_ENTERCMD';
/** stage0 → crossing entrypoints: pid to pass to `enter --pid=`. */
export const ENV_STAGE1_ENTERPID = 'RKT_STAGE1_ENTERPID';
/** stage0 → crossing entrypoints (optional): app whose stage2 to enter. */
export const ENV_STAGE1_ENTERAPP = 'RKT_STAGE1_ENTERAPP';
/** Prefix of the experiment switches read by stage0 (`RKT_EXPERIMENT_APP`, `RKT_EXPERIMENT_ATTACH`). */
export const ENV_EXPERIMENT_PREFIX = 'RKT_EXPERIMENT_';
/** Set by stage1 in every app's environment: the app's name. */
export const ENV_AC_APP_NAME = 'AC_APP_NAME';
/** Set by stage1 in every app's environment when the metadata service is used. */
export const ENV_AC_METADATA_URL = 'AC_METADATA_URL';

/** The `PATH` used when none is given (apps without PATH, crossing entrypoints). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Variables every app gets unless its manifest sets them (appc minimum environment). */
export const DEFAULT_APP_ENV: readonly (readonly [string, string])[] = [
  ['PATH', DEFAULT_PATH],
  ['SHELL', '/bin/sh'],
  ['USER', 'root'],
  ['LOGNAME', 'root'],
  ['HOME', '/root'],
];

/** Known experiments (`RKT_EXPERIMENT_<NAME>`). */
export const EXPERIMENTS = ['app', 'attach'] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

/** Go's strconv.ParseBool: the spellings rkt accepts for booleans in env vars and flags. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Whether `RKT_EXPERIMENT_<NAME>` is set to a true boolean; unknown experiments are never on. */
export function isExperimentEnabled(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!(EXPERIMENTS as readonly string[]).includes(name)) return false;
  return parseGoBool(env[ENV_EXPERIMENT_PREFIX + name.toUpperCase()] ?? '') === true;
}

/** One environment entry, name and value. */
export type EnvEntry = readonly [name: string, value: string];

/**
 * The app's environment with the appc defaults filled in: the {@link DEFAULT_APP_ENV} entries
 * whose names `env` lacks come first, then `env` in its order.
 */
export function composeAppEnv(env: readonly EnvEntry[]): EnvEntry[] {
  const names = new Set(env.map(([n]) => n));
  return [...DEFAULT_APP_ENV.filter(([n]) => !names.has(n)), ...env];
}

/**
 * Serialises an app environment file: one `NAME=value` per line, each ending in a newline
 * (rkt's format, read by stage1 and by `enter`). Names must be non-empty without `=`; neither
 * names nor values may contain a newline or NUL. Throws a user error `env-file.invalid`.
 */
export function formatEnvFile(env: readonly EnvEntry[]): string {
  return env
    .map(([name, value]) => {
      if (name === '' || /[=\n\0]/.test(name)) {
        throw userError('env-file.invalid', `invalid environment variable name ${JSON.stringify(name)}`, { details: { name } });
      }
      if (/[\n\0]/.test(value)) {
        throw userError('env-file.invalid', `environment variable ${name} has a newline or NUL in its value, which the env file cannot hold`, {
          details: { name },
        });
      }
      return `${name}=${value}\n`;
    })
    .join('');
}

/**
 * Parses an app environment file: newline-separated `NAME=value` lines (the first `=` splits);
 * empty lines are skipped, a trailing `\r` is kept as part of the value. A line without `=`
 * throws a user error `env-file.invalid`.
 */
export function parseEnvFile(text: string, source = 'environment file'): EnvEntry[] {
  const out: EnvEntry[] = [];
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw userError('env-file.invalid', `invalid ${source} line ${i + 1}: expected NAME=value`, { details: { line: i + 1 } });
    out.push([line.slice(0, eq), line.slice(eq + 1)]);
  });
  return out;
}
