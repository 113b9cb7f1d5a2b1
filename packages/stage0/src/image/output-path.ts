/**
 * Output files and directories of `rkt image export/extract/render`: refused when they exist
 * unless `--overwrite`, never the root directory, removed again when the command fails.
 */
import { lstatSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { systemError, userError } from '@rktnetes/errors';

/**
 * Makes way for an output directory: throws `image.output-exists` when `dir` exists and
 * `overwrite` is false, `image.output-root` for `/`, otherwise removes what is there. Returns
 * the absolute path.
 */
export function clearOutputDir(what: string, dir: string, overwrite: boolean): string {
  const abs = resolve(dir);
  if (!exists(abs)) return abs;
  if (!overwrite) throw userError('image.output-exists', `${what}: output directory ${dir} exists (use --overwrite)`);
  if (abs === '/') throw userError('image.output-root', `${what}: refusing to overwrite the root directory`);
  try {
    rmSync(abs, { recursive: true, force: true });
  } catch (e) {
    throw systemError('image.output', `${what}: cannot remove the existing output ${dir}`, { cause: e });
  }
  return abs;
}

/** Removes a half-written output after a failure, ignoring errors (the original error matters). */
export function discardOutput(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // best effort: the command is failing already
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw systemError('image.output', `cannot inspect the output ${p}`, { cause: e });
  }
}
