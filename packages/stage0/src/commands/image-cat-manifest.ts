import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  image: string;
  'pretty-print': boolean;
}

/** `rkt image cat-manifest IMAGE` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'cat-manifest <image>',
  describe: 'Inspect and print the image manifest',
  builder: (y) =>
    y
      .positional('image', { type: 'string', describe: 'image ID or name' })
      .option('pretty-print', { type: 'boolean', default: true, describe: 'indent the output (--pretty-print=false for one line)' }) as never,
  handler: async (argv) => {
    const { runImageCatManifest } = await import('../image/cat-manifest');
    await runImageCatManifest(contextFrom(argv), String(argv.image), argv['pretty-print']);
  },
};
export default cmd as unknown as CommandModule;
