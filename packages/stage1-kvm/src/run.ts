/**
 * The run entrypoint: set up the pod's networks, plan the pod's VM, prepare the host (mount
 * points, env files, the guest spec) and exec the shim, which starts qemu (in the pod's network
 * namespace). Node does not stay: after the exec the shim (holding the pod lock, reporting
 * itself in `ppid`) and its only child qemu are the pod.
 */
import { accessSync, constants as fsConstants, fstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  appEnvPath,
  appsStatusDir,
  formatEnvFile,
  podPpidPath,
  stage1RootfsPath,
  writeFileAtomicSync,
} from '@rktnetes/common';
import { hasCode, userError } from '@rktnetes/errors';
import { DEFAULT_DNS_CONF_MODE, lockFdFromEnv, parseRunArgs, type RunArgs } from '@rktnetes/stage1-abi';
import type { EntrypointContext } from './context';
import { releaseOptions } from './gc';
import { IMAGE_INITRD, IMAGE_KERNEL, IMAGE_KERNEL_VERSION, IMAGE_SHIM, POD_KVM_FILES, POD_SECCOMP_DIR, podKvmDir, podKvmPath } from './layout';
import { type KvmNetwork, releaseKvmNetwork, setupKvmNetwork } from './net';
import { LOG_DIR, SHARE_OPTIONS, applyHostPrep, planPod, type PodPlan } from './plan';
import { loadKvmPod, type KvmPod } from './pod';
import { chooseAccel, findFirmware, findQemu, kernelCommandLine, qemuArgs } from './qemu';
import { vmSize, type VmSize } from './resources';
import { serializeGuestSpec, type GuestSpec } from './spec';
import { prepareHostStreams } from './stdio';

/** Milliseconds the guest gives apps between SIGTERM and SIGKILL when the pod stops. */
export const STOP_TIMEOUT_MS = 10_000;

/** The image's VM parts, on the host. */
export interface Stage1Assets {
  kernel: string;
  initrd: string;
  shim: string;
}

/**
 * The kernel, initramfs and shim in the rendered stage1 image.
 *
 * @throws RktError `stage1-kvm.assets.missing` (user) when the image was built without them
 *   (scripts/kvm-assets.sh had not prepared the kernel, or gcc was missing)
 */
export function findStage1Assets(stage1Rootfs: string): Stage1Assets {
  const a = { kernel: join(stage1Rootfs, IMAGE_KERNEL), initrd: join(stage1Rootfs, IMAGE_INITRD), shim: join(stage1Rootfs, IMAGE_SHIM) };
  for (const [what, path] of Object.entries(a)) {
    try {
      accessSync(path, what === 'shim' ? fsConstants.X_OK : fsConstants.R_OK);
    } catch {
      throw userError('stage1-kvm.assets.missing', `the stage1-kvm image has no ${what} (${path}): it was built before scripts/kvm-assets.sh prepared the guest kernel; run it and rebuild the image`, {
        details: { path },
      });
    }
  }
  return a;
}

/** Refuses options a VM cannot honour; logs those it ignores. */
function checkOptions(args: RunArgs, debug: (m: string) => void): void {
  if (args.privateUsers) throw userError('stage1-kvm.unsupported', 'stage1-kvm cannot run pods with --private-users: apps run as root of their own VM');
  if (args.mutable) throw userError('stage1-kvm.unsupported', 'stage1-kvm cannot run mutable pods: it has no app/* entrypoints');
  if (args.mdsToken) debug('run: ignoring --mds-token (no metadata service in VMs yet)');
  if (args.ipc === 'parent') debug('run: ignoring --ipc=parent: a VM never shares the host IPC namespace');
}

function checkLockFd(fd: number): void {
  try {
    fstatSync(fd);
  } catch (e) {
    throw userError('stage1-kvm.lock-fd', `RKT_LOCK_FD ${fd} is not an open file descriptor`, { cause: e });
  }
}

/** `count` descriptor numbers from 64 up that are not open and not in `exclude`. */
export function freeFds(count: number, exclude: readonly number[], isOpen: (fd: number) => boolean = fdIsOpen): number[] {
  const out: number[] = [];
  for (let fd = 64; out.length < count; fd++) if (!exclude.includes(fd) && !isOpen(fd)) out.push(fd);
  return out;
}

function fdIsOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** The guest kernel's release recorded in the image; undefined when the image lacks it. */
function guestKernelRelease(stage1Rootfs: string): string | undefined {
  try {
    return readFileSync(join(stage1Rootfs, IMAGE_KERNEL_VERSION), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Writes the apps' seccomp programs to `<pod>/kvm/seccomp/`, replacing what an earlier boot left. */
function writeFilters(pod: KvmPod, plan: PodPlan, debug: (m: string) => void): void {
  const dir = join(pod.dir, POD_SECCOMP_DIR);
  rmSync(dir, { recursive: true, force: true });
  if (plan.filters.length === 0) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const f of plan.filters) {
    writeFileAtomicSync(f.path, f.bytes, 0o644);
    debug(`run: app ${f.app}: ${f.summary}`);
  }
}

/** Writes the apps' env files (for enter) where stage0 wrote none; unrepresentable ones are skipped. */
function writeEnvFiles(pod: KvmPod, plan: PodPlan, ctx: EntrypointContext): void {
  for (const { app, env } of plan.envFiles) {
    const path = appEnvPath(pod.dir, app);
    let text: string;
    try {
      text = formatEnvFile(env);
    } catch (e) {
      if (!hasCode(e, 'env-file.invalid')) throw e;
      ctx.log.warn(`not writing ${path}: ${(e as Error).message}; enter will not see this app's environment`);
      continue;
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileAtomicSync(path, text, 0o644);
  }
}

/** What run decided, just before the exec ({@link prepareKvmRun}, for tests and tools). */
export interface KvmExec {
  args: RunArgs;
  pod: KvmPod;
  spec: GuestSpec;
  network: KvmNetwork;
  size: VmSize;
  lockFd: number;
  path: string;
  argv: string[];
  keepFds: number[];
}

/**
 * Everything run does before the exec: parses the argv, checks the image's VM parts and qemu,
 * loads the pod, sets up its networks (src/net.ts: CNI in the pod's namespace, a tap wired to
 * each interface), plans the pod, removes what an earlier boot left in `<pod>/kvm`, creates
 * the apps' mount points, empty volumes, env files, `rkt/status` and `rkt/log`, writes the
 * apps' seccomp programs (`kvm/seccomp/<app>.bpf`, none with `--disable-seccomp`) and the guest
 * spec, and chooses how qemu reaches the host's stdio. When anything fails after the network
 * setup, the networks are torn down again.
 *
 * @throws RktError usage `stage1.args.*`; user `stage1-kvm.*`, `schema.*`, `stage1.net.*`,
 *   `stage1.seccomp.*`, `stage1.annotation.invalid`;
 *   system `stage1-kvm.net.*`, `stage1.net.*`
 */
export function prepareKvmRun(argv: readonly string[], ctx: EntrypointContext): KvmExec {
  const debug = (m: string) => ctx.log.debug(m);
  const args = parseRunArgs(argv);
  checkOptions(args, debug);
  const lockFd = lockFdFromEnv(ctx.env);
  checkLockFd(lockFd);
  const stage1Rootfs = stage1RootfsPath(ctx.podDir);
  const assets = findStage1Assets(stage1Rootfs);
  const qemu = findQemu(ctx.env);
  const pod = loadKvmPod(ctx.podDir, args.uuid);
  const hostname = args.hostname ?? `rkt-${pod.uuid}`;
  if (hostname.length > 64) throw userError('stage1-kvm.hostname', `hostname ${JSON.stringify(hostname)} is longer than 64 characters`);
  const network = setupKvmNetwork({ pod: pod.dir, uuid: pod.uuid, stage1Root: stage1Rootfs, env: ctx.env, warn: (m) => ctx.log.warn(m), debug, args, exposedPorts: pod.manifest.ports, apps: pod.apps.map((a) => a.app), lockFd, sys: ctx.sys, ...(ctx.run ? { run: ctx.run } : {}) });
  try {
    return prepareVm(args, ctx, { pod, hostname, network, lockFd, qemu, assets, stage1Rootfs });
  } catch (e) {
    if (network.mode === 'cni') releaseAfterFailure(args, ctx);
    throw e;
  }
}

/** Tears down the networks of a run that failed before or at the exec. */
function releaseAfterFailure(args: RunArgs, ctx: EntrypointContext): void {
  const problems = releaseKvmNetwork(releaseOptions(ctx, args));
  for (const p of problems) ctx.log.warn(`cleaning up the network after the failed run: ${p}`);
}

/** The part of {@link prepareKvmRun} after the network setup. */
function prepareVm(
  args: RunArgs,
  ctx: EntrypointContext,
  o: { pod: KvmPod; hostname: string; network: KvmNetwork; lockFd: number; qemu: string; assets: Stage1Assets; stage1Rootfs: string },
): KvmExec {
  const { pod, hostname, network, lockFd, qemu, assets, stage1Rootfs } = o;
  const guestKernel = guestKernelRelease(stage1Rootfs);
  const plan = planPod(pod, {
    hostname,
    dnsConfMode: args.dnsConfMode ?? DEFAULT_DNS_CONF_MODE,
    allCapabilities: args.disableCapabilitiesRestriction,
    disableSeccomp: args.disableSeccomp,
    disablePaths: args.disablePaths,
    ...(guestKernel !== undefined ? { guestKernel } : {}),
    interactive: args.interactive,
  });
  const size = vmSize(pod.manifest.isolators, pod.apps.map((a) => a.app.isolators));

  mkdirSync(podKvmDir(pod.dir), { recursive: true, mode: 0o750 });
  for (const f of ['exit', 'enterSocket', 'qemuPid', 'console'] as const) rmSync(podKvmPath(pod.dir, f), { force: true });
  mkdirSync(appsStatusDir(pod.dir), { recursive: true, mode: 0o755 });
  mkdirSync(join(stage1Rootfs, LOG_DIR), { recursive: true, mode: 0o755 });
  applyHostPrep(plan.prep, ctx.sys);
  writeEnvFiles(pod, plan, ctx);
  writeFilters(pod, plan, (m) => ctx.log.debug(m));
  const spec: GuestSpec = {
    hostname,
    stopTimeoutMs: STOP_TIMEOUT_MS,
    interactive: args.interactive,
    shares: [],
    nets: network.nics.map((n) => ({ mac: n.mac, name: n.ifName, mtu: n.mtu, addresses: n.addresses, routes: n.routes })),
    apps: plan.apps,
  };
  writeFileAtomicSync(podKvmPath(pod.dir, 'spec'), serializeGuestSpec(spec), 0o640);

  const [ctlFd, ...streamFds] = freeFds(3, [lockFd]);
  const streams = prepareHostStreams(ctx.sys, args.interactive, streamFds);
  const qemuArgv = qemuArgs({
    qemu,
    uuid: pod.uuid,
    accel: chooseAccel(ctx.env),
    memoryMiB: size.memoryMiB,
    cpus: size.cpus,
    kernel: assets.kernel,
    initrd: assets.initrd,
    append: kernelCommandLine({ debug: args.debug, podShareOptions: SHARE_OPTIONS }),
    ...(findFirmware() ? { firmware: findFirmware()! } : {}),
    podDir: pod.dir,
    shares: [],
    nics: network.nics.map((n) => ({ tap: n.tap, mac: n.mac })),
    stdout: streams.stdout,
    stderr: streams.stderr,
    ...(streams.stdin ? { stdin: streams.stdin } : {}),
    ctlFd: ctlFd!,
  });
  const shimArgv = [
    assets.shim,
    `--ctl-fd=${ctlFd}`,
    `--ppid-file=${podPpidPath(pod.dir)}`,
    `--exit-file=${podKvmPath(pod.dir, 'exit')}`,
    // ^C on a terminal then reaches the shim only (a graceful stop); qemu must stay in the
    // foreground group when it reads the terminal
    ...(args.interactive ? [] : ['--own-pgrp']),
    ...(network.netns ? [`--netns=${network.netns}`] : []),
    '--',
    ...qemuArgv,
  ];
  return { args, pod, spec, network, size, lockFd, path: assets.shim, argv: shimArgv, keepFds: [lockFd, ...streams.keepFds] };
}

/**
 * The run entrypoint: {@link prepareKvmRun}, then exec of the shim with the lock and stream
 * descriptors kept. Never returns; errors are thrown before the exec.
 */
export function kvmRun(argv: readonly string[], ctx: EntrypointContext): never {
  const x = prepareKvmRun(argv, ctx);
  if (ctx.log.debugEnabled) {
    const now = performance.now();
    const own = ctx.startedAt === undefined ? '' : `, ${(now - ctx.startedAt).toFixed(1)} ms in stage1-kvm`;
    ctx.log.debug(`run: ${x.size.memoryMiB} MiB, ${x.size.cpus} vCPU, ${x.network.nics.length} NIC; console in ${POD_KVM_FILES.console}`);
    ctx.log.debug(`run: exec ${x.argv.join(' ')}`);
    ctx.log.debug(`run: exec after ${now.toFixed(1)} ms since process start${own}`);
  }
  const env = Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('NODE_'));
  try {
    return ctx.sys.execve(x.path, x.argv, Object.fromEntries(env), { keepFds: x.keepFds });
  } catch (e) {
    if (x.network.mode === 'cni') releaseAfterFailure(x.args, ctx);
    throw e;
  }
}
