import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  image: string;
  'output-dir': string;
  'rootfs-only': boolean;
  overwrite: boolean;
}

/** `rkt image render IMAGE OUTPUT_DIR` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'render <image> <output-dir>',
  describe: 'Render a stored image to a directory with all its dependencies, as an app sees it',
  builder: (y) =>
    y
      .positional('image', { type: 'string', describe: 'image ID or name' })
      .positional('output-dir', { type: 'string', describe: 'the directory to create' })
      .option('rootfs-only', { type: 'boolean', default: false, describe: 'render the rootfs only' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'overwrite the output directory' }) as never,
  handler: async (argv) => {
    const { runImageRender } = await import('../image/render');
    await runImageRender(contextFrom(argv), String(argv.image), String(argv['output-dir']), { rootfsOnly: argv['rootfs-only'], overwrite: argv.overwrite });
  },
};
export default cmd as unknown as CommandModule;
