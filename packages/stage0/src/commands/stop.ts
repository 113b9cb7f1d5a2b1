import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

const cmd: CommandModule = {
  command: 'stop [uuids..]',
  describe: 'Stop a pod',
  builder: (y) =>
    y
      .usage('rkt stop [--force] --uuid-file=FILE | UUID ...')
      .positional('uuids', { type: 'string', array: true, describe: 'pods to stop (UUIDs or unique prefixes)' })
      .option('force', { type: 'boolean', default: false, describe: 'forced stopping' })
      .option('uuid-file', { type: 'string', describe: 'read pod UUID from file instead of argument' }),
  handler: async (argv) => {
    const [{ stopCommand }, { podArguments }] = await Promise.all([import('../pod/commands/stop'), import('../pod/uuid-arg')]);
    const refs = await podArguments(argv['uuid-file'] as string | undefined, ((argv.uuids as unknown[]) ?? []).map(String), 'stop', true);
    await stopCommand(contextFrom(argv as unknown as GlobalOptions), refs, argv.force as boolean);
  },
};
export default cmd;
