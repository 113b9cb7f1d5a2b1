/**
 * Small synchronous readers that treat a missing file as "not there": pod directories move and
 * vanish under a reader at any time (docs/pod-lifecycle.md, "Acting on stale knowledge").
 */
import { readFileSync, readdirSync, statSync, lstatSync, type BigIntStats } from 'node:fs';

const MISSING = new Set(['ENOENT', 'ENOTDIR']);

export function isMissing(e: unknown): boolean {
  return MISSING.has((e as NodeJS.ErrnoException)?.code ?? '');
}

/** The file's text, or undefined when it does not exist. */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (isMissing(e) || (e as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
    throw e;
  }
}

/** stat with nanosecond times, or undefined when missing. */
export function statNs(path: string): BigIntStats | undefined {
  return statSync(path, { bigint: true, throwIfNoEntry: false });
}

/** lstat with nanosecond times, or undefined when missing. */
export function lstatNs(path: string): BigIntStats | undefined {
  return lstatSync(path, { bigint: true, throwIfNoEntry: false });
}

/** The leading decimal integer of a file (pid, status), or undefined when missing or empty. */
export function readInt(path: string): number | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  const m = /^\s*([+-]?\d+)/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Directory entry names, or [] when the directory does not exist. */
export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
}
