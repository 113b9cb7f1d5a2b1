/**
 * What every fly entrypoint gets from its caller, and the small helpers they share.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIntFile, readFileTolerantSync, parseIntFile } from '@rktnetes/common';
import type { Logger } from '@rktnetes/log';
import { stage1Logger, type Stage1Context } from '@rktnetes/stage1-kit';

/** The context of one entrypoint invocation: sys, pod directory, environment, logger, start time. */
export type EntrypointContext = Stage1Context;

/**
 * fly-internal file in the pod directory: the process group the app started in, written by
 * run next to `pid` (rkt's fly does the same). stop kills the whole group with `--force` when
 * the app leads its own group, so that children holding the pod lock die too.
 */
export const PGID_FILE = 'pgid';

/** `<pod>/pgid`. */
export const podPgidPath = (podDir: string) => join(podDir, PGID_FILE);

/** Reads `<pod>/pgid`; undefined when absent or unreadable. */
export function readPodPgid(podDir: string): number | undefined {
  const text = readFileTolerantSync(podPgidPath(podDir));
  if (text === undefined) return undefined;
  try {
    return parseIntFile(text, podPgidPath(podDir));
  } catch {
    return undefined;
  }
}

/** The process group of this process (field 5 of /proc/self/stat). */
export function ownProcessGroup(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** The pgid file's content. */
export const formatPgid = (pgid: number) => formatIntFile(pgid);

/**
 * A logger that writes synchronously to stderr: run ends in execve, which drops anything still
 * queued on process.stderr.
 */
export function flyLogger(debug: boolean): Logger {
  return stage1Logger('stage1-fly', debug);
}
