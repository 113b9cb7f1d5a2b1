/**
 * A strict argv parser with the semantics of Go's `flag` package, which every rkt stage1
 * entrypoint uses: `-name` or `--name`, values as `--name=value` or `--name value`, booleans as
 * `--name` or `--name=<bool>` (never taking the next argument), parsing stops at `--` (dropped)
 * or at the first non-flag argument. Unknown flags are usage errors, so a stage1 built on this
 * rejects exactly what a rkt stage1 rejects, and accepts every form rkt's stage0 produces.
 */
import { usageError } from '@rktnetes/errors';
import { parseGoBool } from '@rktnetes/common';

/** One flag an entrypoint accepts. */
export type FlagSpec =
  | { name: string; kind: 'bool'; aliases?: readonly string[]; set: (value: boolean) => void }
  | { name: string; kind: 'value'; aliases?: readonly string[]; set: (value: string) => void };

/** What is left after the flags. */
export interface ParsedFlags {
  /** arguments after the flags (after `--` when present) */
  positionals: string[];
  /** whether a `--` ended the flags */
  sawDoubleDash: boolean;
  /** the flag names given, canonical spelling, in order (repeats included) */
  given: string[];
}

/** Usage error for an entrypoint's argv, code `stage1.args.<what>`. */
export function argsError(entrypoint: string, what: string, message: string, details: Record<string, unknown> = {}) {
  return usageError(`stage1.args.${what}`, `${entrypoint}: ${message}`, { details: { entrypoint, ...details } });
}

/**
 * Parses `argv` (without argv[0]) against `specs`, calling each spec's `set` in order. Errors
 * (usage, `stage1.args.*`): `bad-syntax` (`---x`, `-=x`), `unknown-flag`, `missing-value`,
 * `invalid-value` (a bool that is not a Go boolean, or whatever `set` throws).
 */
export function parseGoFlags(entrypoint: string, argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    for (const a of s.aliases ?? []) byName.set(a, s);
  }
  const given: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      return { positionals: argv.slice(i + 1), sawDoubleDash: true, given };
    }
    if (arg.length < 2 || arg[0] !== '-') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body[0] === '-' || body[0] === '=') {
      throw argsError(entrypoint, 'bad-syntax', `bad flag syntax: ${arg}`, { arg });
    }
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = byName.get(name);
    if (!spec) throw argsError(entrypoint, 'unknown-flag', `flag provided but not defined: -${name}`, { flag: name });
    if (spec.kind === 'bool') {
      const v = inline === undefined ? true : parseGoBool(inline);
      if (v === undefined) {
        throw argsError(entrypoint, 'invalid-value', `invalid boolean value ${JSON.stringify(inline)} for --${spec.name}`, { flag: spec.name });
      }
      spec.set(v);
    } else {
      let v = inline;
      if (v === undefined) {
        if (i + 1 >= argv.length) throw argsError(entrypoint, 'missing-value', `flag needs an argument: --${spec.name}`, { flag: spec.name });
        v = argv[++i]!;
      }
      spec.set(v);
    }
    given.push(spec.name);
  }
  return { positionals: argv.slice(i), sawDoubleDash: false, given };
}

/** `--name=value`, the one form our builders emit. */
export const valueFlag = (name: string, value: string | number) => `--${name}=${value}`;
/** `--name=true|false`, the explicit form rkt uses for the crossing entrypoints. */
export const explicitBool = (name: string, value: boolean) => `--${name}=${value ? 'true' : 'false'}`;
