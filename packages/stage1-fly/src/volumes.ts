/**
 * Which volumes the app gets and where, merged from the pod app's `mounts`, the image's and the
 * pod app's `mountPoints`, and the pod's `volumes`, the way rkt's fly stage1 does it.
 */
import { userError } from '@rktnetes/errors';
import type { App, MountPoint, PodManifest, RuntimeApp, Volume } from '@rktnetes/schema';

/** A volume to mount into the app. */
export interface VolumeMount {
  /** the volume's name */
  name: string;
  /** where it goes, inside the app */
  path: string;
  volume: Volume;
  readOnly: boolean;
  /** bind sub-mounts too; fly's default is not to (host volumes that are mounted `/` ...) */
  recursive: boolean;
}

interface Entry {
  path: string;
  volume?: Volume;
}

function volumeError(message: string, details: Record<string, unknown>) {
  return userError('stage1-fly.volume.invalid', message, { details });
}

function addMountPoints(named: Map<string, Entry>, mountPoints: readonly MountPoint[] | undefined): void {
  for (const mp of mountPoints ?? []) {
    const e = named.get(mp.name);
    if (!e) named.set(mp.name, { path: mp.path });
    else if (e.path !== mp.path) {
      throw volumeError(`conflicting paths for volume ${mp.name}: mount at ${e.path}, mount point at ${mp.path}`, { volume: mp.name });
    }
  }
}

/**
 * The volume mounts of the pod's single app, sorted by path so that a volume mounted inside
 * another comes after it:
 * - every entry of the app's `mounts` (its `appVolume`, or the pod volume it names);
 * - every mount point of the image's and of the pod app's `app` that no mount covers, at its
 *   path, backed by the pod volume of the same name;
 * - `readOnly` comes from the volume, else from the mount point that asks for it, else false;
 *   `recursive` only when the volume says so (rkt fly: never by default).
 * Volumes no mount uses are skipped.
 *
 * @throws RktError `stage1-fly.volume.invalid` (user error) for a volume mounted twice, a mount
 *   and a mount point of one volume at different paths, or a mount point with no volume
 */
export function evaluateVolumeMounts(manifest: Pick<PodManifest, 'volumes'>, ra: Pick<RuntimeApp, 'mounts' | 'app'>, imageApp: Pick<App, 'mountPoints'> | undefined): VolumeMount[] {
  const named = new Map<string, Entry>();
  for (const m of ra.mounts ?? []) {
    if (named.has(m.volume)) throw volumeError(`volume ${m.volume} is mounted twice`, { volume: m.volume });
    named.set(m.volume, { path: m.path, ...(m.appVolume ? { volume: m.appVolume } : {}) });
  }
  addMountPoints(named, imageApp?.mountPoints);
  addMountPoints(named, ra.app?.mountPoints);
  for (const v of manifest.volumes ?? []) {
    const e = named.get(v.name);
    if (e && !e.volume) e.volume = v;
  }
  const readOnlyFromMountPoint = new Map<string, boolean>();
  for (const mp of [...(imageApp?.mountPoints ?? []), ...(ra.app?.mountPoints ?? [])]) {
    if (mp.readOnly) readOnlyFromMountPoint.set(mp.name, true);
  }
  const out: VolumeMount[] = [];
  for (const [name, e] of named) {
    if (!e.volume) throw volumeError(`missing volume for mount point ${name} (at ${e.path})`, { volume: name });
    out.push({
      name,
      path: e.path,
      volume: e.volume,
      readOnly: e.volume.readOnly ?? readOnlyFromMountPoint.get(name) ?? false,
      recursive: e.volume.recursive === true,
    });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
