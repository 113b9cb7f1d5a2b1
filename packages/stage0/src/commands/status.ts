import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'status',
  usage: 'status [--wait=bool|timeout] [--wait-ready=bool|timeout] --uuid-file=FILE | UUID',
  describe: 'Check the status of a rkt pod',
  epilogue:
    'Prints the pod state, pid and exit statuses. --wait and --wait-ready take a boolean or a duration: true waits forever, false not at all.',
  options: {
    wait: { type: 'string', describe: 'wait for the pod to finish (true, false or a duration)' },
    'wait-ready': { type: 'string', describe: 'wait until the pod is ready (true, false or a duration)' },
    format: { type: 'string', describe: "output format: 'json' or 'json-pretty' (default key=value lines)" },
    'uuid-file': { type: 'string', describe: 'read pod UUID from file instead of argument' },
  },
  run: async (args, globals) => (await import('../pod/commands/status')).statusCommand(args, globals),
});
export default cmd;
