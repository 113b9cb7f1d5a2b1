import { resolveDirs } from '@rktnetes/common';
import { usageError } from '@rktnetes/errors';
import { createLogger, type Logger } from '@rktnetes/log';
import { DEFAULT_DATA_DIR, DEFAULT_LOCAL_CONFIG, DEFAULT_SYSTEM_CONFIG, type GlobalOptions } from './globals';

/** A security feature `--insecure-options` can turn off (rkt's names). */
export type InsecureOption = 'http' | 'image' | 'tls' | 'pubkey' | 'capabilities' | 'paths' | 'seccomp' | 'ondisk';

const GROUPS: Record<string, InsecureOption[]> = {
  none: [],
  'all-fetch': ['image', 'tls', 'http'],
  'all-run': ['capabilities', 'paths', 'seccomp'],
  all: ['http', 'image', 'tls', 'pubkey', 'capabilities', 'paths', 'seccomp', 'ondisk'],
};
const SINGLE = new Set<InsecureOption>(['http', 'image', 'tls', 'pubkey', 'capabilities', 'paths', 'seccomp', 'ondisk']);

/** Parses `--insecure-options` (comma-separated, groups expanded); unknown names are usage errors. */
export function parseInsecureOptions(value: string): Set<InsecureOption> {
  const out = new Set<InsecureOption>();
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (!name) continue;
    const group = GROUPS[name];
    if (group) group.forEach((g) => out.add(g));
    else if (SINGLE.has(name as InsecureOption)) out.add(name as InsecureOption);
    else
      throw usageError(
        'cli.insecure-options',
        `--insecure-options: unknown value "${name}" (valid: ${[...Object.keys(GROUPS), ...SINGLE].join(', ')})`,
      );
  }
  return out;
}

/** What every command implementation receives: the global flags, parsed. */
export interface Context {
  dataDir: string;
  debug: boolean;
  insecure: Set<InsecureOption>;
  localConfig: string;
  systemConfig: string;
  userConfig: string;
  trustKeysFromHttps: boolean;
  log: Logger;
}

/** A flag given several times arrives as an array: the last one wins, as with Go's flag package. */
function lastValue(v: string | readonly string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : (v as string | undefined);
}

/**
 * The context of a command. The directory flags are made absolute (stage1 runs in the pod
 * directory, so a relative path would name another place) and an empty one is the usage error
 * `dirs.empty` (docs/on-disk-format.md), rather than silently meaning the working directory.
 */
export function contextFrom(argv: GlobalOptions): Context {
  const userFlag = lastValue(argv['user-config']);
  const dirs = resolveDirs({
    dir: lastValue(argv.dir) ?? DEFAULT_DATA_DIR,
    localConfig: lastValue(argv['local-config']) ?? DEFAULT_LOCAL_CONFIG,
    systemConfig: lastValue(argv['system-config']) ?? DEFAULT_SYSTEM_CONFIG,
    ...(userFlag ? { userConfig: userFlag } : {}),
  });
  return {
    dataDir: dirs.dataDir,
    debug: argv.debug,
    insecure: parseInsecureOptions(lastValue(argv['insecure-options']) ?? ''),
    localConfig: dirs.localConfigDir,
    systemConfig: dirs.systemConfigDir,
    userConfig: dirs.userConfigDir || (process.env.XDG_CONFIG_HOME ? `${process.env.XDG_CONFIG_HOME}/rkt` : process.env.HOME ? `${process.env.HOME}/.config/rkt` : ''),
    trustKeysFromHttps: argv['trust-keys-from-https'],
    log: createLogger({ prefix: 'rkt', debug: argv.debug }),
  };
}
