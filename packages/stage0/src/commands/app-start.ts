import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'start',
  parents: ['app'],
  usage: 'app start UUID --app=NAME',
  describe: 'Start an app in a running mutable pod (again, after it exited)',
  options: { app: { type: 'string', describe: 'the app' } },
  run: async (args, globals) => (await import('../app/lifecycle')).startCommand(args, globals),
});
export default cmd;
