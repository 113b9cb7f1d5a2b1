import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'exec',
  parents: ['app'],
  usage: 'app exec [--app=NAME] UUID [--] CMD [ARGS...]',
  describe: "Run a command in an app's namespaces, as the app's user",
  epilogue: "The exit status is the command's. --app may be left out when the pod has one app.",
  options: { app: { type: 'string', describe: 'the app' } },
  run: async (args, globals) => (await import('../app/exec')).execCommand(args, globals),
});
export default cmd;
