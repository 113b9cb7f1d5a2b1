import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

const cmd: CommandModule = {
  command: 'rm [uuids..]',
  describe: 'Remove all files and resources associated with an exited pod',
  builder: (y) =>
    y
      .usage('rkt rm --uuid-file=FILE | UUID ...')
      .positional('uuids', { type: 'string', array: true, describe: 'pods to remove (UUIDs or unique prefixes)' })
      .option('uuid-file', { type: 'string', describe: 'read pod UUID from file instead of argument' }),
  handler: async (argv) => {
    const [{ rmCommand }, { podArguments }] = await Promise.all([import('../pod/commands/rm'), import('../pod/uuid-arg')]);
    const refs = await podArguments(argv['uuid-file'] as string | undefined, ((argv.uuids as unknown[]) ?? []).map(String), 'rm', true);
    await rmCommand(contextFrom(argv as unknown as GlobalOptions), refs);
  },
};
export default cmd;
