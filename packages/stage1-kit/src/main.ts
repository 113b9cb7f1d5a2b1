/**
 * The body of a stage1 program's executable: find the entrypoint, build its context, run it,
 * and turn what it threw into one line on stderr and an exit status.
 */
import { exitCodeFor } from '@rktnetes/errors';
import { realSys, type Sys } from '@rktnetes/sys';
import { stage1Logger, writeStderrLine, type Stage1Context } from './context';
import { debugRequested, entrypointOf, type Stage1Program } from './dispatch';

/**
 * Runs one entrypoint with the arguments after its name and returns its exit status (run and
 * enter exec and do not return when they succeed). Throw to fail: the program prints the error.
 */
export type EntrypointHandler = (argv: string[], ctx: Stage1Context) => Promise<number> | number;

/** A stage1 program with what each of its entrypoints does (loaded on demand, as a rule). */
export interface Stage1Main<E extends string> extends Stage1Program<E> {
  handlers: { readonly [K in E]: EntrypointHandler };
  /**
   * Whether the line of a handler's error names the entrypoint: `<name>: run: <message>`
   * (default) or `<name>: <message>` (the lines stage1-coreos prints)
   */
  entrypointInErrors?: boolean;
  /**
   * Whether the invocation asks for debug output, from all the program's arguments (the
   * entrypoint's name among them when it is the first), decided before the entrypoint is known:
   * an error before the handler (an unknown entrypoint) then prints its whole cause chain too.
   * Default: {@link debugRequested} of the entrypoint's arguments, and an error before the
   * handler on one line.
   */
  debugFlag?: (args: readonly string[]) => boolean;
}

/** What the program takes from its process; every field defaults to the real one. */
export interface Stage1Host {
  /** `process.argv`: [node, program path, ...arguments] */
  argv: readonly string[];
  /** the pod directory (`process.cwd()`) */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** makes the Sys of the context (default `realSys`), called once the entrypoint is known */
  sys: () => Sys;
  /** where log lines go (default: stderr, synchronously) */
  write: (line: string) => void;
  /** when the program's own code started (default: when this is called) */
  startedAt: number;
}

/**
 * Dispatches one invocation of `program` and returns the exit status it ends with:
 * - the entrypoint from the program name or the first argument ({@link entrypointOf});
 * - its handler, with a context of `host`'s Sys, cwd (the pod directory) and environment, and a
 *   logger prefixed `program.name` with debug lines when `--debug` is among the flags (or
 *   `program.debugFlag` says so);
 * - an error the handler throws is printed as `<name>: <entrypoint>: <message>` (without the
 *   entrypoint when `program.entrypointInErrors` is false; the whole cause chain with `--debug`)
 *   and ends the program with `exitCodeFor(error)`; one before the handler (an unknown
 *   entrypoint) as `<name>: <message>` (the whole chain only when `program.debugFlag` says debug).
 */
export async function runStage1<E extends string>(program: Stage1Main<E>, host: Partial<Stage1Host> = {}): Promise<number> {
  const startedAt = host.startedAt ?? performance.now();
  const write = host.write ?? writeStderrLine;
  const argv0 = host.argv ?? process.argv;
  const args = argv0.slice(2);
  const debugByFlag = program.debugFlag?.(args);
  try {
    const { entrypoint, argv } = entrypointOf(program, argv0[1] ?? program.name, args);
    const log = stage1Logger(program.name, debugByFlag ?? debugRequested(argv), write);
    const ctx: Stage1Context = { sys: (host.sys ?? realSys)(), podDir: host.cwd ?? process.cwd(), env: host.env ?? process.env, log, startedAt };
    try {
      return await program.handlers[entrypoint](argv, ctx);
    } catch (e) {
      log.error(e, program.entrypointInErrors === false ? undefined : entrypoint);
      return exitCodeFor(e);
    }
  } catch (e) {
    stage1Logger(program.name, debugByFlag ?? false, write).error(e);
    return exitCodeFor(e);
  }
}

/**
 * {@link runStage1} for the real process: its status becomes `process.exitCode` (the program
 * ends when nothing is left to do). The whole of a flavor's `src/bin/<name>.ts`, with its table
 * of handlers.
 */
export function stage1Main<E extends string>(program: Stage1Main<E>, host: Partial<Stage1Host> = {}): void {
  void runStage1(program, host).then((code) => {
    process.exitCode = code;
  });
}
