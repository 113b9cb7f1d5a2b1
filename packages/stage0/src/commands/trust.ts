import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  keys: string[];
  prefix: string;
  root: boolean;
  'skip-fingerprint-review': boolean;
  'insecure-allow-http': boolean;
}

/** `rkt trust [--prefix=PREFIX] [--root] [KEY...]` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'trust [keys..]',
  describe: 'Trust a key for image verification',
  builder: (y) =>
    y
      .positional('keys', { type: 'string', array: true, default: [], describe: 'public key files or http(s) URLs' })
      .option('prefix', { type: 'string', default: '', describe: 'prefix to limit trust to' })
      .option('root', { type: 'boolean', default: false, describe: 'add root key from filesystem without a prefix' })
      .option('skip-fingerprint-review', { type: 'boolean', default: false, describe: 'accept key without fingerprint confirmation' })
      .option('insecure-allow-http', { type: 'boolean', default: false, describe: 'allow HTTP use for key discovery and/or retrieval' })
      .usage(
        [
          'rkt trust [--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] [--root] [PUBKEY...]',
          '',
          'Adds keys to the local keystore (--local-config/trustedkeys) for use in verifying signed images.',
          'PUBKEY may be a local file or a URL. PREFIX scopes the trust to image names sharing it; without',
          'PUBKEY the keys are discovered from PREFIX (ac-discovery-pubkeys). --root trusts keys for all images',
          '(key files must be given).',
        ].join('\n'),
      )
      .example('rkt trust --prefix=example.com/app', 'discover and review the keys of example.com/app')
      .example('rkt trust --root ./pubkey.gpg', 'trust a key for every image') as never,
  handler: async (argv) => {
    const { runTrust } = await import('../trust/command');
    await runTrust(contextFrom(argv), {
      prefix: argv.prefix,
      root: argv.root,
      skipFingerprintReview: argv['skip-fingerprint-review'],
      insecureAllowHttp: argv['insecure-allow-http'],
      keys: (argv.keys ?? []).map(String),
    });
  },
};
export default cmd as unknown as CommandModule;
