import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';
import { START_OPTIONS } from './run';

const cmd: CommandModule = rawCommand({
  name: 'run-prepared',
  usage: 'run-prepared [flags] UUID',
  describe: 'Run a prepared application pod in rkt',
  options: START_OPTIONS,
  run: async (args, globals) => (await import('../pod/commands/run')).runPreparedCommand(args, globals),
});
export default cmd;
