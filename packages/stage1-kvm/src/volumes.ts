/**
 * Which volumes each app gets and where: the pod app's `mounts`, then the image's and the pod
 * app's `mountPoints` (backed by the pod volume of the same name), as rkt resolves them.
 */
import { userError } from '@rktnetes/errors';
import type { App, PodManifest, RuntimeApp, Volume } from '@rktnetes/schema';

/** A volume mounted into an app. */
export interface AppVolume {
  name: string;
  /** inside the app */
  path: string;
  volume: Volume;
  readOnly: boolean;
}

const invalid = (message: string, volume: string) => userError('stage1-kvm.volume.invalid', message, { details: { volume } });

/**
 * The volumes of one app, sorted by path (a volume inside another comes after it). `readOnly`
 * comes from the volume, else from a mount point asking for it.
 *
 * @throws RktError `stage1-kvm.volume.invalid` (user) for a volume mounted twice, a mount and
 *   a mount point of one volume at different paths, or a mount point without a volume
 */
export function appVolumes(manifest: Pick<PodManifest, 'volumes'>, ra: Pick<RuntimeApp, 'mounts' | 'app'>, imageApp: Pick<App, 'mountPoints'> | undefined): AppVolume[] {
  const byName = new Map<string, { path: string; volume?: Volume }>();
  for (const m of ra.mounts ?? []) {
    if (byName.has(m.volume)) throw invalid(`volume ${m.volume} is mounted twice`, m.volume);
    byName.set(m.volume, { path: m.path, ...(m.appVolume ? { volume: m.appVolume } : {}) });
  }
  const mountPoints = [...(imageApp?.mountPoints ?? []), ...(ra.app?.mountPoints ?? [])];
  for (const mp of mountPoints) {
    const e = byName.get(mp.name);
    if (!e) byName.set(mp.name, { path: mp.path });
    else if (e.path !== mp.path) throw invalid(`conflicting paths for volume ${mp.name}: ${e.path} and ${mp.path}`, mp.name);
  }
  for (const v of manifest.volumes ?? []) {
    const e = byName.get(v.name);
    if (e && !e.volume) e.volume = v;
  }
  const out: AppVolume[] = [];
  for (const [name, e] of byName) {
    if (!e.volume) throw invalid(`missing volume for mount point ${name} (at ${e.path})`, name);
    const fromMountPoint = mountPoints.some((mp) => mp.name === name && mp.readOnly === true);
    out.push({ name, path: e.path, volume: e.volume, readOnly: e.volume.readOnly ?? fromMountPoint });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
