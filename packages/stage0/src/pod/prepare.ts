/**
 * Preparing a pod directory (rkt's stage0.Prepare): a new uuid, `pods/embryo/<uuid>` locked
 * and moved to `pods/prepare`, the stage1 and app images rendered in the tree store (and
 * copied into the pod with `--no-overlay`), and the files stage1 reads written: `stage1/manifest`,
 * `stage1TreeStoreID`, `appsinfo/<app>/{manifest,treeStoreID}`, `pod`, `pod.lck`,
 * `pod-created`, `overlay-prepared`. See docs/on-disk-format.md.
 *
 * The caller gets the pod still in `pods/prepare` and locked; it moves it to `prepared` or `run`.
 * A failed prepare removes the pod directory.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import {
  DEFAULT_REGULAR_DIR_MODE,
  DEFAULT_REGULAR_FILE_MODE,
  appDir,
  appImageManifestPath,
  appInfoDir,
  appInfoManifestPath,
  appRootfsPath,
  appTreeStoreIdPath,
  appsInfoDir,
  createEmbryo,
  newPodUUID,
  overlayPreparedPath,
  podCreatedPath,
  podManifestLockPath,
  podManifestPath,
  renamePod,
  stage1ImagePath,
  stage1ManifestPath,
  stage1RootfsPath,
  stage1TreeStoreIdPath,
  writeFileAtomic,
  writeUUIDFile,
} from '@rktnetes/common';
import { wrap } from '@rktnetes/errors';
import { serializePodManifest, type PodManifest } from '@rktnetes/schema';
import type { Store } from '@rktnetes/store';
import { mountsUnder, readMountInfo, type Sys } from '@rktnetes/sys';
import type { Context } from '../cli/context';
import { lockPod, podSys, withPrepareLock, type PodLock } from './lock';
import { copyTree } from './overlay';

/** What to prepare. */
export interface PrepareSpec {
  store: Store;
  stage1Key: string;
  /** the pod manifest; its apps name their images by store key */
  manifest: PodManifest;
  /** written instead of the serialized manifest (a user's `--pod-manifest` file, as given) */
  manifestText?: string;
  useOverlay: boolean;
  /** `--uuid-file-save`: written as soon as the uuid exists */
  uuidFileSave?: string;
}

/** A prepared pod, still in `pods/prepare` and locked by this process. */
export interface PreparedPod {
  uuid: string;
  path: string;
  lock: PodLock;
}

async function writeManifestOf(store: Store, key: string, path: string): Promise<void> {
  await writeFileAtomic(path, store.getImageManifestJSON(key), DEFAULT_REGULAR_FILE_MODE);
}

async function prepareStage1(spec: PrepareSpec, pod: string): Promise<void> {
  await fsp.mkdir(stage1ImagePath(pod), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
  const tree = await spec.store.render(spec.stage1Key);
  await writeManifestOf(spec.store, spec.stage1Key, stage1ManifestPath(pod));
  if (!spec.useOverlay) await copyTree(tree.rootfs, stage1RootfsPath(pod));
  await writeFileAtomic(stage1TreeStoreIdPath(pod), tree.treeStoreID, DEFAULT_REGULAR_FILE_MODE);
}

async function prepareApp(spec: PrepareSpec, pod: string, app: string, key: string): Promise<void> {
  const tree = await spec.store.render(key);
  await fsp.mkdir(appInfoDir(pod, app), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
  if (spec.useOverlay) {
    await writeFileAtomic(appTreeStoreIdPath(pod, app), tree.treeStoreID, DEFAULT_REGULAR_FILE_MODE);
  } else {
    await fsp.mkdir(appDir(pod, app), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
    await copyTree(tree.rootfs, appRootfsPath(pod, app));
    await writeManifestOf(spec.store, key, appImageManifestPath(pod, app));
  }
  await writeManifestOf(spec.store, key, appInfoManifestPath(pod, app));
}

async function fillPodDir(spec: PrepareSpec, pod: string, log: Context['log']): Promise<void> {
  await fsp.mkdir(appsInfoDir(pod), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
  log.debug('preparing stage1');
  await prepareStage1(spec, pod);
  for (const ra of spec.manifest.apps) {
    log.debug(`preparing app ${ra.name} from ${ra.image.id}`);
    await prepareApp(spec, pod, ra.name, ra.image.id);
  }
  fs.closeSync(fs.openSync(podManifestLockPath(pod), fs.constants.O_CREAT | fs.constants.O_RDWR, 0o600));
  log.debug('writing pod manifest');
  await writeFileAtomic(podManifestPath(pod), spec.manifestText ?? serializePodManifest(spec.manifest), DEFAULT_REGULAR_FILE_MODE);
  fs.closeSync(fs.openSync(podCreatedPath(pod), fs.constants.O_CREAT | fs.constants.O_RDWR, DEFAULT_REGULAR_FILE_MODE));
  if (spec.useOverlay) fs.closeSync(fs.openSync(overlayPreparedPath(pod), fs.constants.O_CREAT | fs.constants.O_RDWR, DEFAULT_REGULAR_FILE_MODE));
}

/** Removes a pod directory this process holds locked and never mounted anything in. */
async function discard(path: string): Promise<void> {
  if (mountsUnder(path, readMountInfo()).length > 0) return;
  await fsp.rm(path, { recursive: true, force: true });
}

/**
 * Creates and prepares a pod. Errors: the store's (`store.*`), filesystem failures wrapped as
 * system errors `pod.prepare`; the pod directory is removed on failure.
 */
export async function preparePod(ctx: Context, spec: PrepareSpec, sys: Sys = podSys()): Promise<PreparedPod> {
  const uuid = newPodUUID();
  const embryo = await createEmbryo(ctx.dataDir, uuid);
  let lock: PodLock | undefined;
  let path = embryo;
  try {
    if (spec.uuidFileSave) await writeUUIDFile(spec.uuidFileSave, uuid);
    lock = lockPod(embryo, uuid, sys);
    path = await renamePod(ctx.dataDir, uuid, 'embryo', 'prepare', 'embryo');
    const pod = path;
    await withPrepareLock(ctx.dataDir, () => fillPodDir(spec, pod, ctx.log), sys);
    return { uuid, path, lock };
  } catch (e) {
    await discard(path).catch(() => undefined);
    lock?.close();
    throw wrap(e, 'pod.prepare', `error preparing pod ${uuid}`);
  }
}
