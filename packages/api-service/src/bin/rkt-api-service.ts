/**
 * rkt-api-service: rkt's v1alpha gRPC API service, or (`metadata`) the appc metadata service.
 *   rkt-api-service [--dir DIR] [--listen ADDR]... [--debug]
 *   rkt-api-service metadata [--listen-port PORT | --listen ADDR...] [--registration-socket PATH] [--debug]
 * Prints `ready` on stderr once serving; SIGTERM/SIGINT stop it (exit 0).
 */
import { exitCodeFor } from '@rktnetes/errors';
import { createLogger } from '@rktnetes/log';
import { USAGE, parseCli, runApi, runMetadata } from '../cli';

const argv = process.argv.slice(2);
const log = createLogger({ prefix: 'rkt-api-service', debug: argv.includes('--debug') || process.env.RKT_DEBUG === '1' });
async function main(): Promise<void> {
  // `rkt-api-service cri ...`: the Kubernetes CRI server, with options of its own (never returns)
  if (argv[0] === 'cri') return (await import('../cri/main')).criMain(argv.slice(1), log);
  try {
    const cli = parseCli(argv, process.env);
    if (cli.help) {
      process.stdout.write(USAGE);
      return;
    }
    const running = cli.mode === 'metadata' ? await runMetadata(cli, log) : await runApi(cli, log);
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(0);
      stopping = true;
      log.info('exiting');
      void running.close().then(() => process.exit(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    log.info('ready');
  } catch (e) {
    log.error(e);
    process.exitCode = exitCodeFor(e);
  }
}

void main();
