import type { Argv } from 'yargs';

/** rkt's global flags, accepted by every command (rkt Documentation/commands.md). */
export interface GlobalOptions {
  debug: boolean;
  dir: string;
  'insecure-options': string;
  'local-config': string;
  'system-config': string;
  'user-config': string;
  'trust-keys-from-https': boolean;
}

export const DEFAULT_DATA_DIR = '/var/lib/rkt';
export const DEFAULT_LOCAL_CONFIG = '/etc/rkt';
export const DEFAULT_SYSTEM_CONFIG = '/usr/lib/rkt';

/** Registers the global flags; defaults may come from the environment (RKT_DIR, RKT_DEBUG). */
export function globalFlags<T>(y: Argv<T>): Argv<T & GlobalOptions> {
  return y
    .option('debug', { type: 'boolean', default: process.env.RKT_DEBUG === '1', describe: 'print out more debug information to stderr', global: true })
    .option('dir', { type: 'string', default: process.env.RKT_DIR || DEFAULT_DATA_DIR, describe: 'rkt data directory', global: true })
    .option('insecure-options', {
      type: 'string',
      default: 'none',
      describe: 'comma-separated list of security features to disable: none, http, image, tls, pubkey, capabilities, paths, seccomp, all-fetch, all-run, all',
      global: true,
    })
    .option('local-config', { type: 'string', default: DEFAULT_LOCAL_CONFIG, describe: 'local configuration directory', global: true })
    .option('system-config', { type: 'string', default: DEFAULT_SYSTEM_CONFIG, describe: 'system configuration directory', global: true })
    .option('user-config', { type: 'string', default: '', describe: 'user configuration directory', global: true })
    .option('trust-keys-from-https', { type: 'boolean', default: false, describe: 'automatically trust gpg keys fetched from https', global: true }) as Argv<
    T & GlobalOptions
  >;
}
