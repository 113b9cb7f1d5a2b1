import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  images: string[];
}

/** `rkt image rm IMAGE...` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'rm <images..>',
  describe: 'Remove one or more images with the given IDs or image names from the local store',
  builder: (y) =>
    y.positional('images', {
      type: 'string',
      array: true,
      describe: 'image IDs or names; images used by pods being prepared, prepared or running are not removed',
    }) as never,
  handler: async (argv) => {
    const { runImageRm } = await import('../image/rm');
    await runImageRm(contextFrom(argv), argv.images.map(String));
  },
};
export default cmd as unknown as CommandModule;
