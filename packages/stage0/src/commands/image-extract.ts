import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  image: string;
  'output-dir': string;
  'rootfs-only': boolean;
  overwrite: boolean;
}

/** `rkt image extract IMAGE OUTPUT_DIR` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'extract <image> <output-dir>',
  describe: 'Extract a stored image to a directory (its own files, without dependencies)',
  builder: (y) =>
    y
      .positional('image', { type: 'string', describe: 'image ID or name' })
      .positional('output-dir', { type: 'string', describe: 'the directory to create' })
      .option('rootfs-only', { type: 'boolean', default: false, describe: 'extract the rootfs only' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'overwrite the output directory' }) as never,
  handler: async (argv) => {
    const { runImageExtract } = await import('../image/extract');
    await runImageExtract(contextFrom(argv), String(argv.image), String(argv['output-dir']), { rootfsOnly: argv['rootfs-only'], overwrite: argv.overwrite });
  },
};
export default cmd as unknown as CommandModule;
