import type { CommandModule } from 'yargs';
import { usageError } from '@rktnetes/errors';

const cmd: CommandModule = {
  command: 'completion [shell]',
  describe: 'Output shell completion code for the specified shell (bash)',
  builder: (y) => y.positional('shell', { type: 'string', default: 'bash', describe: 'the shell: bash (zsh works with bashcompinit)' }),
  handler: async (argv) => {
    if (argv.shell !== 'bash' && argv.shell !== 'zsh') {
      throw usageError('cli.completion', `completion: unsupported shell "${String(argv.shell)}" (supported: bash, zsh)`);
    }
    const { completionScript } = await import('../cli/parser');
    process.stdout.write(await completionScript());
  },
};
export default cmd;
