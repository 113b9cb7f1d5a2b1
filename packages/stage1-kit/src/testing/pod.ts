/**
 * A pod directory as stage0 prepares one for a stage1, made from a stage1 image and app images.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { appDir, appInfoDir, newPodUUID, podDir, podManifestPath, readFileTolerantSync, stage1ImagePath, stage1RootfsPath } from '@rktnetes/common';
import { podManifest, serializePodManifest, type PodManifestInput } from '@rktnetes/schema';
import { aciImageId, runCommandOk, tmpDir, type Teardownable } from '@rktnetes/testkit';

/** One app of a test pod. */
export interface TestApp {
  name: string;
  /** the app image (an ACI); the pod manifest names it `example.com/busybox-probe` with its ID */
  image: Buffer;
  /** the pod manifest's runtime app fields besides name and image (`app`, `mounts`, `readOnlyRootFS`, ...) */
  runtime?: Record<string, unknown>;
}

/** A pod directory made by {@link makePod}. */
export interface TestPod {
  /** the data directory (`pods/run/<uuid>` is below it) */
  dataDir: string;
  dir: string;
  uuid: string;
  stage1Rootfs: string;
  /** the app rootfs of an app (host path) */
  rootfs(app: string): string;
}

/**
 * A pod in `pods/run/<uuid>` of a fresh data dir (removed at teardown): the stage1 ACI
 * extracted to `stage1/`, each app image to `stage1/rootfs/opt/stage2/<app>/` (its manifest
 * copied to `appsinfo/<app>/manifest`), and the pod manifest, built with the schema builders
 * from the apps and `extra` (volumes, annotations, ports, ...).
 */
export async function makePod(t: Teardownable, stage1Aci: string, apps: readonly TestApp[], extra: Omit<PodManifestInput, 'apps'> = {}): Promise<TestPod> {
  const dataDir = await tmpDir(basename(stage1Aci, '.aci'), t);
  const uuid = newPodUUID();
  const dir = podDir(dataDir, 'run', uuid);
  mkdirSync(stage1ImagePath(dir), { recursive: true });
  await runCommandOk('tar', ['-xf', stage1Aci, '-C', stage1ImagePath(dir)]);
  for (const a of apps) {
    const aci = join(dataDir, `${a.name}.aci`);
    writeFileSync(aci, a.image);
    mkdirSync(appDir(dir, a.name), { recursive: true });
    await runCommandOk('tar', ['-xf', aci, '-C', appDir(dir, a.name)]);
    mkdirSync(appInfoDir(dir, a.name), { recursive: true });
    copyFileSync(join(appDir(dir, a.name), 'manifest'), join(appInfoDir(dir, a.name), 'manifest'));
  }
  const manifest = podManifest({
    ...extra,
    apps: apps.map((a) => ({ name: a.name, image: { name: 'example.com/busybox-probe', id: aciImageId(a.image) }, ...a.runtime })),
  });
  writeFileSync(podManifestPath(dir), serializePodManifest(manifest));
  return { dataDir, dir, uuid, stage1Rootfs: stage1RootfsPath(dir), rootfs: (app) => join(appDir(dir, app), 'rootfs') };
}

/** The number in `<pod>/<file>` (`pid`, `ppid`), once written; undefined while absent or empty. */
export function readPodPid(pod: Pick<TestPod, 'dir'>, file = 'pid'): number | undefined {
  const text = readFileTolerantSync(join(pod.dir, file));
  return text === undefined || text.trim() === '' ? undefined : Number(text.trim());
}
