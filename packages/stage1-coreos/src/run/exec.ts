/**
 * The app's program and environment, composed as rkt's stage1 does (stage1/init/common/pod.go
 * FindBinPath, app.go prepareApp).
 */
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { type EnvEntry, ENV_AC_APP_NAME, ENV_AC_METADATA_URL, composeAppEnv } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import type { EnvironmentVariable } from '@rktnetes/schema';
import { resolveInRoot } from './rootfs';

function isExecutableFile(host: string): boolean {
  try {
    const st = statSync(host);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The path (inside the app root) of the app's program: an absolute `exec[0]` as it is; one with
 * a `/` relative to the working directory; a bare name searched in the app's `PATH` (from its
 * manifest environment), or, without one, in the working directory, `/bin` and `/usr/bin` (as
 * exec(3) does), following the image's symlinks inside its root and keeping the first
 * executable regular file. Errors (user): `stage1.exec.missing` (no exec), `stage1.exec.not-found`.
 */
export function resolveExec(root: string, app: string, exec: readonly string[] | undefined, workDir: string, env: readonly EnvironmentVariable[] = []): string {
  const bin = exec?.[0];
  if (bin === undefined || bin === '') throw userError('stage1.exec.missing', `app ${app} has no executable`, { details: { app } });
  if (bin.startsWith('/')) return bin;
  if (bin.includes('/')) return posix.join(workDir, bin);
  const pathVar = env.find((e) => e.name === 'PATH')?.value;
  const dirs = pathVar !== undefined ? pathVar.split(':') : [workDir, '/bin', '/usr/bin'];
  for (const d of dirs) {
    const dir = posix.isAbsolute(d) ? d : posix.join(workDir, d);
    const candidate = posix.join(dir, bin);
    if (isExecutableFile(resolveInRoot(root, candidate))) return candidate;
  }
  throw userError('stage1.exec.not-found', `app ${app}: executable ${JSON.stringify(bin)} not found in ${dirs.join(':')}`, { details: { app, exec: bin } });
}

/**
 * The app's environment: its manifest's variables with `AC_APP_NAME` (and `AC_METADATA_URL`
 * when the metadata service is used) set, then the appc defaults (`PATH`, `SHELL`, `USER`,
 * `LOGNAME`, `HOME`) for those it lacks, first (rkt's ComposeEnviron order).
 */
export function composeEnvironment(app: string, env: readonly EnvironmentVariable[] = [], metadataUrl?: string): EnvEntry[] {
  const entries: Array<[string, string]> = env.map((e) => [e.name, e.value]);
  const set = (name: string, value: string): void => {
    const existing = entries.find(([n]) => n === name);
    if (existing) existing[1] = value;
    else entries.push([name, value]);
  };
  set(ENV_AC_APP_NAME, app);
  if (metadataUrl) set(ENV_AC_METADATA_URL, metadataUrl);
  return composeAppEnv(entries);
}
