/**
 * The run entrypoint: plan the pod's VM, prepare the host (mount points, env files, the guest
 * spec, taps) and exec the shim, which starts qemu. Node does not stay: after the exec the shim
 * (holding the pod lock, reporting itself in `ppid`) and its only child qemu are the pod.
 */
import { accessSync, constants as fsConstants, fstatSync, mkdirSync, rmSync } from 'node:fs';
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
import { IMAGE_INITRD, IMAGE_KERNEL, IMAGE_SHIM, POD_KVM_FILES, podKvmDir, podKvmPath } from './layout';
import { planNetworks, type VmNic } from './net';
import { LOG_DIR, SHARE_OPTIONS, applyHostPrep, planPod, type PodPlan } from './plan';
import { loadKvmPod, type KvmPod } from './pod';
import { chooseAccel, findFirmware, findQemu, kernelCommandLine, qemuArgs } from './qemu';
import { vmSize, type VmSize } from './resources';
import { serializeGuestSpec, type GuestSpec } from './spec';
import { prepareHostStreams } from './stdio';
import { createTap } from './tap';

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
  if (args.disableSeccomp) debug('run: --disable-seccomp: stage1-kvm installs no seccomp filter in the guest');
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
  nics: VmNic[];
  size: VmSize;
  lockFd: number;
  path: string;
  argv: string[];
  keepFds: number[];
}

/**
 * Everything run does before the exec: parses the argv, checks the image's VM parts and qemu,
 * loads and plans the pod, removes what an earlier boot left in `<pod>/kvm`, creates the
 * apps' mount points, empty volumes, env files, `rkt/status` and `rkt/log`, writes the guest
 * spec, creates the taps, and chooses how qemu reaches the host's stdio.
 *
 * @throws RktError usage `stage1.args.*`; user `stage1-kvm.*`, `schema.*`; system `stage1-kvm.net.ip`
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
  const nics = planNetworks(args.net, pod.uuid, args.localConfig);
  const hostname = args.hostname ?? `rkt-${pod.uuid}`;
  if (hostname.length > 64) throw userError('stage1-kvm.hostname', `hostname ${JSON.stringify(hostname)} is longer than 64 characters`);
  const plan = planPod(pod, {
    hostname,
    dnsConfMode: args.dnsConfMode ?? DEFAULT_DNS_CONF_MODE,
    allCapabilities: args.disableCapabilitiesRestriction,
    interactive: args.interactive,
  });
  const size = vmSize(pod.manifest.isolators, pod.apps.map((a) => a.app.isolators));

  mkdirSync(podKvmDir(pod.dir), { recursive: true, mode: 0o750 });
  for (const f of ['exit', 'enterSocket', 'qemuPid', 'console'] as const) rmSync(podKvmPath(pod.dir, f), { force: true });
  mkdirSync(appsStatusDir(pod.dir), { recursive: true, mode: 0o755 });
  mkdirSync(join(stage1Rootfs, LOG_DIR), { recursive: true, mode: 0o755 });
  applyHostPrep(plan.prep, ctx.sys);
  writeEnvFiles(pod, plan, ctx);
  const spec: GuestSpec = {
    hostname,
    stopTimeoutMs: STOP_TIMEOUT_MS,
    interactive: args.interactive,
    shares: [],
    nets: nics.map((n) => ({ mac: n.tap.mac, ...(n.address ? { address: n.address } : {}), ...(n.gateway ? { gateway: n.gateway } : {}) })),
    apps: plan.apps,
  };
  writeFileAtomicSync(podKvmPath(pod.dir, 'spec'), serializeGuestSpec(spec), 0o640);
  for (const n of nics) createTap(n.tap, podKvmPath(pod.dir, 'taps'));

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
    nics: nics.map((n) => ({ tap: n.tap.name, mac: n.tap.mac })),
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
    '--',
    ...qemuArgv,
  ];
  return { args, pod, spec, nics, size, lockFd, path: assets.shim, argv: shimArgv, keepFds: [lockFd, ...streams.keepFds] };
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
    ctx.log.debug(`run: ${x.size.memoryMiB} MiB, ${x.size.cpus} vCPU, ${x.nics.length} NIC; console in ${POD_KVM_FILES.console}`);
    ctx.log.debug(`run: exec ${x.argv.join(' ')}`);
    ctx.log.debug(`run: exec after ${now.toFixed(1)} ms since process start${own}`);
  }
  const env = Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('NODE_'));
  return ctx.sys.execve(x.path, x.argv, Object.fromEntries(env), { keepFds: x.keepFds });
}
