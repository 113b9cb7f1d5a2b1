import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

interface Args extends GlobalOptions {
  'pretty-print': boolean;
}

/** `rkt config` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'config',
  describe: 'Print configuration for each stage in JSON format',
  builder: (y) =>
    y
      .option('pretty-print', { type: 'boolean', default: true, describe: 'apply indent to format the output' })
      .usage(
        [
          'rkt config [--pretty-print=false]',
          '',
          'Prints the merged configuration of the system, local and user configuration directories as',
          'JSON with "stage0" as key and rkt configuration entries (auth, dockerAuth, paths, stage1) as values.',
        ].join('\n'),
      ) as never,
  handler: async (argv) => {
    const { loadConfig, configToJSON } = await import('../config');
    const json = configToJSON(loadConfig(contextFrom(argv)));
    process.stdout.write(`${argv['pretty-print'] ? JSON.stringify(json, null, '\t') : JSON.stringify(json)}\n`);
  },
};
export default cmd as unknown as CommandModule;
