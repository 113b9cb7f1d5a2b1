/**
 * The entrypoints of stage1-coreos by name, with the context each one gets, and the program
 * that serves them all (dispatched by `@rktnetes/stage1-kit`).
 */
import type { EntrypointHandler, Stage1Context, Stage1Program } from '@rktnetes/stage1-kit';
import type { Sys } from '@rktnetes/sys';
import { appAdd } from '../mutable/add';
import { appAttach } from '../mutable/attach';
import { appRm, appStart, appStop } from '../mutable/ops';
import { runPod } from '../run/run';
import { enterPod } from './enter';
import { gcPod } from './gc';
import { stopPod } from './stop';

/** The entrypoint names, as the ACI's symlinks are named (`app_add` is `coreos.com/rkt/stage1/app/add`). */
export const ENTRYPOINTS = ['run', 'enter', 'gc', 'stop', 'app_add', 'app_start', 'app_stop', 'app_rm', 'attach'] as const;
export type EntrypointName = (typeof ENTRYPOINTS)[number];

/** Everything an entrypoint may use from its surroundings. */
export interface EntrypointContext {
  sys: Sys;
  /** the pod directory: the working directory stage0 gives every entrypoint but enter */
  pod: string;
  env: NodeJS.ProcessEnv;
  warn: (message: string) => void;
  debug: (message: string) => void;
}

/**
 * Runs an entrypoint with `argv` (without argv[0]) and returns its exit status; run and enter
 * exec and never return when they succeed. Errors are thrown (the caller prints them, 254).
 */
export async function runEntrypoint(name: EntrypointName, argv: readonly string[], ctx: EntrypointContext): Promise<number> {
  switch (name) {
    case 'run':
      return runPod(argv, ctx);
    case 'enter':
      return enterPod(argv, ctx);
    case 'gc':
      return gcPod(argv, ctx);
    case 'stop':
      return stopPod(argv, ctx);
    case 'app_add':
      return appAdd(argv, ctx);
    case 'app_start':
      return appStart(argv, ctx);
    case 'app_stop':
      return appStop(argv, ctx);
    case 'app_rm':
      return appRm(argv, ctx);
    case 'attach':
      return appAttach(argv, ctx);
  }
}

/** `--debug` (bare or with a Go spelling of true) anywhere among the arguments, `--` or not. */
export function debugAnywhere(args: readonly string[]): boolean {
  return args.some((a) => /^--?debug(=(1|t|T|TRUE|true|True))?$/.test(a));
}

/**
 * The stage1-coreos program as the kit's dispatch sees it: lines prefixed `stage1:` without the
 * entrypoint (`stage1: warning: ...`, `stage1: <message>`), the program file's name compared as
 * it is (`run`, not `run.mjs`), {@link debugAnywhere}, and an unknown entrypoint reported as
 * `stage1.entrypoint.unknown` naming the first argument.
 */
export const COREOS_PROGRAM = {
  name: 'stage1',
  entrypoints: ENTRYPOINTS,
  unknownEntrypointCode: 'stage1.entrypoint.unknown',
  ignoredEndings: [],
  unknownEntrypointMessage: ({ argument, entrypoints }) => `unknown entrypoint ${JSON.stringify(argument ?? '')}, expected one of ${entrypoints.join(', ')}`,
  entrypointInErrors: false,
  debugFlag: debugAnywhere,
} satisfies Stage1Program<EntrypointName> & { entrypointInErrors: boolean; debugFlag: (args: readonly string[]) => boolean };

/** The coreos context of an entrypoint from the kit's: warnings and debug lines go to its logger. */
export function coreosContext(ctx: Stage1Context): EntrypointContext {
  return { sys: ctx.sys, pod: ctx.podDir, env: ctx.env, warn: (m) => ctx.log.warn(m), debug: (m) => ctx.log.debug(m) };
}

/** A handler per entrypoint for the kit's `stage1Main`: {@link runEntrypoint} with {@link coreosContext}. */
export const COREOS_HANDLERS = Object.fromEntries(ENTRYPOINTS.map((name) => [name, (argv, ctx) => runEntrypoint(name, argv, coreosContext(ctx))])) as {
  readonly [K in EntrypointName]: EntrypointHandler;
};
