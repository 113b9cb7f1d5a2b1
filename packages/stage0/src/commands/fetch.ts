import type { CommandModule } from 'yargs';
import { usageError } from '@rktnetes/errors';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  images: string[];
  signature?: string | string[];
  'pull-policy': 'never' | 'new' | 'update';
  full: boolean;
  'store-only': boolean;
  'no-store': boolean;
}

/** `rkt fetch IMAGE...` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'fetch <images..>',
  describe: 'Fetch image(s) and store them in the local store',
  builder: (y) =>
    y
      .positional('images', {
        type: 'string',
        array: true,
        describe: 'image IDs, names (name[:version][,label=value]), files, file:// or http(s):// URLs',
      })
      .option('signature', { type: 'string', requiresArg: true, describe: 'local signature file (or URL) to use in validating the preceding image' })
      .option('pull-policy', { choices: ['never', 'new', 'update'] as const, default: 'update' as const, describe: 'when to pull an image' })
      .option('full', { type: 'boolean', default: false, describe: 'print the full image hash after fetching' })
      .option('store-only', { type: 'boolean', default: false, hidden: true, describe: 'deprecated: use --pull-policy=never' })
      .option('no-store', { type: 'boolean', default: false, hidden: true, describe: 'deprecated: use --pull-policy=update' })
      .usage(
        [
          'rkt fetch [--pull-policy=never|new|update] [--full] IMAGE [--signature=SIG] [IMAGE...]',
          '',
          'Locates and downloads remote ACIs and their attached signatures, verifies them against',
          'the keys trusted with `rkt trust`, and stores them. Prints the ID of each image.',
        ].join('\n'),
      )
      .example('rkt fetch example.com/app:v1.0', 'discover, download and verify by name')
      .example('rkt fetch ./app.aci --signature=./app.aci.asc', 'import a local file') as never,
  handler: async (argv) => {
    if (argv['store-only'] && argv['no-store']) throw usageError('cli.usage', 'both --store-only and --no-store specified');
    const pullPolicy = argv['store-only'] ? 'never' : argv['no-store'] ? 'update' : argv['pull-policy'];
    const { pairSignatures, runFetch } = await import('../fetch/command');
    const images = argv.images.map(String);
    await runFetch(contextFrom(argv), {
      images: pairSignatures(process.argv.slice(2), images, [argv.signature ?? []].flat().map(String)),
      pullPolicy,
      full: argv.full,
    });
  },
};
export default cmd as unknown as CommandModule;
