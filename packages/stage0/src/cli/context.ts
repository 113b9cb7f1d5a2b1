import { usageError } from '@rktnetes/errors';
import { createLogger, type Logger } from '@rktnetes/log';
import type { GlobalOptions } from './globals';

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

export function contextFrom(argv: GlobalOptions): Context {
  return {
    dataDir: argv.dir,
    debug: argv.debug,
    insecure: parseInsecureOptions(argv['insecure-options']),
    localConfig: argv['local-config'],
    systemConfig: argv['system-config'],
    userConfig: argv['user-config'] || (process.env.XDG_CONFIG_HOME ? `${process.env.XDG_CONFIG_HOME}/rkt` : process.env.HOME ? `${process.env.HOME}/.config/rkt` : ''),
    trustKeysFromHttps: argv['trust-keys-from-https'],
    log: createLogger({ prefix: 'rkt', debug: argv.debug }),
  };
}
