import type { CommandModule } from 'yargs';
import type { Context } from '../cli/context';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  image: string;
  'output-dir': string;
  'rootfs-only': boolean;
  overwrite: boolean;
}

type ToDir = (ctx: Context, image: string, dir: string, opts: { rootfsOnly: boolean; overwrite: boolean }) => Promise<unknown>;

/** `rkt image extract|render IMAGE OUTPUT_DIR`: the same flags, another implementation. */
export function imageToDirCommand(verb: 'extract' | 'render', describe: string, load: () => Promise<ToDir>): CommandModule {
  const cmd: CommandModule<GlobalOptions, Args> = {
    command: `${verb} <image> <output-dir>`,
    describe,
    builder: (y) =>
      y
        .positional('image', { type: 'string', describe: 'image ID or name' })
        .positional('output-dir', { type: 'string', describe: 'the directory to create' })
        .option('rootfs-only', { type: 'boolean', default: false, describe: `${verb} the rootfs only` })
        .option('overwrite', { type: 'boolean', default: false, describe: 'overwrite the output directory' }) as never,
    handler: async (argv) => {
      const run = await load();
      await run(contextFrom(argv), String(argv.image), String(argv['output-dir']), { rootfsOnly: argv['rootfs-only'], overwrite: argv.overwrite });
    },
  };
  return cmd as unknown as CommandModule;
}
