/**
 * The app/add entrypoint: sets up an app that stage0 added to a running mutable pod (its image
 * is in `opt/stage2/<app>`, its runtime app in the pod manifest), then hands it to PID 1.
 *
 * The pod's PID 1 lives in a mount namespace of its own, so the app's mounts cannot simply be
 * made on the host. app/add makes them as run does, in a private mount namespace of its own
 * (volumes, /dev, /etc files, read-only root), then `init graft` clones that mount tree and
 * attaches the clone at `/opt/stage2/<app>/rootfs` inside PID 1's namespace (open_tree +
 * move_mount). The app's cgroups are created below the pod's, its spec is written to
 * `rkt/spec/<app>`, and `add <app>` on the control socket makes PID 1 mount /proc and /sys and
 * open the app's log.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { appEnvPathIn, formatEnvFile, podManifestPath, readFileTolerantSync, podPidPath, relAppRootfsPath, stage1RootfsPath, writeFileAtomicSync } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { parsePodManifest } from '@rktnetes/schema';
import { type RunArgs, crossingEnvFromEnv, parseAppAddArgs } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import { compileSeccompFilter } from '@rktnetes/seccomp';
import { prepareApp } from '../run/app';
import { graftSharedAndClose, openMountNamespace } from '../run/graft';
import { checkBindPropagation, enterPrivateMountNamespace, setupAppFs, volumeBinds } from '../run/mounts';
import { networkMode } from '../run/network';
import { hostsBinds, initApp, INIT_PATH, INIT_SPEC_PATH, METADATA_URL_PATH, metadataServicePort, metadataUrlFor } from '../run/run';
import { NOTIFY_ADDRESS_PATH, setNotifySocket, supportsSystemdNotify } from '../run/notify';
import { selinuxOfSpec } from '../run/selinux';
import { formatAppSpec } from '../run/spec';
import { createAppCgroups } from './cgroups';
import { ctlCall } from './control';
import { appExtLogDir, appSpecPath, readRunArgs } from './pod';
import { appStdio } from './stdio';

/** What the crossing entrypoints need from their surroundings. */
export interface CrossingContext {
  sys: Sys;
  /** the pod directory (the working directory stage0 gives) */
  pod: string;
  env: NodeJS.ProcessEnv;
  warn: (message: string) => void;
  debug: (message: string) => void;
}

/**
 * The host pid of the pod's PID 1: `RKT_STAGE1_ENTERPID` as stage0 passes it, else `<pod>/pid`.
 * Errors (user): `stage1.pod.not-running` when neither is there.
 */
export function podPid1(ctx: Pick<CrossingContext, 'pod' | 'env'>): number {
  const crossing = crossingEnvFromEnv(ctx.env);
  if (crossing) return crossing.enterPid;
  const n = Number.parseInt(readFileTolerantSync(podPidPath(ctx.pod))?.trim() ?? '', 10);
  if (!Number.isSafeInteger(n) || n < 1) throw userError('stage1.pod.not-running', `pod ${ctx.pod} has no running supervisor`);
  return n;
}

/**
 * The pod's `AC_METADATA_URL` for an added app: the one run recorded (the host's address on the
 * pod's network, or none), else, for pods run before it was recorded, loopback with host
 * networking and none otherwise.
 */
export function podMetadataUrl(s1: string, run: Pick<RunArgs, 'mdsToken' | 'net'>, env: NodeJS.ProcessEnv): string | undefined {
  if (!run.mdsToken) return undefined;
  const recorded = readFileTolerantSync(join(s1, METADATA_URL_PATH));
  if (recorded !== undefined) return recorded.trim() || undefined;
  return networkMode(run.net) === 'host' ? metadataUrlFor({ mode: 'host' }, metadataServicePort(env), run.mdsToken) : undefined;
}

/** Runs `init graft` (the pod's static init, on the host) to attach mount trees in PID 1's namespace. */
function graft(s1: string, pid: number, pairs: ReadonlyArray<readonly [source: string, target: string]>, debug: (m: string) => void): void {
  const argv = ['graft', String(pid), ...pairs.flat()];
  debug(`graft: ${argv.join(' ')}`);
  const r = spawnSync(join(s1, INIT_PATH), argv, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.trim().replace(/^stage1 init: /, '') || `exit status ${r.status}`);
    throw systemError('stage1.app.graft', `cannot attach the mounts of the app in the pod: ${why}`, { cause: r.error });
  }
}

/** app/add: see the module documentation. Returns the exit status. */
export async function appAdd(argv: readonly string[], ctx: CrossingContext): Promise<number> {
  const args = parseAppAddArgs(argv);
  const { pod, sys } = ctx;
  const name = args.appName;
  const run = readRunArgs(pod);
  if (args.privateUsers) throw userError('stage1.private-users.unsupported', '--private-users is not implemented yet in stage1-coreos');
  const pid1 = podPid1(ctx);
  const s1 = stage1RootfsPath(pod);
  const manifest = parsePodManifest(readFileSync(podManifestPath(pod)), { source: podManifestPath(pod) });
  const ra = manifest.apps.find((a) => a.name === name);
  if (!ra) throw userError('stage1.app.unknown', `app ${name} is not in the manifest of pod ${args.uuid}`, { details: { app: name } });
  // an app added before and not removed since (app/rm deletes its spec): nothing of it is touched
  if (existsSync(join(s1, appSpecPath(name)))) throw userError('stage1.app.exists', `app ${name} is already in pod ${args.uuid}`, { details: { app: name } });
  const stdio = appStdio(ra);
  const metadataUrl = podMetadataUrl(s1, run, ctx.env);
  if (run.mdsToken && !metadataUrl) ctx.debug(`app ${name}: the pod's network has no address of the host, AC_METADATA_URL is not set`);
  const app = prepareApp(pod, ra, manifest, {
    disableCapabilitiesRestriction: run.disableCapabilitiesRestriction || args.disableCapabilitiesRestriction,
    disableSeccomp: run.disableSeccomp || args.disableSeccomp,
    ...(metadataUrl ? { metadataUrl } : {}),
    warn: ctx.warn,
  });
  const disablePaths = run.disablePaths || args.disablePaths;
  // sd_notify: the pod's socket, when run made one (a sandbox started with NOTIFY_SOCKET)
  const notifyAddress = readFileTolerantSync(join(s1, NOTIFY_ADDRESS_PATH))?.trim();
  if (notifyAddress && supportsSystemdNotify(app.image.annotations, ra.annotations)) setNotifySocket(app.env, notifyAddress);

  const plan = createAppCgroups(pod, args.uuid, { name, resources: app.resources }, !disablePaths);
  for (const w of plan.warnings) ctx.warn(w);
  writeFileSync(appEnvPathIn(s1, name), formatEnvFile(app.env), { mode: 0o644 });
  if (app.seccomp) writeFileSync(join(s1, 'rkt/seccomp', `${name}.bpf`), compileSeccompFilter(app.seccomp).bytes, { mode: 0o644 });

  const grafts: Array<readonly [string, string]> = [[app.root, relAppRootfsPath(name)]];
  let extLog: string | undefined;
  if (stdio.logPath) {
    mkdirSync(dirname(stdio.logPath), { recursive: true, mode: 0o755 });
    mkdirSync(join(s1, appExtLogDir(name)), { recursive: true, mode: 0o755 });
    grafts.push([dirname(stdio.logPath), `/${appExtLogDir(name)}`]);
    extLog = `/${appExtLogDir(name)}/${basename(stdio.logPath)}`;
  }
  const spec = {
    ...initApp(app, plan, { ...run, disablePaths }),
    stdio: stdio.modes,
    stdinOnce: stdio.stdinOnce,
    ...(extLog ? { extLog } : {}),
  };
  writeFileAtomicSync(join(s1, appSpecPath(name)), formatAppSpec(spec), 0o600);

  // From here on only synchronous fs calls: the libuv threadpool stays in the host namespace.
  const hostname = run.hostname ?? `rkt-${args.uuid}`;
  const etc = hostsBinds(s1, run, hostname, ctx.warn);
  const binds = volumeBinds(pod, app.mounts);
  checkBindPropagation(binds);
  // rshared volumes are cloned from this namespace, after the app's root is in the pod
  const hostNs = binds.some((b) => b.propagation === 'rshared') ? openMountNamespace() : undefined;
  enterPrivateMountNamespace(sys);
  // the pod's SELinux mount label (from its init spec) on the app's /dev mounts, as run gives them
  const { mountContext } = selinuxOfSpec(readFileSync(join(s1, INIT_SPEC_PATH), 'utf8'));
  const shared = setupAppFs(sys, { name, root: app.root, binds: [...binds, ...etc], readOnlyRootFS: app.readOnlyRootFS, ...(mountContext ? { mountContext } : {}) });
  graft(s1, pid1, grafts, ctx.debug);
  graftSharedAndClose(join(s1, INIT_PATH), pid1, hostNs, shared, s1, ctx.debug);
  await ctlCall(pod, `add ${name}`);
  ctx.debug(`app ${name} added`);
  return 0;
}
