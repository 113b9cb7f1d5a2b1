import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';
import { POD_OPTIONS } from './run';

const cmd: CommandModule = rawCommand({
  name: 'prepare',
  usage: 'prepare [flags] IMAGE [image flags] [-- image-args... [---]] [IMAGE ...]',
  describe: 'Prepare to run image(s) in a pod in rkt',
  epilogue: 'Prepares the pod and prints its UUID for a subsequent run-prepared.',
  options: { ...POD_OPTIONS, quiet: { type: 'boolean', describe: 'suppress superfluous output on stdout, print only the UUID on success' } },
  run: async (args, globals) => (await import('../pod/commands/run')).prepareCommand(args, globals),
});
export default cmd;
