import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  'grace-period': string;
}

/** `rkt image gc` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'gc',
  describe: 'Garbage collect the local store',
  builder: (y) =>
    y
      .usage(
        [
          'rkt image gc [--grace-period=24h]',
          '',
          'Removes images not used within the grace period and not used by any pod, every rendered',
          'tree no pod uses, and leftovers of interrupted store operations. Meant to run periodically',
          'from a timer; --grace-period=0s removes every image no pod uses.',
        ].join('\n'),
      )
      .option('grace-period', { type: 'string', default: '24h0m0s', describe: 'duration since an image was last used before removing it (Go syntax: 48h, 1h30m, 0s)' }) as never,
  handler: async (argv) => {
    const [{ runImageGc }, { parseGoDuration }] = await Promise.all([import('../image/gc'), import('../image/duration')]);
    await runImageGc(contextFrom(argv), parseGoDuration(argv['grace-period'], 'grace-period'));
  },
};
export default cmd as unknown as CommandModule;
