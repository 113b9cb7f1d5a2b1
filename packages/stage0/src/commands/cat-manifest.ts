import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

const cmd: CommandModule = {
  command: 'cat-manifest [uuid]',
  describe: 'Inspect and print the pod manifest',
  builder: (y) =>
    y
      .usage('rkt cat-manifest [--pretty-print] --uuid-file=FILE | UUID')
      .positional('uuid', { type: 'string', describe: 'the pod (UUID or unique prefix)' })
      .option('pretty-print', { type: 'boolean', default: true, describe: 'apply indent to format the output' })
      .option('uuid-file', { type: 'string', describe: 'read pod UUID from file instead of argument' }),
  handler: async (argv) => {
    const [{ catManifestCommand }, { podArguments }] = await Promise.all([import('../pod/commands/cat-manifest'), import('../pod/uuid-arg')]);
    const [ref] = await podArguments(argv['uuid-file'] as string | undefined, argv.uuid === undefined ? [] : [String(argv.uuid)], 'cat-manifest');
    await catManifestCommand(contextFrom(argv as unknown as GlobalOptions), ref!, argv['pretty-print'] as boolean);
  },
};
export default cmd;
