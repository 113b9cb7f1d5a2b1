/**
 * Which entrypoint an invocation of a stage1 program is. A stage1 image links each entrypoint
 * (`/run`, `/enter`, ...) to one program, which looks at the name it was started as; started
 * as itself (`stage1-fly[.mjs] run ...`), its first argument names the entrypoint.
 */
import { basename } from 'node:path';
import { usageError } from '@rktnetes/errors';

/** A stage1 program as its dispatch sees it. */
export interface Stage1Program<E extends string> {
  /** the program's own name (`stage1-fly`): the prefix of its log lines */
  name: string;
  /** the entrypoints it implements, as the image's links are named, in the order errors list them */
  entrypoints: readonly E[];
  /** the code of the usage error for a name that is no entrypoint (`stage1-fly.entrypoint`) */
  unknownEntrypointCode: string;
  /**
   * The endings of the program's file name left out before it is compared with the entrypoints
   * (default `.mjs`, `.js`, `.ts`: `/src/run.ts` is run); `[]` compares the name as it is.
   */
  ignoredEndings?: readonly string[];
  /**
   * The message of the unknown-entrypoint error. `argument` is the first argument (undefined
   * when there is none), `name` the program's file name without its ignored ending. Default:
   * `unknown entrypoint "<argument, or name>": use one of <entrypoints, comma-separated>`.
   */
  unknownEntrypointMessage?: (unknown: { argument: string | undefined; name: string; entrypoints: readonly string[] }) => string;
}

const DEFAULT_ENDINGS = ['.mjs', '.js', '.ts'];

/** The program's file name without the first of `endings` it ends with. */
function programName(programPath: string, endings: readonly string[]): string {
  const name = basename(programPath);
  const ending = endings.find((e) => name.endsWith(e));
  return ending ? name.slice(0, -ending.length) : name;
}

/** An invocation resolved to its entrypoint and the arguments that entrypoint parses. */
export interface Invocation<E extends string> {
  entrypoint: E;
  argv: string[];
}

/**
 * The entrypoint and its argv from the program path (argv[1]) and the arguments after it:
 * `<dir>/run args...` is run with `args...`; `<dir>/stage1-fly.mjs run args...` is run too. A
 * `.mjs`, `.js` or `.ts` ending of the program name is ignored (`program.ignoredEndings`).
 *
 * @throws RktError `program.unknownEntrypointCode` (usage), naming the first argument (or the
 *   program name when there is none) and the entrypoints (`program.unknownEntrypointMessage`),
 *   details `{ program: programPath }`
 */
export function entrypointOf<E extends string>(program: Stage1Program<E>, programPath: string, args: readonly string[]): Invocation<E> {
  const isEntrypoint = (s: string | undefined): s is E => (program.entrypoints as readonly string[]).includes(s ?? '');
  const name = programName(programPath, program.ignoredEndings ?? DEFAULT_ENDINGS);
  if (isEntrypoint(name)) return { entrypoint: name, argv: [...args] };
  const [first, ...rest] = args;
  if (isEntrypoint(first)) return { entrypoint: first, argv: rest };
  const message = program.unknownEntrypointMessage?.({ argument: first, name, entrypoints: program.entrypoints }) ?? `unknown entrypoint ${JSON.stringify(first ?? name)}: use one of ${program.entrypoints.join(', ')}`;
  throw usageError(program.unknownEntrypointCode, message, { details: { program: programPath } });
}

/** The spellings of true Go's flag package accepts for a boolean flag (`--debug=t`). */
const GO_TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];

/**
 * Whether `--debug` (or `-debug`, with any Go spelling of true, or bare) appears before the end
 * of the flags (`--`). `--debug=false` and unknown spellings are false.
 */
export function debugRequested(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    const m = /^--?debug(?:=(.*))?$/.exec(a);
    if (m) return m[1] === undefined || GO_TRUE.includes(m[1]);
  }
  return false;
}
