import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'rm',
  parents: ['app'],
  usage: 'app rm UUID --app=NAME',
  describe: 'Remove an app from a mutable pod, stopping it first',
  options: { app: { type: 'string', describe: 'the app' } },
  run: async (args, globals) => (await import('../app/lifecycle')).rmCommand(args, globals),
});
export default cmd;
