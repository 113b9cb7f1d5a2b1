import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'stop',
  parents: ['app'],
  usage: 'app stop UUID --app=NAME [--timeout=DURATION]',
  describe: 'Stop an app of a running mutable pod',
  epilogue: 'Sends SIGTERM, then SIGKILL after the timeout (the stage1 default, 10s for stage1-coreos); returns once the app exited.',
  options: { app: { type: 'string', describe: 'the app' }, timeout: { type: 'string', describe: 'time between SIGTERM and SIGKILL (10s, 1m; 0 kills at once)' } },
  run: async (args, globals) => (await import('../app/lifecycle')).stopCommand(args, globals),
});
export default cmd;
