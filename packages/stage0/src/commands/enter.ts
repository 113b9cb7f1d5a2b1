import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'enter',
  usage: 'enter [--app=APPNAME] UUID [CMD [ARGS ...]]',
  describe: 'Enter the namespaces of an app within a rkt pod',
  epilogue: 'UUID is a running pod. The default command is /bin/bash.',
  options: { app: { type: 'string', describe: 'name of the app to enter within the specified pod' } },
  run: async (args, globals) => (await import('../pod/commands/enter')).enterCommand(args, globals),
});
export default cmd;
