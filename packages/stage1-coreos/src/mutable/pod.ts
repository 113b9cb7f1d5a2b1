/**
 * What a mutable pod keeps between its run entrypoint and the crossing entrypoints (app/add and
 * friends run later, as separate processes): the run arguments, in `rkt/run-args` of the stage1
 * root, so that an app added later gets the pod's hostname, DNS files and `--disable-*` choices.
 *
 * Directories of the stage1 root that a mutable pod uses (all reserved for the stage1):
 * `rkt/spec/<app>` (each app's init spec section, written by app/add), `rkt/log/<app>` (the app's
 * log, written by PID 1), `rkt/log-ext/<app>/` (the directory of an extra log file, grafted from
 * the host), `rkt/ctl` (PID 1's control socket).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STAGE1_LOG_DIR, stage1RootfsPath, writeFileAtomicSync } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import type { PodManifest } from '@rktnetes/schema';
import { type RunArgs, parseRunArgs } from '@rktnetes/stage1-abi';

/** Where the run arguments of a mutable pod are kept, relative to the stage1 root. */
export const RUN_ARGS_PATH = 'rkt/run-args';
/** The control socket of a mutable pod's PID 1, relative to the stage1 root. */
export const CTL_PATH = 'rkt/ctl';
/** The directories of the stage1 root a mutable pod uses. */
export const MUTABLE_DIRS = ['rkt/spec', STAGE1_LOG_DIR, 'rkt/log-ext'] as const;

/** The spec of an app (`rkt/spec/<app>`), its log and its extra log directory, in the stage1 root. */
export const appSpecPath = (app: string) => `rkt/spec/${app}`;
export const appLogPath = (app: string) => `${STAGE1_LOG_DIR}/${app}`;
export const appExtLogDir = (app: string) => `rkt/log-ext/${app}`;

/**
 * Checks that run can start this pod as a mutable one: it starts without apps (they come
 * through app/add) and without `--interactive`. Errors (user): `stage1.mutable.apps`,
 * `stage1.mutable.interactive`.
 */
export function checkMutableRun(args: RunArgs, manifest: PodManifest): void {
  if (manifest.apps.length > 0) {
    throw userError('stage1.mutable.apps', `mutable pod ${args.uuid} must start without apps (add them with rkt app add), it has ${manifest.apps.length}`);
  }
  if (args.interactive) throw userError('stage1.mutable.interactive', '--interactive cannot be used with a mutable pod');
}

/** run's part for a mutable pod: the directories above, and the run arguments for app/add. */
export function prepareMutablePod(pod: string, argv: readonly string[]): void {
  const s1 = stage1RootfsPath(pod);
  for (const d of MUTABLE_DIRS) mkdirSync(join(s1, d), { recursive: true, mode: 0o755 });
  writeFileAtomicSync(join(s1, RUN_ARGS_PATH), `${JSON.stringify({ argv })}\n`, 0o600);
}

/**
 * The run arguments of a running mutable pod. Errors (user): `stage1.mutable.not-mutable` when
 * the pod was not started as a mutable one.
 */
export function readRunArgs(pod: string): RunArgs {
  let argv: unknown;
  try {
    argv = (JSON.parse(readFileSync(join(stage1RootfsPath(pod), RUN_ARGS_PATH), 'utf8')) as { argv?: unknown }).argv;
  } catch {
    argv = undefined;
  }
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw userError('stage1.mutable.not-mutable', `pod ${pod} is not a mutable pod`);
  const args = parseRunArgs(argv as string[]);
  if (!args.mutable) throw userError('stage1.mutable.not-mutable', `pod ${args.uuid} is not a mutable pod`);
  return args;
}

/** The pod cgroup directories among a cgroup plan's directories (PID 1 keeps them open). */
export function podCgroupDirs(dirs: readonly string[], uuid: string): string[] {
  return dirs.filter((d) => d.endsWith(`/rkt-${uuid}`));
}
