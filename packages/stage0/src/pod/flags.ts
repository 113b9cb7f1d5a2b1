/**
 * A small command line flag parser with the semantics of Go's pflag, which rkt's commands use:
 * `--name=value`, `--name value`, booleans as `--name` or `--name=<bool>` (never taking the next
 * argument), flags with a "no option default" (`--net`, `--wait`) taking a value only after `=`,
 * `-x` shorthands, and `--` ending the flags.
 *
 * The position-sensitive commands (`run`, `prepare`, `status`, `enter`, ...) get their raw
 * arguments from yargs and parse them here, because yargs cannot express either per-image flags
 * or value-only-after-`=` flags.
 */
import { usageError } from '@rktnetes/errors';

/** How a flag takes its value. */
export type FlagKind = 'bool' | 'value' | 'optional';

/** One flag a parser knows. */
export interface FlagSpec {
  /** long name, without dashes */
  name: string;
  kind: FlagKind;
  /** one-letter shorthand (`h` for `-h`) */
  short?: string;
  /** `optional` flags: the value `--name` alone stands for */
  noOptValue?: string;
  /** receives the value (`'true'`/`'false'` for booleans); throws to reject it */
  set: (value: string, flag: string) => void;
}

const TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False'];

/** Go's strconv.ParseBool; usage error `cli.invalid-value` naming the flag otherwise. */
export function parseBoolFlag(value: string, flag: string): boolean {
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --${flag}: expected a boolean`);
}

/** A usage error for a flag value that does not parse. */
export function invalidFlag(flag: string, value: string, why: string): Error {
  return usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --${flag}: ${why}`, { details: { flag, value } });
}

/** Parses flags one token at a time so that callers can interleave their own positional logic. */
export class FlagParser {
  private readonly long = new Map<string, FlagSpec>();
  private readonly short = new Map<string, FlagSpec>();

  constructor(specs: readonly FlagSpec[] = []) {
    for (const s of specs) this.add(s);
  }

  /** Adds a flag; a later spec with the same name replaces an earlier one. */
  add(spec: FlagSpec): this {
    this.long.set(spec.name, spec);
    if (spec.short) this.short.set(spec.short, spec);
    return this;
  }

  /** Whether `token` looks like a flag (and not `-`, `--` or a positional). */
  static isFlag(token: string): boolean {
    return token.length > 1 && token.startsWith('-') && token !== '--';
  }

  /**
   * Parses the flag at `args[i]`; returns how many tokens it used (1 or 2). The token must
   * satisfy {@link FlagParser.isFlag}. Unknown flags and missing values are usage errors
   * (`cli.unknown-flag`, `cli.missing-value`).
   */
  parseAt(args: readonly string[], i: number): number {
    const token = args[i]!;
    if (token.startsWith('--')) {
      const body = token.slice(2);
      if (body.startsWith('-') || body.startsWith('=')) throw usageError('cli.bad-flag', `bad flag syntax: ${token}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const spec = this.long.get(name);
      if (!spec) throw usageError('cli.unknown-flag', `unknown flag: --${name}`, { details: { flag: name } });
      return this.apply(spec, eq < 0 ? undefined : body.slice(eq + 1), args, i, `--${name}`);
    }
    // shorthands: -h, -x value, -xvalue (combined booleans are not needed by rkt's commands)
    const letter = token[1]!;
    const spec = this.short.get(letter);
    if (!spec) throw usageError('cli.unknown-flag', `unknown shorthand flag: ${JSON.stringify(letter)} in ${token}`, { details: { flag: letter } });
    const rest = token.slice(2);
    return this.apply(spec, rest === '' ? undefined : rest.replace(/^=/, ''), args, i, `-${letter}`);
  }

  private apply(spec: FlagSpec, inline: string | undefined, args: readonly string[], i: number, shown: string): number {
    switch (spec.kind) {
      case 'bool':
        spec.set(inline === undefined ? 'true' : String(parseBoolFlag(inline, spec.name)), spec.name);
        return 1;
      case 'optional':
        spec.set(inline ?? spec.noOptValue ?? '', spec.name);
        return 1;
      case 'value': {
        if (inline !== undefined) {
          spec.set(inline, spec.name);
          return 1;
        }
        const next = args[i + 1];
        if (next === undefined) throw usageError('cli.missing-value', `flag needs an argument: ${shown}`, { details: { flag: spec.name } });
        spec.set(next, spec.name);
        return 2;
      }
    }
  }

  /**
   * Parses a whole argument list with interspersed positionals (pflag's default): flags
   * anywhere, `--` ends the flags. Returns the positionals. With `stopAtPositional`, everything
   * from the first positional on is returned untouched (pflag's SetInterspersed(false)).
   */
  parse(args: readonly string[], opts: { stopAtPositional?: boolean } = {}): string[] {
    const positionals: string[] = [];
    for (let i = 0; i < args.length; ) {
      const a = args[i]!;
      if (a === '--') {
        positionals.push(...args.slice(i + 1));
        break;
      }
      if (FlagParser.isFlag(a)) {
        i += this.parseAt(args, i);
        continue;
      }
      if (opts.stopAtPositional) {
        positionals.push(...args.slice(i));
        break;
      }
      positionals.push(a);
      i++;
    }
    return positionals;
  }
}
