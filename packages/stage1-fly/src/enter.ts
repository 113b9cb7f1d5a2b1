/**
 * The enter entrypoint: run a command in the running app's mount namespace and root, with the
 * app's environment and credentials, through util-linux `nsenter` (a multithreaded Node
 * process cannot setns into a mount namespace itself).
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { basename, join } from 'node:path';
import { appEnvPath, DEFAULT_PATH, parseEnvFile, readFileTolerantSync, type EnvEntry } from '@rktnetes/common';
import { hasCode, systemError, userError } from '@rktnetes/errors';
import { parseEnterArgs, type EnterArgs } from '@rktnetes/stage1-abi';
import type { EntrypointContext } from './context';
import { resolveCredentials } from './credentials';
import { flyAppEnv, loadFlyPod } from './pod';

/** The command enter runs when none is given. */
export const DEFAULT_ENTER_COMMAND = '/bin/sh';

/** What enter execs. */
export interface FlyEnterExec {
  /** host path of nsenter */
  path: string;
  argv: string[];
  env: EnvEntry[];
}

/**
 * Parses the enter argv, running {@link DEFAULT_ENTER_COMMAND} when no command follows the
 * flags (rkt's `rkt enter` without a command).
 */
export function parseFlyEnterArgs(argv: readonly string[]): EnterArgs {
  try {
    return parseEnterArgs(argv);
  } catch (e) {
    if (!hasCode(e, 'stage1.args.missing-argument')) throw e;
    return parseEnterArgs([...argv, ...(argv.includes('--') ? [] : ['--']), DEFAULT_ENTER_COMMAND]);
  }
}

/** The first executable `name` in a PATH-style list, on the host. */
export function findHostProgram(name: string, searchPath: string | undefined): string | undefined {
  for (const dir of (searchPath || DEFAULT_PATH).split(':')) {
    if (!dir.startsWith('/')) continue;
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Decides what enter execs: `nsenter --target=<pid> --mount --root --wd --setuid=<uid>
 * --setgid=<gid> -- <command>`, with the app's environment from `stage1/rootfs/rkt/env/<app>`
 * (written by run; the composed default when absent) and its user and group resolved in the
 * running app's root (`/proc/<pid>/root`). nsenter's `--setgid` clears supplementary groups.
 *
 * @throws RktError `stage1-fly.enter.app` (unknown `--appname`), `stage1-fly.enter.pid` (no
 *   such process), `stage1-fly.enter.nsenter` (nsenter not installed), and those of the pod
 *   manifest and credentials
 */
export function prepareFlyEnter(argv: readonly string[], ctx: EntrypointContext): FlyEnterExec {
  const args = parseFlyEnterArgs(argv);
  const { runtimeApp, app } = loadFlyPod(ctx.podDir, basename(ctx.podDir));
  if (args.appName !== undefined && args.appName !== runtimeApp.name) {
    throw userError('stage1-fly.enter.app', `pod has no app ${args.appName} (its app is ${runtimeApp.name})`, { details: { app: args.appName } });
  }
  const root = `/proc/${args.pid}/root`;
  try {
    accessSync(root);
  } catch (e) {
    throw userError('stage1-fly.enter.pid', `cannot enter process ${args.pid}: it does not exist or is not accessible`, { cause: e });
  }
  const envText = readFileTolerantSync(appEnvPath(ctx.podDir, runtimeApp.name));
  const env = envText === undefined ? flyAppEnv(runtimeApp.name, app) : parseEnvFile(envText, appEnvPath(ctx.podDir, runtimeApp.name));
  const creds = resolveCredentials(root, app, { app: runtimeApp.name });
  const nsenter = findHostProgram('nsenter', ctx.env.PATH);
  if (!nsenter) throw systemError('stage1-fly.enter.nsenter', 'cannot find nsenter (util-linux) in PATH');
  return {
    path: nsenter,
    argv: [nsenter, `--target=${args.pid}`, '--mount', '--root', '--wd', `--setuid=${creds.uid}`, `--setgid=${creds.gid}`, '--', ...args.command],
    env,
  };
}

/** The enter entrypoint: {@link prepareFlyEnter}, then execve of nsenter. Never returns. */
export function flyEnter(argv: readonly string[], ctx: EntrypointContext): never {
  const x = prepareFlyEnter(argv, ctx);
  ctx.log.debug(`enter: exec ${JSON.stringify(x.argv)}`);
  return ctx.sys.execve(
    x.path,
    x.argv,
    x.env.map(([n, v]) => `${n}=${v}`),
  );
}
