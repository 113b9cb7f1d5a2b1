/**
 * The entrypoints of stage1-coreos by name, with the context each one gets.
 */
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
