/**
 * Building a flavor's stage1 image before its tests, only when its inputs changed.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCommandOk } from '@rktnetes/testkit';

/** The newest mtime (ms) of `path` and, for a directory, of everything below it. */
export function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Options of {@link ensureBuilt}. */
export interface EnsureBuiltOptions {
  /** the package directory: the build (`node ../../tools/build.mjs`) runs there */
  pkgDir: string;
  /** what the build writes (`dist/stage1-fly.aci`), relative to `pkgDir` or absolute */
  output: string;
  /** files and directories the output is made of, relative to `pkgDir` or absolute; missing ones are ignored */
  inputs: readonly string[];
}

/**
 * Runs the package build unless `output` exists and is newer than every input; returns the
 * output's absolute path.
 *
 * @throws when the build fails (testkit `testkit.tool-failed`)
 */
export async function ensureBuilt(opts: EnsureBuiltOptions): Promise<string> {
  const output = join(opts.pkgDir, opts.output);
  const built = statSync(output, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const inputs = opts.inputs.map((p) => join(opts.pkgDir, p)).filter((p) => existsSync(p));
  if (built <= Math.max(0, ...inputs.map(newestMtime))) await runCommandOk(process.execPath, ['../../tools/build.mjs'], { cwd: opts.pkgDir });
  return output;
}
