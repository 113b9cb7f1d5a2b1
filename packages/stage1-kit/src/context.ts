/**
 * What every stage1 entrypoint gets from the program that dispatched it, and the logger it
 * writes with.
 */
import { writeSync } from 'node:fs';
import { createLogger, type Logger } from '@rktnetes/log';
import type { Sys } from '@rktnetes/sys';

/**
 * The context of one entrypoint invocation. A flavor may extend it with fields its tests set
 * (the program itself sets only these).
 */
export interface Stage1Context {
  sys: Sys;
  /** the pod directory: the working directory stage0 runs the entrypoint in */
  podDir: string;
  /** the environment stage0 gave (RKT_LOCK_FD, PATH, ...) */
  env: NodeJS.ProcessEnv;
  /** prefixed with the program name; debug lines only with `--debug` */
  log: Logger;
  /** `performance.now()` when the program's own code started (run reports its cost) */
  startedAt?: number;
}

/** Writes one line to stderr synchronously. */
export const writeStderrLine = (line: string): void => void writeSync(2, `${line}\n`);

/**
 * A logger whose lines start with `<prefix>: `, written synchronously to stderr by default: run
 * and enter end in execve, which drops anything still queued on process.stderr.
 */
export function stage1Logger(prefix: string, debug: boolean, write: (line: string) => void = writeStderrLine): Logger {
  return createLogger({ prefix, debug, write });
}
