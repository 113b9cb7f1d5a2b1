/**
 * The run entrypoint: prepares the pod from Node and execs the init, so that no Node process
 * stays resident while the pod runs.
 *
 * Order: parse argv; resolve every app and the pod settings (sysctls, cgroup parent, pid
 * namespace); start the network (src/run/network.ts: for CNI networks the namespace and the
 * pod's network files are made and the first plugin is started, in the background; what fails
 * before that leaves nothing); while the plugins run, do what does not depend on them: create
 * the pod cgroups (recorded in `runtime-config` first, so that gc finds them whatever happens
 * next; this process joins them, the plugins already started stay where they are, later helpers
 * of the network setup such as iptables for `--port` start inside), write `subcgroup` and the
 * stage1 files that need nothing of the network (hostname, seccomp programs); then wait for the
 * network (a plugin's failure ends run here, the network cleaned up, the cgroups left to gc),
 * set `AC_METADATA_URL` (the host address reachable from the pod is only known now) and, when
 * run has a `NOTIFY_SOCKET`, the apps' sd_notify socket (src/run/notify.ts); write the other
 * stage1 files (env files, hosts, metadata URL, notify address); enter a private mount
 * namespace (only once the network is done: its helpers and its cleanup work in the host's) and
 * make the mounts (`rshared` volumes grafted from the original namespace); write the init spec;
 * exec the init with the lock fd. SELinux labels from stage0 (src/run/selinux.ts) are checked
 * first; the mount label goes into the apps' /dev mounts, both labels into the init spec.
 * `--private-users` adds its steps in between (src/run/userns.ts).
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, write, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  appEnvPathIn,
  ENV_AC_METADATA_URL,
  type EnvEntry,
  formatEnvFile,
  hostsFallbackPathIn,
  hostsPathIn,
  podManifestPath,
  relAppRootfsPath,
  resolvConfPathIn,
  stage1RootfsPath,
  subcgroupPath,
  writeFileAtomicSync,
} from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { parsePodManifest } from '@rktnetes/schema';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, type RunArgs, lockFdFromEnv, parseRunArgs } from '@rktnetes/stage1-abi';
import { readMountInfo, type Sys } from '@rktnetes/sys';
import { compileSeccompFilter, describeSeccomp } from '@rktnetes/seccomp';
import { type PreparedApp, prepareApp } from './app';
import { createPodCgroups, detectHierarchies, planPodCgroups, withCgroupParent, type CgroupPlan } from './cgroups';
import { graftSharedAndClose, openMountNamespace } from './graft';
import { type AppBind, type SharedBind, bindSelf, checkBindPropagation, enterPrivateMountNamespace, setupAppFs, stdinTerminal, volumeBinds } from './mounts';
import { podSettings } from './pod-settings';
import { type NetworkPlan, startNetwork } from './network';
import { hostNotifySocket, NOTIFY_ADDRESS_PATH, podNotifyAddress, setNotifySocket, supportsSystemdNotify } from './notify';
import { writeRuntimeConfig } from './runtime-config';
import { checkUsernsPod, delegateCgroups, podFsOptions, podUserNamespace, setUpUsernsRoots, withPodFsIds } from './userns';
import { checkMutableRun, podCgroupDirs, prepareMutablePod } from '../mutable/pod';
import { podSelinux } from './selinux';
import { formatInitSpec, type InitSpec } from './spec';

/** Paths hidden from apps unless `--disable-paths` (the shared defaults of @rktnetes/stage1-abi). */
export const MASKED_PATHS: readonly string[] = DEFAULT_MASKED_PATHS;

/** Paths made read-only for apps unless `--disable-paths` (/sys is read-only as a whole). */
export const READONLY_PATHS: readonly string[] = DEFAULT_READONLY_PATHS;

/** Where the init program and its spec are, relative to the stage1 root. */
export const INIT_PATH = 'init';
export const INIT_SPEC_PATH = 'rkt/init.spec';
/** Directories of the stage1 root that run and the init write to. */
export const STAGE1_STATE_DIRS = ['rkt/status', 'rkt/env', 'rkt/seccomp', 'rkt/pids', 'etc'] as const;
/** Port of rkt's metadata service (`AC_METADATA_URL`). */
export const METADATA_SERVICE_PORT = 18112;

/** The metadata service's port for apps: `RKT_METADATA_PORT` (passed on by stage0) or the default. */
export function metadataServicePort(env: NodeJS.ProcessEnv): number {
  const port = Number(env['RKT_METADATA_PORT']);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : METADATA_SERVICE_PORT;
}

/** Where run records the pod's `AC_METADATA_URL` for app/add (relative to the stage1 root; empty: none). */
export const METADATA_URL_PATH = 'rkt/metadata-url';

/**
 * The host address at which apps reach the metadata service: loopback with host networking,
 * the host's side of the forwarding network (its gateway, as rkt does) in a pod network, and
 * none with `--net=none` or when no network reported a gateway.
 */
export function metadataHost(network: NetworkPlan): string | undefined {
  if (network.mode === 'host') return '127.0.0.1';
  return network.mode === 'join' ? network.hostIP : undefined;
}

/** `AC_METADATA_URL` for a pod's token, or undefined when the pod cannot reach the host. */
export function metadataUrlFor(network: NetworkPlan, port: number, token: string): string | undefined {
  const host = metadataHost(network);
  return host === undefined ? undefined : `http://${host.includes(':') ? `[${host}]` : host}:${port}/${token}`;
}

/**
 * Sets `AC_METADATA_URL` in a composed app environment, in place when the app defines it and
 * last otherwise (where composeEnvironment puts it).
 */
export function setMetadataUrl(env: EnvEntry[], url: string): void {
  const i = env.findIndex(([n]) => n === ENV_AC_METADATA_URL);
  if (i >= 0) env[i] = [ENV_AC_METADATA_URL, url];
  else env.push([ENV_AC_METADATA_URL, url]);
}
/** Seconds the init waits between SIGTERM and SIGKILL when the pod stops. */
export const STOP_TIMEOUT_SECONDS = 10;

/** What runPod needs from its surroundings. */
export interface RunContext {
  sys: Sys;
  /** the pod directory (the entrypoint's working directory) */
  pod: string;
  env: NodeJS.ProcessEnv;
  warn: (message: string) => void;
  debug: (message: string) => void;
}

/** The /etc files bound into every app: hostname, hosts, resolv.conf per `--dns-conf-mode`. */
export function hostsBinds(s1: string, args: RunArgs, hostname: string, warn: (m: string) => void): AppBind[] {
  const hosts = args.dnsConfMode?.hosts ?? 'default';
  const resolv = args.dnsConfMode?.resolv ?? 'default';
  const entry = `127.0.0.1 ${hostname}\n`;
  const addEntry = (file: string) => {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (!text.split('\n').includes(entry.trimEnd())) appendFileSync(file, (text === '' || text.endsWith('\n') ? '' : '\n') + entry);
  };
  const binds: AppBind[] = [{ source: join(s1, 'etc/hostname'), path: '/etc/hostname' }];
  if (hosts === 'host') binds.push({ source: '/etc/hosts', path: '/etc/hosts', readOnly: true });
  else if (hosts === 'stage0') {
    addEntry(hostsPathIn(s1));
    binds.push({ source: hostsPathIn(s1), path: '/etc/hosts' });
  } else {
    addEntry(hostsFallbackPathIn(s1));
    binds.push({ source: hostsFallbackPathIn(s1), path: '/etc/hosts', ifMissing: true });
  }
  if (resolv === 'host' && existsSync('/etc/resolv.conf')) binds.push({ source: '/etc/resolv.conf', path: '/etc/resolv.conf', readOnly: true });
  else if (resolv === 'stage0') {
    if (existsSync(resolvConfPathIn(s1))) binds.push({ source: resolvConfPathIn(s1), path: '/etc/resolv.conf' });
    else warn(`--dns-conf-mode=resolv=stage0 but stage0 wrote no ${resolvConfPathIn(s1)}, apps keep their own /etc/resolv.conf`);
  }
  // a network plugin's DNS settings (written by the network setup)
  else if (resolv === 'default' && existsSync(resolvConfPathIn(s1))) binds.push({ source: resolvConfPathIn(s1), path: '/etc/resolv.conf' });
  return binds;
}

/** The init spec section of a prepared app. */
export function initApp(a: PreparedApp, plan: CgroupPlan, args: RunArgs): InitSpec['apps'][number] {
  return {
    name: a.name,
    root: relAppRootfsPath(a.name),
    cgroups: plan.appProcs[a.name] ?? [],
    // the app's own lists (annotations) replace the defaults, even with --disable-paths
    masks: a.maskedPaths ?? (args.disablePaths ? [] : [...MASKED_PATHS]),
    readOnly: a.readOnlyPaths ?? (args.disablePaths ? [] : [...READONLY_PATHS]),
    workdir: a.workDir,
    uid: a.identity.uid,
    gid: a.identity.gid,
    groups: a.identity.groups,
    bounding: a.caps.bounding,
    inheritable: a.caps.inheritable,
    ambient: a.caps.ambient,
    noNewPrivs: a.noNewPrivs,
    ...(a.seccomp ? { seccomp: `/rkt/seccomp/${a.name}.bpf` } : {}),
    ...(a.oomScoreAdj !== undefined ? { oomScoreAdj: a.oomScoreAdj } : {}),
    ...(a.pidNamespace === 'private' ? { pidNamespace: 'private' as const } : {}),
    env: a.env,
    argv: a.argv,
    ...(a.preStart ? { preStart: a.preStart } : {}),
    ...(a.postStop ? { postStop: a.postStop } : {}),
  };
}

/**
 * Runs the pod described by the pod directory `ctx.pod`: never returns (the process becomes the
 * init), or throws. Errors (user): `stage1.private-users.*` (src/run/userns.ts),
 * `stage1.mutable.apps`, `stage1.mutable.interactive`, `stage1.pod.no-apps`, `stage1.interactive.multiple-apps`,
 * `stage1.net.*`, those of {@link prepareApp} and of `podSettings` (`stage1.sysctl.invalid`,
 * `stage1.cgroup-parent.invalid`, `stage1.annotation.invalid`), `stage1.volume.propagation`,
 * `stage1.selinux.invalid`; (system) `stage1.selinux.unavailable`, `stage1.cgroup.*`,
 * `stage1.app.graft`, `sys.*`.
 */
export async function runPod(argv: readonly string[], ctx: RunContext): Promise<never> {
  const args = parseRunArgs(argv);
  const lockFd = lockFdFromEnv(ctx.env);
  const { pod, sys } = ctx;
  // SELinux labels from stage0 (src/run/selinux.ts): checked before anything of the pod exists
  const selinux = podSelinux(ctx.env, readMountInfo());
  if (selinux.context || selinux.mountContext) ctx.debug(`SELinux: process label ${selinux.context ?? '(none)'}, mount label ${selinux.mountContext ?? '(none)'}`);
  const userns = podUserNamespace(args);
  const manifest = parsePodManifest(readFileSync(podManifestPath(pod)), { source: podManifestPath(pod) });
  if (args.mutable) checkMutableRun(args, manifest);
  else if (manifest.apps.length === 0) throw userError('stage1.pod.no-apps', `pod ${args.uuid} has no apps`);
  if (args.interactive && manifest.apps.length > 1) throw userError('stage1.interactive.multiple-apps', '--interactive needs a pod with exactly one app');
  const s1 = stage1RootfsPath(pod);
  const hostname = args.hostname ?? `rkt-${args.uuid}`;
  const apps = manifest.apps.map((ra) =>
    prepareApp(pod, ra, manifest, {
      disableCapabilitiesRestriction: args.disableCapabilitiesRestriction,
      disableSeccomp: args.disableSeccomp,
      warn: ctx.warn,
    }),
  );
  const settings = podSettings(manifest, args, ctx.warn);
  // --private-users: checked before anything of the pod exists (src/run/userns.ts)
  const usernsRoots = userns ? checkUsernsPod(join(s1, INIT_PATH), userns, pod, apps, settings.pid) : [];
  // the CNI plugins run in the background (their process started here) while run does what does
  // not depend on them, up to `await networkReady`; what fails before a plugin starts is thrown here
  const networkReady = startNetwork({ pod, uuid: args.uuid, stage1Root: s1, args, exposedPorts: manifest.ports, apps: apps.map((a) => a.app), lockFd, sys, env: ctx.env, warn: ctx.warn, debug: ctx.debug });
  // when the work below throws first, the network's own failure must not end the process as an unhandled rejection
  networkReady.catch(() => undefined);
  // sd_notify (src/run/notify.ts): apps that declare it send to the pod's socket, the init's parent tells the host
  const notifyHost = hostNotifySocket(ctx.env, ctx.warn);
  const notify = notifyHost === undefined ? undefined : { host: notifyHost, pod: podNotifyAddress(args.uuid) };

  const own = detectHierarchies(readFileSync('/proc/self/cgroup', 'utf8'), readMountInfo());
  const hierarchies = settings.cgroupParent === undefined ? own : withCgroupParent(own, settings.cgroupParent);
  const plan = planPodCgroups(
    hierarchies,
    args.uuid,
    apps.map((a) => ({ name: a.name, resources: a.resources })),
    { restrictDevices: !args.disablePaths },
  );
  for (const w of plan.warnings) ctx.warn(w);
  writeRuntimeConfig(pod, { cgroups: plan.dirs.filter((d) => d.endsWith(`/rkt-${args.uuid}`)) });
  createPodCgroups(plan);
  // Joining cgroups costs the first writer a wait for an RCU grace period (~10-15 ms here, idle
  // time): this process joins the pod's cgroups from libuv's thread pool while the plugins run and
  // it sets up the mounts, so the init's own joins (the authoritative ones, which report errors)
  // find it done. The plugins already started stay where they are.
  const earlyJoin = Promise.all(plan.joins.map((f) => joinInBackground(f, process.pid)));
  if (userns) delegateCgroups(plan.appProcs, userns);
  writeFileAtomicSync(subcgroupPath(pod), plan.subcgroup, 0o644);
  ctx.debug(`pod cgroups: ${plan.dirs.join(' ')}`);

  for (const d of STAGE1_STATE_DIRS) mkdirSync(join(s1, d), { recursive: true, mode: 0o755 });
  if (args.mutable) prepareMutablePod(pod, argv);
  writeFileSync(join(s1, 'etc/hostname'), `${hostname}\n`);
  for (const a of apps) {
    if (!a.seccomp) continue;
    const filter = compileSeccompFilter(a.seccomp);
    ctx.debug(`app ${a.name}: ${describeSeccomp(a.seccomp, filter)}`);
    writeFileSync(join(s1, 'rkt/seccomp', `${a.name}.bpf`), filter.bytes, { mode: 0o644 });
  }

  const network = await networkReady;
  const metadataUrl = args.mdsToken ? metadataUrlFor(network, metadataServicePort(ctx.env), args.mdsToken) : undefined;
  if (metadataUrl) for (const a of apps) setMetadataUrl(a.env, metadataUrl);
  else if (args.mdsToken) ctx.debug(`the pod's network (${network.mode}) has no address of the host: AC_METADATA_URL is not set`);
  const notifying = new Set<string>();
  if (notify) {
    manifest.apps.forEach((ra, i) => {
      const a = apps[i]!;
      if (!supportsSystemdNotify(a.image.annotations, ra.annotations)) return;
      notifying.add(a.name);
      setNotifySocket(a.env, notify.pod);
    });
    ctx.debug(`sd_notify: ${notify.host}, apps notify ${notify.pod}: ${[...notifying].join(' ') || '(none)'}`);
  }
  if (args.mdsToken) writeFileSync(join(s1, METADATA_URL_PATH), metadataUrl ?? '', { mode: 0o644 });
  if (notify) writeFileSync(join(s1, NOTIFY_ADDRESS_PATH), notify.pod, { mode: 0o644 });
  const etc = hostsBinds(s1, args, hostname, ctx.warn);
  for (const a of apps) writeFileSync(appEnvPathIn(s1, a.name), formatEnvFile(a.env), { mode: 0o644 });

  const console = args.interactive ? stdinTerminal() : undefined;
  const binds: AppBind[][] = apps.map((a) => volumeBinds(pod, a.mounts));
  checkBindPropagation(binds.flat());
  // rshared volumes are cloned from this namespace once the pod's is set up
  const hostNs = binds.flat().some((b) => b.propagation === 'rshared') ? openMountNamespace() : undefined;
  if (userns) setUpUsernsRoots(join(s1, INIT_PATH), userns, pod, s1, usernsRoots, [...binds.flat(), ...etc].map((b) => b.source));
  enterPrivateMountNamespace(sys);
  bindSelf(sys, s1);
  const shared: SharedBind[] = [];
  apps.forEach((a, i) => {
    const appFs = { name: a.name, root: a.root, binds: [...binds[i]!, ...etc], readOnlyRootFS: a.readOnlyRootFS, ...(console ? { console } : {}), ...podFsOptions(userns), ...(selinux.mountContext ? { mountContext: selinux.mountContext } : {}) };
    shared.push(...withPodFsIds(sys, userns, () => setupAppFs(sys, appFs)));
  });
  graftSharedAndClose(join(s1, INIT_PATH), process.pid, hostNs, shared, '/', ctx.debug);

  const spec: InitSpec = {
    debug: args.debug,
    lockFd,
    stage1Root: s1,
    hostname,
    network,
    ipc: args.ipc === 'parent' ? 'parent' : 'private',
    ...(settings.pid === 'host' ? { pid: 'host' as const } : {}),
    ...(settings.sysctls.length ? { sysctls: settings.sysctls } : {}),
    ...(userns ? { userns } : {}),
    interactive: args.interactive,
    stopTimeoutSeconds: STOP_TIMEOUT_SECONDS,
    cgroupJoins: plan.joins,
    cgroupMoves: plan.moves,
    cgroupWrites: plan.unified ? plan.writes : [],
    // PID 1 keeps the pod cgroups open: to reach apps added later, and to signal the apps' cgroups in the host's pid namespace
    cgroupDirs: podCgroupDirs(plan.dirs, args.uuid),
    ...(args.mutable ? { mutable: true } : {}),
    ...(notify ? { notify } : {}),
    ...(selinux.context ? { selinuxContext: selinux.context } : {}),
    ...(selinux.mountContext ? { selinuxMountContext: selinux.mountContext } : {}),
    apps: apps.map((a) => ({ ...initApp(a, plan, args), ...(notifying.has(a.name) ? { notify: true } : {}) })),
  };
  const specPath = join(s1, INIT_SPEC_PATH);
  writeFileSync(specPath, formatInitSpec(spec), { mode: 0o600 });
  await earlyJoin;
  ctx.debug(`exec ${join(s1, INIT_PATH)} ${specPath}`);
  return sys.execve(join(s1, INIT_PATH), [INIT_PATH, specPath], {}, { keepFds: [lockFd] });
}

/**
 * Writes `pid` to the `cgroup.procs` file `procs` as one thread-pool operation (opened here, so
 * that the write needs nothing from the event loop while the caller keeps it busy). Resolves
 * when done; failures are left for the init's own join to report.
 */
function joinInBackground(procs: string, pid: number): Promise<void> {
  let fd: number;
  try {
    fd = openSync(procs, 'w');
  } catch {
    return Promise.resolve();
  }
  return new Promise((resolve) => write(fd, String(pid), () => (closeSync(fd), resolve())));
}

/** A logger line written synchronously (output queued on process.stderr is lost at exec). */
export function writeStderrSync(line: string): void {
  writeSync(2, `${line}\n`);
}
