/**
 * The entrypoints of stage1-coreos by name, with the context each one gets.
 */
import type { Sys } from '@rktnetes/sys';
import { runPod } from '../run/run';
import { enterPod } from './enter';
import { gcPod } from './gc';
import { stopPod } from './stop';

/** The entrypoint names, as the ACI's symlinks are named. */
export const ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'] as const;
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
  }
}
