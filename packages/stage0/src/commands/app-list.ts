import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'list',
  parents: ['app'],
  usage: 'app list [--no-legend] [--format=json|json-pretty] UUID',
  describe: 'List the apps of a pod and their states',
  epilogue: 'States: created, running, exited (rkt app status shows times and exit codes).',
  options: {
    'no-legend': { type: 'boolean', describe: 'suppress the legend' },
    format: { type: 'string', describe: "output format: 'json' or 'json-pretty' (default a table)" },
  },
  run: async (args, globals) => (await import('../app/status')).listCommand(args, globals),
});
export default cmd;
