import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  images: string[];
}

/** `rkt image verify IMAGE...` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'verify <images..>',
  describe: 'Verify images in the local store: their content and their rendered trees (re-rendering modified trees)',
  builder: (y) => y.positional('images', { type: 'string', array: true, describe: 'image IDs or names' }) as never,
  handler: async (argv) => {
    const { runImageVerify } = await import('../image/verify');
    await runImageVerify(contextFrom(argv), argv.images.map(String));
  },
};
export default cmd as unknown as CommandModule;
