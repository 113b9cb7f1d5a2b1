import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'attach',
  usage: 'attach [--app=NAME] [--mode=MODE] UUID',
  describe: "Attach to an app's stdio or terminal in a running mutable pod",
  epilogue:
    'Modes: auto (default: everything the app offers), list, tty, tty-in, tty-out, or a comma list of stdin, stdout, stderr. ' +
    "The exit status is the app's when it exits while attached.",
  options: {
    app: { type: 'string', describe: 'the app (may be left out when the pod has one app)' },
    mode: { type: 'string', describe: 'attach mode (default auto)' },
  },
  run: async (args, globals) => (await import('../app/attach')).attachCommand(args, globals),
});
export default cmd;
