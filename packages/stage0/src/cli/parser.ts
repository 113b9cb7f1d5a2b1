import yargs from 'yargs';
import type { Argv } from 'yargs';
import { usageError } from '@rktnetes/errors';
import { globalFlags } from './globals';
import { commandModules } from './registry';

/** Builds the rkt command line parser (without running it). */
export async function buildParser(args: string[]): Promise<Argv> {
  let y = globalFlags(yargs(args))
    .scriptName('rkt')
    .usage('rkt - the pod-native container engine (rktnetes)\n\nUsage: rkt [global options] <command> [command options]')
    .strict()
    .recommendCommands()
    .completion('__completion', false)
    .demandCommand(1, 'rkt: a command is required; see rkt --help')
    .help('help')
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    // usage mistakes come as a message, several lines for some ("Invalid values:\n  Argument: ..."),
    // and rkt prints one line: join them; errors thrown by commands come as err and pass through
    .fail((msg: string | undefined, err: Error | undefined) => {
      if (err) throw err;
      throw usageError('cli.usage', oneLineMessage(msg ?? 'invalid command line'));
    }) as unknown as Argv;
  for (const mod of await commandModules()) y = y.command(mod);
  y = y.command({ command: 'help [command..]', describe: 'Show help for rkt or a command', handler: () => undefined });
  return y;
}

/** A yargs message on one line: `Invalid values:\n  Argument: x` -> `Invalid values: Argument: x`. */
export function oneLineMessage(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .reduce((acc, l) => (acc === '' ? l : acc.endsWith(':') ? `${acc} ${l}` : `${acc}; ${l}`), '');
}

/** The bash completion script for rkt. */
export async function completionScript(): Promise<string> {
  const y = await buildParser([]);
  return new Promise((resolve) => {
    const out: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => out.push(a.join(' '));
    try {
      y.showCompletionScript();
    } finally {
      console.log = orig;
    }
    resolve(out.join('\n') + '\n');
  });
}
