import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

const cmd: CommandModule = {
  command: 'gc',
  describe: 'Garbage collect rkt pods no longer in use',
  builder: (y) =>
    y
      .usage('rkt gc [--grace-period=duration] [--expire-prepared=duration] [--mark-only]')
      .option('grace-period', { type: 'string', default: '30m0s', describe: 'duration to wait before discarding inactive pods from garbage (0s disables it)' })
      .option('expire-prepared', { type: 'string', default: '24h0m0s', describe: 'duration to wait before expiring prepared pods' })
      .option('mark-only', { type: 'boolean', default: false, describe: 'only move exited and aborted pods to the garbage directories' })
      .epilogue('Garbage collection is a 2-step process: exited pods are first moved to the garbage, then removed by a later gc once older than the grace period.'),
  handler: async (argv) => {
    const [{ gcCommand }, { parseGoDuration }] = await Promise.all([import('../pod/commands/gc'), import('../pod/format')]);
    await gcCommand(contextFrom(argv as unknown as GlobalOptions), {
      gracePeriodMs: parseGoDuration(String(argv['grace-period']), 'grace-period'),
      expirePreparedMs: parseGoDuration(String(argv['expire-prepared']), 'expire-prepared'),
      markOnly: argv['mark-only'] as boolean,
    });
  },
};
export default cmd;
