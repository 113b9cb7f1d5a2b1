/**
 * The pod as fly sees it: the pod manifest with exactly one app, that app's image manifest,
 * and the effective `app` (the pod's override, else the image's).
 */
import { readFileSync } from 'node:fs';
import { appImageManifestPath, appInfoManifestPath, appRootfsPath, composeAppEnv, ENV_AC_APP_NAME, podManifestPath, type EnvEntry } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { getAnnotation, parseImageManifest, parsePodManifest, type App, type ImageManifest, type PodManifest, type RuntimeApp } from '@rktnetes/schema';

/** Image annotation docker2aci (and our docker import) sets on converted images. */
export const DOCKER_REPOSITORY_ANNOTATION = 'appc.io/docker/repository';

/** A one-app pod, loaded from its directory. */
export interface FlyPod {
  /** the pod directory (absolute) */
  dir: string;
  uuid: string;
  manifest: PodManifest;
  /** the single app of the pod */
  runtimeApp: RuntimeApp;
  /** its image manifest */
  image: ImageManifest;
  /** the app as it runs: the pod manifest's `app`, else the image's */
  app: App;
  /** the app's root filesystem on the host */
  rootfs: string;
}

function readManifestFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw systemError('stage1-fly.manifest.read', `cannot read ${what} ${path}`, { cause: e, details: { path } });
  }
}

/**
 * Reads and validates `<pod>/pod`. Throws `stage1-fly.pod.apps` (user error) unless the pod has
 * exactly one app: fly runs one process with nothing to supervise several.
 */
export function readFlyPodManifest(dir: string, uuid: string): { manifest: PodManifest; runtimeApp: RuntimeApp } {
  const path = podManifestPath(dir);
  const manifest = parsePodManifest(readManifestFile(path, 'pod manifest'), { source: path });
  const [runtimeApp, ...more] = manifest.apps;
  if (!runtimeApp || more.length > 0) {
    throw userError('stage1-fly.pod.apps', `stage1-fly supports a single app per pod; pod ${uuid} has ${manifest.apps.length} apps`, {
      details: { apps: manifest.apps.map((a) => a.name) },
    });
  }
  return { manifest, runtimeApp };
}

/**
 * Loads the pod in `dir`: the validated pod manifest with its single app, the app's image
 * manifest (`stage1/rootfs/opt/stage2/<app>/manifest`, else `appsinfo/<app>/manifest`) and the
 * effective app.
 *
 * @throws RktError `stage1-fly.pod.apps`, `stage1-fly.manifest.read`, `schema.*`,
 *   `stage1-fly.app.missing` (neither the pod nor the image defines the app)
 */
export function loadFlyPod(dir: string, uuid: string): FlyPod {
  const { manifest, runtimeApp } = readFlyPodManifest(dir, uuid);
  const name = runtimeApp.name;
  let imagePath = appImageManifestPath(dir, name);
  let bytes: Buffer;
  try {
    bytes = readFileSync(imagePath);
  } catch {
    imagePath = appInfoManifestPath(dir, name);
    bytes = readManifestFile(imagePath, `image manifest of app ${name}`);
  }
  const image = parseImageManifest(bytes, { source: imagePath });
  const app = runtimeApp.app ?? image.app;
  if (!app) {
    throw userError('stage1-fly.app.missing', `app ${name} has nothing to run: neither the pod manifest nor image ${image.name} defines an app`);
  }
  return { dir, uuid, manifest, runtimeApp, image, app, rootfs: appRootfsPath(dir, name) };
}

/** Whether the pod's app image was converted from a docker image. */
export function isDockerConverted(image: ImageManifest): boolean {
  return getAnnotation(image.annotations, DOCKER_REPOSITORY_ANNOTATION) !== undefined;
}

/**
 * The app's environment as rkt composes it: the appc defaults (PATH, SHELL, USER, LOGNAME, HOME)
 * for names the app does not set, the app's variables, and `AC_APP_NAME` (replacing any value
 * the app gave it, in place).
 */
export function flyAppEnv(appName: string, app: Pick<App, 'environment'>): EnvEntry[] {
  const env = composeAppEnv((app.environment ?? []).map((e) => [e.name, e.value] as const));
  const i = env.findIndex(([n]) => n === ENV_AC_APP_NAME);
  if (i >= 0) env[i] = [ENV_AC_APP_NAME, appName];
  else env.push([ENV_AC_APP_NAME, appName]);
  return env;
}

/** The value of `name` in an environment list (the last one wins, as for execve). */
export function envValue(env: readonly EnvEntry[], name: string): string | undefined {
  let v: string | undefined;
  for (const [n, value] of env) if (n === name) v = value;
  return v;
}
