/**
 * The run entrypoint: set up the app's mounts in a private mount namespace, chroot into the
 * app and exec it, so that the app takes over this process (its pid, its lock fd, its exit
 * status). See README.md and docs/stage1-interface.md.
 */
import { fstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { appEnvPath, DEFAULT_PATH, formatEnvFile, formatIntFile, podPidPath, stage1RootfsPath, writeFileAtomicSync, type EnvEntry } from '@rktnetes/common';
import { hasCode, userError } from '@rktnetes/errors';
import { DEFAULT_DNS_CONF_MODE, lockFdFromEnv, parseRunArgs, type RunArgs } from '@rktnetes/stage1-abi';
import { CLONE_NEWIPC, CLONE_NEWNS, MS_REC, MS_SLAVE } from '@rktnetes/sys';
import { formatPgid, ownProcessGroup, podPgidPath, type EntrypointContext } from './context';
import { resolveCredentials, type Credentials } from './credentials';
import { createEmptyVolumes, performMounts, planMounts } from './mounts';
import { envValue, flyAppEnv, isDockerConverted, loadFlyPod, type FlyPod } from './pod';
import { findExecutable } from './root-path';
import { evaluateVolumeMounts } from './volumes';

/** What run decided, just before it execs (returned by {@link prepareFlyRun} for tests and tools). */
export interface FlyExec {
  pod: FlyPod;
  args: RunArgs;
  lockFd: number;
  /** the program, as the app sees it */
  path: string;
  argv: string[];
  env: EnvEntry[];
  credentials: Credentials;
  workingDirectory: string;
}

/** Time spent per phase, for --debug. */
function phaseTimer() {
  let last = performance.now();
  const parts: string[] = [];
  return {
    mark(name: string) {
      const now = performance.now();
      parts.push(`${name} ${(now - last).toFixed(1)} ms`);
      last = now;
    },
    summary: () => parts.join(', '),
  };
}

function unsupported(what: string): never {
  throw userError('stage1-fly.unsupported', `stage1-fly cannot run ${what}`, { details: { what } });
}

/** Options fly refuses, and those it accepts but has no use for (logged with --debug). */
function checkOptions(args: RunArgs, debug: (m: string) => void): void {
  if (args.privateUsers) unsupported('pods with --private-users: it creates no user namespace');
  if (args.mutable) unsupported('mutable pods: it has no app/* entrypoints');
  const ignored = [
    args.net && args.net.some((n) => n.name !== 'host') ? `--net (fly always uses the host network)` : '',
    args.hostname ? '--hostname (fly shares the host UTS namespace)' : '',
    args.mdsToken ? '--mds-token (fly has no metadata service)' : '',
    args.disableCapabilitiesRestriction || args.disablePaths || args.disableSeccomp ? '--disable-* (fly restricts nothing)' : '',
  ].filter(Boolean);
  for (const i of ignored) debug(`run: ignoring ${i}`);
}

function checkLockFd(fd: number): void {
  try {
    fstatSync(fd);
  } catch (e) {
    throw userError('stage1-fly.lock-fd', `RKT_LOCK_FD ${fd} is not an open file descriptor`, { cause: e });
  }
}

/** Writes `stage1/rootfs/rkt/env/<app>` for enter; an environment the format cannot hold is skipped. */
function writeEnvFile(pod: FlyPod, env: readonly EnvEntry[], ctx: EntrypointContext): void {
  const path = appEnvPath(pod.dir, pod.runtimeApp.name);
  let text: string;
  try {
    text = formatEnvFile(env);
  } catch (e) {
    if (!hasCode(e, 'env-file.invalid')) throw e;
    ctx.log.warn(`not writing ${path}: ${(e as Error).message}; enter will use the default environment`);
    return;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileAtomicSync(path, text, 0o644);
}

/**
 * Everything run does before exec, with `ctx.sys` doing the privileged part: parses the argv,
 * loads the one-app pod, writes the app's env file and empty volumes, enters a new mount
 * namespace (and IPC namespace for `--ipc=private`) on this thread, makes `/` a recursive
 * slave so nothing propagates back to the host, mounts, resolves the credentials and the
 * program inside the app, writes `pid` (this process: the app will be it) and `pgid`, chroots,
 * changes to the working directory and drops to the app's credentials.
 *
 * Only synchronous calls: after unshare, only this thread sees the pod's mounts.
 *
 * @throws RktError usage `stage1.args.*`, user `stage1-fly.*` / `schema.*`, system `sys.*`,
 *   `stage1-fly.mount`
 */
export function prepareFlyRun(argv: readonly string[], ctx: EntrypointContext): FlyExec {
  const debug = (m: string) => ctx.log.debug(m);
  const phases = phaseTimer();
  const args = parseRunArgs(argv);
  checkOptions(args, debug);
  const lockFd = lockFdFromEnv(ctx.env);
  checkLockFd(lockFd);
  const pod = loadFlyPod(ctx.podDir, args.uuid);
  const appName = pod.runtimeApp.name;
  const exec = pod.app.exec ?? [];
  if (exec.length === 0) {
    throw userError('stage1-fly.exec.missing', `app ${appName} (image ${pod.image.name}) has an empty exec: give one with --exec`);
  }
  const env = flyAppEnv(appName, pod.app);
  writeEnvFile(pod, env, ctx);
  const plan = planMounts({
    podDir: pod.dir,
    stage1Rootfs: stage1RootfsPath(pod.dir),
    volumes: evaluateVolumeMounts(pod.manifest, pod.runtimeApp, pod.image.app),
    dnsConfMode: args.dnsConfMode ?? DEFAULT_DNS_CONF_MODE,
    readOnlyRootFS: pod.runtimeApp.readOnlyRootFS === true,
  });
  createEmptyVolumes(pod.dir, plan.emptyVolumes);
  phases.mark('pod');

  ctx.sys.unshare(CLONE_NEWNS | (args.ipc === 'private' ? CLONE_NEWIPC : 0));
  ctx.sys.mount(null, '/', null, MS_REC | MS_SLAVE);
  performMounts(plan.steps, { sys: ctx.sys, rootfs: pod.rootfs, debug });
  phases.mark('mounts');

  const credentials = resolveCredentials(pod.rootfs, pod.app, {
    app: appName,
    gidFromUidIfMissing: isDockerConverted(pod.image) && pod.image.app?.user === pod.image.app?.group && pod.app.group === pod.image.app?.group,
  });
  const workingDirectory = pod.app.workingDirectory || '/';
  const path = findExecutable(pod.rootfs, exec[0]!, envValue(env, 'PATH') ?? DEFAULT_PATH, workingDirectory);
  if (!path) throw userError('stage1-fly.exec.not-found', `cannot find ${JSON.stringify(exec[0])} of app ${appName} in its PATH`, { details: { exec: exec[0] } });

  const pid = ctx.sys.getpid();
  writeFileAtomicSync(podPgidPath(pod.dir), formatPgid(ownProcessGroup()), 0o644);
  writeFileAtomicSync(podPidPath(pod.dir), formatIntFile(pid), 0o644);
  ctx.sys.chroot(pod.rootfs);
  try {
    ctx.sys.chdir(workingDirectory);
  } catch (e) {
    throw userError('stage1-fly.workdir', `cannot change to the working directory ${workingDirectory} of app ${appName}`, { cause: e });
  }
  ctx.sys.setgroups(credentials.groups);
  ctx.sys.setresgid(credentials.gid, credentials.gid, credentials.gid);
  ctx.sys.setresuid(credentials.uid, credentials.uid, credentials.uid);
  phases.mark('chroot');
  debug(`run: ${phases.summary()}`);
  return { pod, args, lockFd, path, argv: [path, ...exec.slice(1)], env, credentials, workingDirectory };
}

/**
 * The run entrypoint: {@link prepareFlyRun}, then execve of the app with the lock fd kept
 * open. Never returns; errors are thrown before the exec. With `--debug`, prints how long the
 * entrypoint took from process start and from its own start to the exec.
 */
export function flyRun(argv: readonly string[], ctx: EntrypointContext): never {
  const x = prepareFlyRun(argv, ctx);
  if (ctx.log.debugEnabled) {
    const now = performance.now();
    const own = ctx.startedAt === undefined ? '' : `, ${(now - ctx.startedAt).toFixed(1)} ms in stage1-fly`;
    ctx.log.debug(`run: exec ${JSON.stringify(x.argv)} as ${x.credentials.uid}:${x.credentials.gid} after ${now.toFixed(1)} ms since process start${own}`);
  }
  return ctx.sys.execve(
    x.path,
    x.argv,
    x.env.map(([n, v]) => `${n}=${v}`),
    { keepFds: [x.lockFd] },
  );
}
