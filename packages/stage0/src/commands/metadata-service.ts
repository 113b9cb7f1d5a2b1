import type { CommandModule } from 'yargs';
import { execApiService } from './api-service';

const cmd: CommandModule = {
  command: 'metadata-service',
  describe: 'Run metadata service',
  builder: (y) =>
    y
      .usage('rkt metadata-service [--listen-port=PORT]')
      .option('listen-port', { type: 'number', default: 18112, describe: 'listen port' })
      .epilogue(
        'Provides a means for running apps to introspect their execution environment and assert their identity. Pods register on /run/rkt/metadata-svc.sock (rkt run --mds-register); see docs/api-service.md.',
      ),
  handler: async (argv) => {
    const args = ['metadata', '--listen-port', String(argv['listen-port'])];
    if (argv.debug) args.push('--debug');
    await execApiService(args);
  },
};
export default cmd;
