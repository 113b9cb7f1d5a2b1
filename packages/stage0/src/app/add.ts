/**
 * `rkt app add UUID IMAGE [flags] [-- args]` (rkt's stage0.AddApp): under the pod manifest
 * lock, renders the image into the running pod (an overlay mounted by stage0 in the host mount
 * namespace at `stage1/rootfs/opt/stage2/<app>/rootfs`, or a copy for `--no-overlay` pods),
 * writes `appsinfo/<app>/`, the env file and `rkt/status/<app>-created`, adds the runtime app
 * to the pod manifest (replaced atomically), then runs the stage1 app/add entrypoint, with
 * `--disable-capabilities-restriction`, `--disable-paths` and `--disable-seccomp` for
 * `--insecure-options=capabilities|paths|seccomp` (a rktnetes addition: rkt's stage0 sends none of
 * them, and rkt's app/add refuses them). A failure undoes all of it.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import {
  DEFAULT_REGULAR_DIR_MODE,
  DEFAULT_REGULAR_FILE_MODE,
  ENV_AC_APP_NAME,
  appCreatedPath,
  appDir,
  appEnvPath,
  appImageManifestPath,
  appInfoDir,
  appInfoManifestPath,
  appRootfsPath,
  appStartedPath,
  appStatusPath,
  appTreeStoreIdPath,
  composeAppEnv,
  formatEnvFile,
  overlayUpperDir,
  overlayWorkDir,
  readFileTolerant,
  writeFileAtomic,
} from '@rktnetes/common';
import { isRktError, userError, wrap } from '@rktnetes/errors';
import { setAnnotation, type PodManifest, type RuntimeApp } from '@rktnetes/schema';
import { ANNOTATION_APP_STDERR, ANNOTATION_APP_STDIN, ANNOTATION_APP_STDOUT, buildAppAddArgs, buildAppRmArgs } from '@rktnetes/stage1-abi';
import { openStore, type Store } from '@rktnetes/store';
import { mountsUnder, readMountInfo, unmountTree, type Sys } from '@rktnetes/sys';
import type { Context } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';
import { fetchImage } from '../fetch/index';
import { contextOf } from '../pod/cli';
import { usesOverlay } from '../pod/info';
import { podSys, withPrepareLock } from '../pod/lock';
import { checkImageOsArch, runtimeAppFor } from '../pod/manifest';
import { copyTree, ensureMtab, mountImageOverlay } from '../pod/overlay';
import { parseAddArgs, type AddArgs } from './args';
import { callCrossing, openMutablePod, reloadManifest, runCrossing, withManifestLock, writePodManifest, type MutablePod } from './pod';

import { ANNOTATION_APP_LOG_PATH, ANNOTATION_APP_STDIN_ONCE } from '@rktnetes/stage1-abi';
import { refreshPodRegistration } from '../pod/mds';
export { ANNOTATION_APP_LOG_PATH, ANNOTATION_APP_STDIN_ONCE };

/** The runtime app's annotations for the stdio flags. */
export function stdioAnnotations(ra: RuntimeApp, a: Pick<AddArgs, 'stdio' | 'stdinOnce' | 'logPath'>): RuntimeApp {
  let annotations = ra.annotations;
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) annotations = setAnnotation(annotations, name, value);
  };
  set(ANNOTATION_APP_STDIN, a.stdio.stdin);
  set(ANNOTATION_APP_STDOUT, a.stdio.stdout);
  set(ANNOTATION_APP_STDERR, a.stdio.stderr);
  if (a.stdinOnce) set(ANNOTATION_APP_STDIN_ONCE, 'true');
  set(ANNOTATION_APP_LOG_PATH, a.logPath);
  return annotations && annotations.length ? { ...ra, annotations } : ra;
}

/** Puts the app's image in the pod: overlay (mounted now, the pod runs) or copy. */
async function renderApp(ctx: Context, store: Store, sys: Sys, pod: MutablePod, name: string, key: string, overlay: boolean): Promise<void> {
  const tree = await store.render(key, { flatten: !overlay });
  await fsp.mkdir(appInfoDir(pod.path, name), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
  const manifestJSON = store.getImageManifestJSON(key);
  await writeFileAtomic(appInfoManifestPath(pod.path, name), manifestJSON, DEFAULT_REGULAR_FILE_MODE);
  await fsp.mkdir(appDir(pod.path, name), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
  await writeFileAtomic(appImageManifestPath(pod.path, name), manifestJSON, DEFAULT_REGULAR_FILE_MODE);
  if (overlay) {
    await writeFileAtomic(appTreeStoreIdPath(pod.path, name), tree.treeStoreID, DEFAULT_REGULAR_FILE_MODE);
    ctx.log.debug(`mounting the overlay of app ${name}`);
    mountImageOverlay(sys, pod.path, { lowerDirs: tree.lowerDirs, treeStoreId: tree.treeStoreID, dest: appDir(pod.path, name), app: name });
  } else {
    await copyTree(tree.rootfs, appRootfsPath(pod.path, name));
  }
  ensureMtab(appRootfsPath(pod.path, name));
}

/**
 * Removes what stage0 created in the pod for app `name` (its overlay mount, upper and work
 * directories, `opt/stage2/<app>`, `appsinfo/<app>`, status and env files); tolerates what is
 * already gone. Nothing is removed below a mount that could not be unmounted (`app.busy`).
 */
export async function removeAppFiles(path: string, name: string, sys: Sys): Promise<void> {
  const id = (await readFileTolerant(appTreeStoreIdPath(path, name)))?.trim();
  const dir = appDir(path, name);
  unmountTree(dir, sys);
  if (mountsUnder(dir, readMountInfo()).length > 0) throw userError('app.busy', `the root filesystem of app ${name} is still mounted at ${dir}`);
  await fsp.rm(dir, { recursive: true, force: true });
  if (id) {
    await fsp.rm(overlayUpperDir(path, id, name), { recursive: true, force: true }).catch(() => undefined);
    await fsp.rm(overlayWorkDir(path, id, name), { recursive: true, force: true }).catch(() => undefined);
  }
  await fsp.rm(appInfoDir(path, name), { recursive: true, force: true });
  for (const f of [appStatusPath(path, name), appCreatedPath(path, name), appStartedPath(path, name), appEnvPath(path, name)]) await fsp.rm(f, { force: true });
}

/** The app's environment file as stage0 writes it (the stage1 may write its own over it). */
function envFile(ra: RuntimeApp): string {
  const env = (ra.app?.environment ?? []).filter((e) => e.name !== ENV_AC_APP_NAME).map((e) => [e.name, e.value] as const);
  return formatEnvFile(composeAppEnv([...env, [ENV_AC_APP_NAME, ra.name]]));
}

function checkMounts(ra: RuntimeApp, manifest: PodManifest): void {
  const volumes = new Set((manifest.volumes ?? []).map((v) => v.name));
  for (const m of ra.mounts ?? []) {
    if (!m.appVolume && !volumes.has(m.volume)) {
      throw userError('cli.dangling-mount', `mount point ${JSON.stringify(m.path)}: the pod has no volume ${JSON.stringify(m.volume)} (use --mnt-volume)`);
    }
  }
}

/** Runs `rkt app add`. */
export async function addCommand(args: string[], base: GlobalOptions): Promise<void> {
  const { add, globals } = parseAddArgs(args, base);
  const ctx = contextOf(globals);
  const sys = podSys();
  let pod = await openMutablePod(ctx, add.uuid, sys);
  const store = openStore(ctx.dataDir, { debug: (m) => ctx.log.debug(m) });
  try {
    const imageKey = await fetchImage(ctx, store, { ref: add.app.image, pullPolicy: 'never' });
    const image = store.getImageManifest(imageKey);
    checkImageOsArch(image, imageKey);
    let ra = runtimeAppFor({ cli: add.app, imageKey, manifest: image }, [], { setEnv: [], setEnvFile: [] });
    ra = stdioAnnotations(ra, add);
    const name = ra.name;
    await withManifestLock(pod.path, async () => {
      pod = await reloadManifest(pod);
      if (pod.manifest.apps.some((a) => a.name === name)) {
        throw userError('app.exists', `app ${name} already exists in pod ${pod.uuid}`, { details: { uuid: pod.uuid, app: name } });
      }
      checkMounts(ra, pod.manifest);
      const overlay = await usesOverlay(pod.path);
      const before = pod.manifest;
      let manifestWritten = false;
      let crossed = false;
      try {
        await withPrepareLock(ctx.dataDir, () => renderApp(ctx, store, sys, pod, name, imageKey, overlay), sys);
        await writeFileAtomic(appEnvPath(pod.path, name), envFile(ra), 0o644);
        const manifest: PodManifest = { ...pod.manifest, apps: [...pod.manifest.apps, ra] };
        await writePodManifest(pod.path, manifest);
        manifestWritten = true;
        fs.closeSync(fs.openSync(appCreatedPath(pod.path, name), fs.constants.O_CREAT | fs.constants.O_WRONLY | fs.constants.O_TRUNC, 0o644));
        ctx.log.debug(`adding app ${name} to pod ${pod.uuid}`);
        crossed = true;
        const addOptions = {
          uuid: pod.uuid,
          appName: name,
          debug: ctx.debug,
          // rktnetes: --insecure-options=capabilities,paths,seccomp lift the restrictions of this app only
          disableCapabilitiesRestriction: ctx.insecure.has('capabilities'),
          disablePaths: ctx.insecure.has('paths'),
          disableSeccomp: ctx.insecure.has('seccomp'),
        };
        await callCrossing({ ...pod, manifest }, 'app/add', buildAppAddArgs(addOptions, pod.s1.interfaceVersion), name);
      } catch (e) {
        ctx.log.debug(`undoing app add of ${name}: ${(e as Error).message}`);
        // what the stage1 may have set up already (cgroups, mounts in the pod)
        if (crossed) await runCrossing(pod, 'app/rm', buildAppRmArgs({ appName: name, debug: ctx.debug }, pod.s1.interfaceVersion), name).catch(() => undefined);
        if (manifestWritten) await writePodManifest(pod.path, before).catch(() => undefined);
        await removeAppFiles(pod.path, name, sys).catch((err: unknown) => ctx.log.warn(`cannot clean up after app ${name}: ${(err as Error).message}`));
        throw isRktError(e) ? e : wrap(e, 'app.add', `cannot add app ${name} to pod ${pod.uuid}`);
      }
      const mds = await refreshPodRegistration(pod.path, pod.uuid);
      if (mds) ctx.log.warn(`cannot update the metadata service registration of pod ${pod.uuid}: ${mds}`);
    }, sys);
  } finally {
    store.close();
  }
}
