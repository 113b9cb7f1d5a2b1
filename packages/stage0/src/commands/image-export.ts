import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  image: string;
  output: string;
  overwrite: boolean;
}

/** `rkt image export IMAGE OUTPUT_ACI_FILE` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'export <image> <output>',
  describe: 'Export a stored image to an ACI file (uncompressed, byte for byte as imported)',
  builder: (y) =>
    y
      .positional('image', { type: 'string', describe: 'image ID or name' })
      .positional('output', { type: 'string', describe: 'the ACI file to write' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'overwrite the output ACI' }) as never,
  handler: async (argv) => {
    const { runImageExport } = await import('../image/export');
    await runImageExport(contextFrom(argv), String(argv.image), String(argv.output), { overwrite: argv.overwrite });
  },
};
export default cmd as unknown as CommandModule;
