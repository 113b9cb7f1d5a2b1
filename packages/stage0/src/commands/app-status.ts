import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'status',
  parents: ['app'],
  usage: 'app status UUID --app=NAME [--format=json|json-pretty]',
  describe: 'Show the state of an app: created, running or exited, times, exit code, pid',
  options: {
    app: { type: 'string', describe: 'the app' },
    format: { type: 'string', describe: "output format: 'json' or 'json-pretty' (default key=value lines)" },
  },
  run: async (args, globals) => (await import('../app/status')).statusCommand(args, globals),
});
export default cmd;
