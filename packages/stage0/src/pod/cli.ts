/**
 * Glue between yargs and the commands that parse their own arguments with pflag semantics
 * ({@link FlagParser}): yargs dispatches to the command and renders `--help` from the declared
 * options, but hands the command's arguments over untouched.
 */
import type { ArgumentsCamelCase, Argv, CommandModule, Options } from 'yargs';
import { contextFrom, type Context } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';
import { FlagParser, type FlagSpec } from './flags';

/** A command whose arguments are parsed by the command itself. */
export interface RawCommandSpec {
  /** the command name (`run`) */
  name: string;
  /** usage line shown by --help, after `rkt ` */
  usage: string;
  describe: string;
  /** longer help text */
  epilogue?: string;
  /** the flags, for --help only */
  options: Record<string, Options>;
  /** the commands this one is nested in (`['app']` for `rkt app add`) */
  parents?: string[];
  /** runs the command with its raw arguments and the global flags given before the command */
  run: (args: string[], globals: GlobalOptions) => Promise<void>;
}

/** A yargs command module made by {@link rawCommand}, with its runner for the fast path. */
export type RawCommandModule = CommandModule & { rawRun: RawCommandSpec['run'] };

/** Whether a command module was made by {@link rawCommand}. */
export function isRawCommand(mod: CommandModule): mod is RawCommandModule {
  return typeof (mod as Partial<RawCommandModule>).rawRun === 'function';
}

/**
 * Builds a yargs command module that stops yargs' parsing at the command name and passes the
 * rest of the command line, verbatim, to `spec.run`. `--help`/`-h` before the first positional
 * prints the help yargs renders from `spec.options`. `rawRun` is `spec.run`, for
 * src/cli/fast-path.ts, which starts such commands without yargs.
 */
export function rawCommand(spec: RawCommandSpec): RawCommandModule {
  let yy: Argv | undefined;
  return {
    rawRun: spec.run,
    command: `${spec.name} [args..]`,
    describe: spec.describe,
    builder: (y: Argv) => {
      yy = y
        .parserConfiguration({ 'unknown-options-as-args': true, 'halt-at-non-option': true, 'parse-positional-numbers': false, 'populate--': true })
        .usage(`rkt ${spec.usage}\n\n${spec.describe}`)
        .options(spec.options)
        .positional('args', { describe: 'arguments', type: 'string', array: true });
      if (spec.epilogue) yy = yy.epilogue(spec.epilogue);
      return yy;
    },
    handler: async (argv: ArgumentsCamelCase) => {
      const rest = [...((argv['--'] as string[] | undefined) ?? [])];
      for (const parent of spec.parents ?? []) if (rest[0] === parent) rest.shift();
      if (rest[0] === spec.name) rest.shift();
      if (wantsHelp(rest)) {
        process.stdout.write(`${yy ? await yy.getHelp() : spec.usage}\n`);
        return;
      }
      await spec.run(rest, argv as unknown as GlobalOptions);
    },
  };
}

/** Whether `--help` or `-h` appears among the flags (before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h' || a === '--help=true') return true;
  }
  return false;
}

/**
 * rkt's global flags, accepted after the command too (cobra's persistent flags). The returned
 * specs write into `globals`.
 */
export function globalFlagSpecs(globals: GlobalOptions): FlagSpec[] {
  const str = (name: keyof GlobalOptions & string): FlagSpec => ({
    name,
    kind: 'value',
    set: (v) => {
      (globals as unknown as Record<string, unknown>)[name] = v;
    },
  });
  return [
    { name: 'debug', kind: 'bool', set: (v) => (globals.debug = v === 'true') },
    { name: 'trust-keys-from-https', kind: 'bool', set: (v) => (globals['trust-keys-from-https'] = v === 'true') },
    str('dir'),
    str('insecure-options'),
    str('local-config'),
    str('system-config'),
    str('user-config'),
    { name: 'help', kind: 'bool', short: 'h', set: () => undefined },
  ];
}

/** A parser knowing the global flags (written into a copy of `base`) plus `specs`. */
export function commandParser(base: GlobalOptions, specs: readonly FlagSpec[]): { parser: FlagParser; globals: GlobalOptions } {
  const globals: GlobalOptions = {
    debug: base.debug,
    dir: base.dir,
    'insecure-options': base['insecure-options'],
    'local-config': base['local-config'],
    'system-config': base['system-config'],
    'user-config': base['user-config'],
    'trust-keys-from-https': base['trust-keys-from-https'],
  };
  return { parser: new FlagParser([...globalFlagSpecs(globals), ...specs]), globals };
}

/** The command's context, from the global flags as finally parsed. */
export function contextOf(globals: GlobalOptions): Context {
  return contextFrom(globals);
}
