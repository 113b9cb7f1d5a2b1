/**
 * Starting a pod in `pods/run` (rkt's stage0.Run): mount the overlays, copy the app manifests
 * into place, write the DNS files, then replace this process with the stage1 run entrypoint,
 * passing the pod lock as `RKT_LOCK_FD`. The exit status of `rkt run` is the run entrypoint's.
 */
import * as fs from 'node:fs';
import {
  DEFAULT_REGULAR_DIR_MODE,
  appDir,
  appImageManifestPath,
  appInfoManifestPath,
  appRootfsPath,
  appTreeStoreIdPath,
  appsStatusDir,
  hostsFallbackPathIn,
  hostsPathIn,
  privateUsersPreparedPath,
  readFileTolerant,
  resolvConfPathIn,
  stage1ImagePath,
  stage1RootfsPath,
} from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { buildRunArgs, buildRunEnv, parsePrivateUsers, type RunOptions } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import type { Context } from '../cli/context';
import { execEntrypoint, readPodStage1, stage1Env } from '../stage1/entrypoints';
import { formatHostsFile, formatResolvConf, type DnsOptions, type RunFlags } from './args';
import { readPodManifest, stage1TreeStoreId, usesOverlay } from './info';
import type { PodLock } from './lock';
import { ensureMtab, mountImageOverlay, overlayUnavailable, overlayUnsupportedReason } from './overlay';
import { podSelinuxLabels, selinuxRunEnv } from './selinux';
import { treesLowerDirs } from './trees';

/** What starting a pod needs. */
export interface StartSpec {
  uuid: string;
  /** the pod directory in `pods/run` */
  path: string;
  /** the exclusive lock on it, inherited by stage1 */
  lock: PodLock;
  flags: RunFlags;
  dns: DnsOptions;
  /** start a mutable pod (`rkt app sandbox`): no apps needed, stage1 gets `--mutable` */
  mutable?: boolean;
  /** the pod's metadata service token (`--mds-register`), passed as `--mds-token` */
  mdsToken?: string;
}

function readId(path: string, what: string): string {
  const text = fs.readFileSync(path, 'utf8').trim();
  if (!text) throw userError('pod.tree-store-id', `empty ${what} in ${path}`);
  return text;
}

/** Mounts the stage1 and app overlays of an overlay pod and puts the app manifests in place. */
async function mountOverlays(ctx: Context, sys: Sys, path: string, apps: readonly string[], mountLabel: string | undefined): Promise<void> {
  const s1 = await stage1TreeStoreId(path);
  if (!s1) throw userError('pod.tree-store-id', `pod ${path} has no stage1 tree store id`);
  const appTrees = apps.map((app) => ({ app, id: readId(appTreeStoreIdPath(path, app), `tree store id of app ${app}`) }));
  // ACIs mount their tree's rootfs, layered images their layer directories
  const lowers = await treesLowerDirs(ctx.dataDir, [s1, ...appTrees.map((a) => a.id)], (m) => ctx.log.debug(m));
  ctx.log.debug(`mounting the stage1 overlay of ${path}`);
  mountImageOverlay(sys, path, { lowerDirs: lowers.get(s1) as string[], treeStoreId: s1, dest: stage1ImagePath(path), ...(mountLabel ? { mountLabel } : {}) });
  // statuses are read from the upper dir after the pod is gone: make sure the directory is there
  fs.mkdirSync(appsStatusDir(path), { recursive: true, mode: 0o755 });
  for (const { app, id } of appTrees) {
    fs.mkdirSync(appDir(path, app), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
    fs.copyFileSync(appInfoManifestPath(path, app), appImageManifestPath(path, app));
    mountImageOverlay(sys, path, { lowerDirs: lowers.get(id) as string[], treeStoreId: id, dest: appDir(path, app), app, ...(mountLabel ? { mountLabel } : {}) });
  }
}

/** Writes `etc/rkt-resolv.conf` / `etc/rkt-hosts` in the stage1 root for the `stage0` DNS modes. */
async function writeDnsFiles(path: string, dns: DnsOptions): Promise<void> {
  const root = stage1RootfsPath(path);
  try {
    if (dns.mode.resolv === 'stage0') {
      fs.mkdirSync(`${root}/etc`, { recursive: true, mode: 0o755 });
      fs.writeFileSync(resolvConfPathIn(root), formatResolvConf(dns), { mode: 0o644 });
    }
    if (dns.mode.hosts === 'stage0') {
      const fallback = await readFileTolerant(hostsFallbackPathIn(root));
      fs.mkdirSync(`${root}/etc`, { recursive: true, mode: 0o755 });
      fs.writeFileSync(hostsPathIn(root), formatHostsFile(dns, fallback), { mode: 0o644 });
    }
  } catch (e) {
    throw systemError('pod.dns', `cannot write the DNS configuration of pod ${path}`, { cause: e });
  }
}

/**
 * Starts a pod: never returns (the process becomes stage1 run). Errors before the exec are
 * RktErrors; the pod stays in `pods/run` and counts as exited once this process ends.
 */
export async function startPod(ctx: Context, spec: StartSpec, sys: Sys): Promise<never> {
  const { path, uuid } = spec;
  const manifest = await readPodManifest(path, uuid);
  if (manifest.apps.length === 0 && !spec.mutable) throw userError('pod.no-apps', 'pod must contain at least one application');
  if (spec.flags.interactive && manifest.apps.length > 1) throw userError('pod.interactive', 'interactive option only supports pods with one app');
  const overlay = await usesOverlay(path);
  if (overlay) {
    const reason = overlayUnsupportedReason(ctx.dataDir);
    if (reason) throw overlayUnavailable(reason);
  }
  const s1 = await readPodStage1(path);
  const privateUsers = (await readFileTolerant(privateUsersPreparedPath(path)))?.trim();
  const options: RunOptions = {
    uuid,
    debug: ctx.debug,
    net: spec.flags.net ?? [],
    interactive: spec.flags.interactive,
    localConfig: ctx.localConfig,
    dnsConfMode: spec.dns.mode,
    disableCapabilitiesRestriction: ctx.insecure.has('capabilities'),
    disablePaths: ctx.insecure.has('paths'),
    disableSeccomp: ctx.insecure.has('seccomp'),
  };
  if (privateUsers) options.privateUsers = parsePrivateUsers(privateUsers);
  if (spec.flags.hostname) options.hostname = spec.flags.hostname;
  if (spec.mutable) options.mutable = true;
  if (spec.flags.ipc) options.ipc = spec.flags.ipc;
  if (spec.mdsToken) options.mdsToken = spec.mdsToken;
  const args = buildRunArgs(options, s1.interfaceVersion, {
    onOmit: (o) => ctx.log.warn(`--${o.flag} option is not supported by stage1`),
  });

  const apps = manifest.apps.map((a) => a.name);
  // SELinux (rkt's rule: the host has a writable selinuxfs): the pod's labels, for stage1 and the overlays
  const selinux = podSelinuxLabels();
  if (selinux) ctx.log.debug(`selinux ${selinux.mode} (${selinux.policy}): processes ${selinux.processLabel}, mounts ${selinux.mountLabel}`);
  if (overlay) await mountOverlays(ctx, sys, path, apps, selinux?.mountLabel);
  for (const app of apps) ensureMtab(appRootfsPath(path, app));
  await writeDnsFiles(path, spec.dns);

  const env = stage1Env(buildRunEnv({ lockFd: spec.lock.fd, ...selinuxRunEnv(selinux) }));
  ctx.log.debug(`executing stage1 run: ${args.join(' ')}`);
  return execEntrypoint(sys, s1, 'run', args, { env, keepFds: [spec.lock.fd] });
}
