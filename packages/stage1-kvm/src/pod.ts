/**
 * The pod as stage1-kvm sees it: the pod manifest and, for each app, its image manifest, the
 * effective `app` (the pod's override, else the image's) and its root on the host.
 */
import { readFileSync } from 'node:fs';
import { appImageManifestPath, appInfoManifestPath, appRootfsPath, podManifestPath } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { parseImageManifest, parsePodManifest, type App, type ImageManifest, type PodManifest, type RuntimeApp } from '@rktnetes/schema';

/** One app of the pod. */
export interface KvmApp {
  name: string;
  runtimeApp: RuntimeApp;
  image: ImageManifest;
  /** the app as it runs */
  app: App;
  /** its root on the host (`stage1/rootfs/opt/stage2/<app>/rootfs`) */
  rootfs: string;
}

/** A loaded pod. */
export interface KvmPod {
  dir: string;
  uuid: string;
  manifest: PodManifest;
  apps: KvmApp[];
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw systemError('stage1-kvm.manifest.read', `cannot read ${what} ${path}`, { cause: e, details: { path } });
  }
}

function loadApp(dir: string, ra: RuntimeApp): KvmApp {
  let path = appImageManifestPath(dir, ra.name);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    path = appInfoManifestPath(dir, ra.name);
    bytes = readBytes(path, `image manifest of app ${ra.name}`);
  }
  const image = parseImageManifest(bytes, { source: path });
  const app = ra.app ?? image.app;
  if (!app) throw userError('stage1-kvm.app.missing', `app ${ra.name} has nothing to run: neither the pod manifest nor image ${image.name} defines an app`);
  return { name: ra.name, runtimeApp: ra, image, app, rootfs: appRootfsPath(dir, ra.name) };
}

/**
 * Loads `<dir>/pod` and every app's image manifest (`stage1/rootfs/opt/stage2/<app>/manifest`,
 * else `appsinfo/<app>/manifest`).
 *
 * @throws RktError `stage1-kvm.manifest.read` (system), `schema.*`, `stage1-kvm.app.missing`,
 *   `stage1-kvm.pod.empty` (user: a pod without apps; kvm has no mutable pods)
 */
export function loadKvmPod(dir: string, uuid: string): KvmPod {
  const path = podManifestPath(dir);
  const manifest = parsePodManifest(readBytes(path, 'pod manifest'), { source: path });
  if (manifest.apps.length === 0) throw userError('stage1-kvm.pod.empty', `pod ${uuid} has no apps`);
  return { dir, uuid, manifest, apps: manifest.apps.map((ra) => loadApp(dir, ra)) };
}
