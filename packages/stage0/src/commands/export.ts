import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

const cmd: CommandModule = {
  command: 'export <uuid> <output>',
  describe: 'Export an app from an exited pod to an ACI file',
  builder: (y) =>
    y
      .usage('rkt export [--app=APPNAME] [--overwrite] UUID OUTPUT_ACI_FILE')
      .positional('uuid', { type: 'string', describe: 'an exited pod (UUID or unique prefix)' })
      .positional('output', { type: 'string', describe: 'the ACI file to write (.aci)' })
      .option('app', { type: 'string', describe: 'name of the app to export within the specified pod' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'overwrite output ACI' }),
  handler: async (argv) => {
    const { exportCommand } = await import('../pod/commands/export');
    await exportCommand(contextFrom(argv as unknown as GlobalOptions), String(argv.uuid), String(argv.output), {
      ...(argv.app ? { app: String(argv.app) } : {}),
      overwrite: argv.overwrite as boolean,
    });
  },
};
export default cmd;
