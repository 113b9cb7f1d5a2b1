import type { CommandModule } from 'yargs';
import { versionInfo, formatVersion } from '../version';

const cmd: CommandModule = {
  command: 'version',
  describe: 'Print the version and exit',
  builder: (y) => y.option('format', { choices: ['text', 'json'] as const, default: 'text', describe: 'output format' }),
  handler: (argv) => {
    const info = versionInfo();
    process.stdout.write(argv.format === 'json' ? JSON.stringify(info, null, 2) + '\n' : formatVersion(info));
  },
};
export default cmd;
