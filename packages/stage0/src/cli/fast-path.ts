/**
 * Starting the commands that parse their own arguments (`run`, `prepare`, `run-prepared`,
 * `status`, `enter`) without yargs. For them yargs only reads the global flags written before
 * the command name and hands the rest over untouched, yet loading and building the parser was
 * about a fifth of `rkt run`'s own time (bench/run-latency.mjs). When the global flags are
 * written plainly (`--name=value` or `--name value`, or a bare boolean `--debug`), each at most once, and no help
 * is asked for, the command runs directly with the same global options yargs would have given
 * it; anything else goes through yargs as before. `rkt list` is started the same way when its own
 * flags are plain too (`--full`, `--no-legend`, optionally `=true|false`, and `--format=X`).
 */
import type { CommandModule } from 'yargs';
import { isRawCommand, wantsHelp } from '../pod/cli';
import { DEFAULT_DATA_DIR, DEFAULT_LOCAL_CONFIG, DEFAULT_SYSTEM_CONFIG, type GlobalOptions } from './globals';

/** The raw commands, by name. */
const RAW_COMMANDS: Record<string, () => Promise<{ default: CommandModule }>> = {
  run: () => import('../commands/run'),
  prepare: () => import('../commands/prepare'),
  'run-prepared': () => import('../commands/run-prepared'),
  status: () => import('../commands/status'),
  enter: () => import('../commands/enter'),
};

const VALUE_FLAGS = new Set(['dir', 'insecure-options', 'local-config', 'system-config', 'user-config']);
const BOOL_FLAGS = new Set(['debug', 'trust-keys-from-https']);

/** The global options yargs gives when no flag is set (src/cli/globals.ts). */
function defaultGlobals(env: NodeJS.ProcessEnv): GlobalOptions {
  return {
    debug: env.RKT_DEBUG === '1',
    dir: env.RKT_DIR || DEFAULT_DATA_DIR,
    'insecure-options': 'none',
    'local-config': DEFAULT_LOCAL_CONFIG,
    'system-config': DEFAULT_SYSTEM_CONFIG,
    'user-config': '',
    'trust-keys-from-https': false,
  };
}

/** A flag token split as `--name[=value]`. */
function flagOf(token: string): { name: string; value: string | undefined } {
  const eq = token.indexOf('=');
  return { name: token.slice(2, eq < 0 ? undefined : eq), value: eq < 0 ? undefined : token.slice(eq + 1) };
}

const isBoolValue = (v: string | undefined) => v === undefined || v === 'true' || v === 'false';

/** Sets a plainly written global flag; false when `name`/`value` is not one. */
function setGlobal(globals: GlobalOptions, name: string, value: string | undefined): boolean {
  if (VALUE_FLAGS.has(name) && value !== undefined) (globals as unknown as Record<string, unknown>)[name] = value;
  else if (BOOL_FLAGS.has(name) && isBoolValue(value)) (globals as unknown as Record<string, unknown>)[name] = value !== 'false';
  else return false;
  return true;
}

/** The command line parsed up to the command name: the globals, the name and what follows it. */
interface FastCommandLine {
  name: string;
  globals: GlobalOptions;
  rest: string[];
}

/** Reads plainly written global flags up to the first positional (the command name). */
function splitCommandLine(args: readonly string[], env: NodeJS.ProcessEnv): FastCommandLine | undefined {
  const globals = defaultGlobals(env);
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    if (!token.startsWith('--')) return { name: token, globals, rest: args.slice(i + 1) };
    let { name, value } = flagOf(token);
    // `--dir DIR`: a value flag takes the next word, as yargs does, unless it looks like a flag
    if (value === undefined && VALUE_FLAGS.has(name)) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('-')) return undefined;
      value = next;
      i++;
    }
    if (seen.has(name) || !setGlobal(globals, name, value)) return undefined;
    seen.add(name);
  }
  return undefined;
}

/**
 * Splits `args` into plainly written global flags, a raw command name and its arguments; undefined
 * when yargs must handle the command line.
 */
export function splitFastCommand(args: readonly string[], env: NodeJS.ProcessEnv = process.env): FastCommandLine | undefined {
  const line = splitCommandLine(args, env);
  if (!line || !(line.name in RAW_COMMANDS) || wantsHelp(line.rest)) return undefined;
  return line;
}

/**
 * `rkt list`'s options when every argument after `list` is plainly written (its own flags, or
 * global flags, which then go into `globals`); undefined otherwise.
 */
export function listFastOptions(rest: readonly string[], globals: GlobalOptions): { full: boolean; noLegend: boolean; format: string } | undefined {
  const o = { full: false, noLegend: false, format: '' };
  const seen = new Set<string>();
  for (const token of rest) {
    if (!token.startsWith('--')) return undefined;
    const { name, value } = flagOf(token);
    if (seen.has(name)) return undefined;
    seen.add(name);
    if (name === 'full' && isBoolValue(value)) o.full = value !== 'false';
    else if (name === 'no-legend' && isBoolValue(value)) o.noLegend = value !== 'false';
    else if (name === 'format' && value !== undefined) o.format = value;
    else if (!setGlobal(globals, name, value)) return undefined;
  }
  return o;
}

/** Runs a raw command, or `list`, without yargs when the command line allows; false when it does not. */
export async function runFastCommand(args: readonly string[]): Promise<boolean> {
  const line = splitCommandLine(args, process.env);
  if (line?.name === 'list') {
    const o = listFastOptions(line.rest, line.globals);
    if (!o) return false;
    const [{ listCommand }, { parseOutputFormat }, { contextFrom }] = await Promise.all([import('../pod/commands/list'), import('../output/options'), import('./context')]);
    await listCommand(contextFrom(line.globals), { full: o.full, noLegend: o.noLegend, format: parseOutputFormat(o.format) });
    return true;
  }
  const split = splitFastCommand(args);
  if (!split) return false;
  const mod = (await RAW_COMMANDS[split.name]!()).default;
  if (!isRawCommand(mod)) return false;
  await mod.rawRun(split.rest, split.globals);
  return true;
}
