/**
 * Preparing a pod directory (rkt's stage0.Prepare): a new uuid, `pods/embryo/<uuid>` locked
 * and moved to `pods/prepare`, the stage1 and app images rendered in the tree store (and
 * copied into the pod with `--no-overlay`, from a flattened render for layered images), and the
 * files stage1 reads written: `stage1/manifest`, `stage1TreeStoreID`,
 * `appsinfo/<app>/{manifest,treeStoreID}`, `pod`, `pod.lck`, `pod-created`, `overlay-prepared`.
 * Docker-converted apps get their implicit volumes, filled from the image, in
 * `sharedVolumes/<volume>` and in the pod manifest. See docs/on-disk-format.md.
 *
 * The caller gets the pod still in `pods/prepare` and locked; it moves it to `prepared` or `run`.
 * A failed prepare removes the pod directory.
 */
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
  privateUsersPreparedPath,
  renamePod,
  sharedVolumePath,
  stage1ImagePath,
  stage1ManifestPath,
  stage1RootfsPath,
  stage1TreeStoreIdPath,
  tmpDir,
  writeUUIDFile,
} from '@rktnetes/common';
import { wrap } from '@rktnetes/errors';
import { EMPTY_VOLUME_DEFAULTS, serializePodManifest, type ImageManifest, type PodManifest } from '@rktnetes/schema';
import { formatPrivateUsers, type PrivateUsers } from '@rktnetes/stage1-abi';
import type { Store } from '@rktnetes/store';
import { mountsUnder, readMountInfo, type Sys } from '@rktnetes/sys';
import type { Context } from '../cli/context';
import { lockPod, podSys, withPrepareLock, type PodLock } from './lock';
import { convertedFromDocker, implicitDockerVolumes, withImplicitVolumes } from './docker-image';
import { fillVolumeFromImage, type ImageRoot } from './docker-volumes';
import { copyTree } from './overlay';
import { PodFiles } from './pod-files';

/** What to prepare. */
export interface PrepareSpec {
  store: Store;
  stage1Key: string;
  /** the pod manifest; its apps name their images by store key */
  manifest: PodManifest;
  /** written instead of the serialized manifest (a user's `--pod-manifest` file, as given) */
  manifestText?: string;
  useOverlay: boolean;
  /** `--private-users`: the user namespace mapping, written to `private-users-prepared` */
  privateUsers?: PrivateUsers;
  /** `--uuid-file-save`: written as soon as the uuid exists */
  uuidFileSave?: string;
}

/** A prepared pod, still in `pods/prepare` and locked by this process. */
export interface PreparedPod {
  uuid: string;
  path: string;
  lock: PodLock;
}

function writeManifestOf(files: PodFiles, store: Store, key: string, path: string): void {
  files.write(path, store.getImageManifestJSON(key), DEFAULT_REGULAR_FILE_MODE);
}

async function prepareStage1(spec: PrepareSpec, pod: string, files: PodFiles): Promise<void> {
  files.mkdir(stage1ImagePath(pod), DEFAULT_REGULAR_DIR_MODE);
  // without overlay the rootfs is copied: a layered image needs its flattened tree for that
  const tree = await spec.store.render(spec.stage1Key, { flatten: !spec.useOverlay });
  writeManifestOf(files, spec.store, spec.stage1Key, stage1ManifestPath(pod));
  if (!spec.useOverlay) await copyTree(tree.rootfs, stage1RootfsPath(pod));
  files.write(stage1TreeStoreIdPath(pod), tree.treeStoreID, DEFAULT_REGULAR_FILE_MODE);
}

/** Prepares one app; returns where its root filesystem as the image has it can be read. */
async function prepareApp(spec: PrepareSpec, pod: string, files: PodFiles, app: string, key: string): Promise<ImageRoot> {
  const tree = await spec.store.render(key, { flatten: !spec.useOverlay });
  files.mkdir(appInfoDir(pod, app), DEFAULT_REGULAR_DIR_MODE);
  let root: ImageRoot;
  if (spec.useOverlay) {
    // the tree ID is where `rkt gc`/`rkt image gc` find the trees (and layers) pods use
    files.write(appTreeStoreIdPath(pod, app), tree.treeStoreID, DEFAULT_REGULAR_FILE_MODE);
    root = tree.layered ? { lowerDirs: tree.lowerDirs } : { dir: tree.rootfs };
  } else {
    files.mkdir(appDir(pod, app), DEFAULT_REGULAR_DIR_MODE);
    await copyTree(tree.rootfs, appRootfsPath(pod, app));
    writeManifestOf(files, spec.store, key, appImageManifestPath(pod, app));
    root = { dir: appRootfsPath(pod, app) };
  }
  writeManifestOf(files, spec.store, key, appInfoManifestPath(pod, app));
  return root;
}

/**
 * Adds the implicit volumes of Docker-converted apps to the pod manifest, each filled with the
 * image's content at its path (see ./docker-image and ./docker-volumes).
 */
async function addDockerVolumes(ctx: Context, spec: PrepareSpec, pod: string, roots: ReadonlyMap<string, ImageRoot>): Promise<PodManifest> {
  const log = ctx.log;
  const dockerApps = new Map<string, ImageManifest>();
  for (const ra of spec.manifest.apps) {
    const manifest = spec.store.getImageManifest(ra.image.id);
    if (convertedFromDocker(manifest, spec.store.getImage(ra.image.id).format === 'oci')) dockerApps.set(ra.name, manifest);
  }
  const implicit = implicitDockerVolumes(spec.manifest, dockerApps);
  const filled = [];
  for (const v of implicit) {
    log.debug(`app ${v.app}: implicit volume ${v.name} for ${v.path}, with the image's content there`);
    const root = roots.get(v.app) as ImageRoot;
    const res = await fillVolumeFromImage(root, v.path, sharedVolumePath(pod, v.name), tmpDir(ctx.dataDir));
    if (res.kind === 'not-a-directory') log.warn(`app ${v.app}: volume ${v.path} is not a directory in the image; its volume starts empty`);
    const d = EMPTY_VOLUME_DEFAULTS;
    filled.push(res.kind === 'copied' ? { ...v, mode: res.mode, uid: res.uid, gid: res.gid } : { ...v, mode: d.mode, uid: d.uid, gid: d.gid });
  }
  return withImplicitVolumes(spec.manifest, filled);
}

async function fillPodDir(ctx: Context, spec: PrepareSpec, pod: string): Promise<void> {
  const log = ctx.log;
  const files = new PodFiles();
  files.mkdir(appsInfoDir(pod), DEFAULT_REGULAR_DIR_MODE);
  log.debug('preparing stage1');
  await prepareStage1(spec, pod, files);
  const roots = new Map<string, ImageRoot>();
  for (const ra of spec.manifest.apps) {
    log.debug(`preparing app ${ra.name} from ${ra.image.id}`);
    roots.set(ra.name, await prepareApp(spec, pod, files, ra.name, ra.image.id));
  }
  const manifest = await addDockerVolumes(ctx, spec, pod, roots);
  // a user's manifest is written as given unless implicit volumes were added to it
  const text = manifest === spec.manifest && spec.manifestText !== undefined ? spec.manifestText : serializePodManifest(manifest);
  files.touch(podManifestLockPath(pod), 0o600);
  log.debug('writing pod manifest');
  files.write(podManifestPath(pod), text, DEFAULT_REGULAR_FILE_MODE);
  files.touch(podCreatedPath(pod), DEFAULT_REGULAR_FILE_MODE);
  if (spec.useOverlay) files.touch(overlayPreparedPath(pod), DEFAULT_REGULAR_FILE_MODE);
  if (spec.privateUsers) files.write(privateUsersPreparedPath(pod), formatPrivateUsers(spec.privateUsers), DEFAULT_REGULAR_FILE_MODE);
  // durable before the pod can leave prepare (./pod-files.ts)
  files.flush();
}

/** Ids a user namespace maps (rkt's DefaultRangeCount). */
export const PRIVATE_USERS_COUNT = 0x10000;

/**
 * A mapping for `--private-users`, as rkt picks it: 65536 ids from a random multiple of 65536
 * between 65536 and 0x7fff0000 (the high bit stays clear: devpts parses its uid options as ints).
 */
export function randomPrivateUsers(random: () => number = Math.random): PrivateUsers {
  return { shift: (1 + Math.floor(random() * 0x7fff)) * 0x10000, count: PRIVATE_USERS_COUNT };
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
    await withPrepareLock(ctx.dataDir, () => fillPodDir(ctx, spec, pod), sys);
    return { uuid, path, lock };
  } catch (e) {
    await discard(path).catch(() => undefined);
    lock?.close();
    throw wrap(e, 'pod.prepare', `error preparing pod ${uuid}`);
  }
}
