import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';
import { listingFlags } from '../output/flags';

const cmd: CommandModule = {
  command: 'list',
  describe: 'List pods',
  builder: (y) => listingFlags(y),
  handler: async (argv) => {
    const [{ listCommand }, { parseOutputFormat }] = await Promise.all([import('../pod/commands/list'), import('../output/options')]);
    await listCommand(contextFrom(argv as unknown as GlobalOptions), {
      full: argv.full as boolean,
      noLegend: argv['no-legend'] as boolean,
      format: parseOutputFormat(argv.format as string | undefined),
    });
  },
};
export default cmd;
