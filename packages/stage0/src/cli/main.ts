import { exitCodeFor, isRktError, usageError } from '@rktnetes/errors';
import { createLogger } from '@rktnetes/log';
import { runFastCommand } from './fast-path';

/** Runs rkt with `args`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes('--debug') || args.includes('--debug=true') || process.env.RKT_DEBUG === '1';
  const log = createLogger({ prefix: 'rkt', debug });
  if (args[0] === 'help') args = [...args.slice(1), '--help'];
  try {
    if (await runFastCommand(args)) return typeof process.exitCode === 'number' ? process.exitCode : 0;
    // yargs is loaded only when needed: the fast path above skips it
    const { buildParser } = await import('./parser');
    const parser = await buildParser(args);
    if (args.length === 0) {
      process.stdout.write((await parser.getHelp()) + '\n');
      return 0;
    }
    await parser.parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    // yargs reports usage mistakes as plain errors with name YError.
    const err = isRktError(e) ? e : (e as Error)?.name === 'YError' ? usageError('cli.usage', (e as Error).message) : e;
    log.error(err);
    return exitCodeFor(err);
  }
}
