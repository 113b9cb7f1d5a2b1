/**
 * Which volume is mounted where in an app, following rkt (stage1/init/common/mount.go
 * GenerateMounts), and the backing directories of `empty` volumes.
 */
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { SHARED_VOLUMES_MODE, sharedVolumePath, sharedVolumesPath } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { EMPTY_VOLUME_DEFAULTS, type App, type RuntimeApp, type Volume } from '@rktnetes/schema';

/** A volume mounted into an app. */
export interface AppMount {
  volume: Volume;
  /** the path inside the app */
  path: string;
  readOnly: boolean;
}

/**
 * The app's mounts: each of the runtime app's `mounts` (its `appVolume`, or the pod volume it
 * names; read-only from the volume, else from the app's mount point of the same name), then each
 * mount point of the app not covered by a mount, backed by the pod volume of its name or, when
 * there is none, by an implicit `empty` volume `<app>-<mount point>`.
 * Errors (user): `stage1.volume.unknown` (a mount names a volume the pod lacks).
 */
export function appMounts(ra: RuntimeApp, app: App, podVolumes: readonly Volume[] = []): AppMount[] {
  const vols = new Map(podVolumes.map((v) => [v.name, v]));
  const out: AppMount[] = [];
  const paths = new Set<string>();
  for (const m of ra.mounts ?? []) {
    paths.add(m.path);
    const vol = m.appVolume ?? vols.get(m.volume);
    if (!vol) throw userError('stage1.volume.unknown', `app ${ra.name}: mount ${m.path} names volume ${JSON.stringify(m.volume)}, which the pod does not have`, { details: { app: ra.name, volume: m.volume } });
    const mp = app.mountPoints?.find((p) => p.name === m.volume);
    out.push({ volume: vol, path: m.path, readOnly: vol.readOnly ?? mp?.readOnly ?? false });
  }
  for (const mp of app.mountPoints ?? []) {
    if (paths.has(mp.path)) continue;
    const vol = vols.get(mp.name);
    if (vol) {
      out.push({ volume: vol, path: mp.path, readOnly: vol.readOnly ?? mp.readOnly ?? false });
    } else {
      const implicit: Volume = { name: `${ra.name}-${mp.name}`, kind: 'empty', mode: EMPTY_VOLUME_DEFAULTS.mode, uid: EMPTY_VOLUME_DEFAULTS.uid, gid: EMPTY_VOLUME_DEFAULTS.gid };
      out.push({ volume: implicit, path: mp.path, readOnly: mp.readOnly ?? false });
    }
  }
  return out;
}

/** The host path backing a volume: its `source`, or `<pod>/sharedVolumes/<name>` for `empty`. */
export function volumeSource(pod: string, vol: Volume): string {
  if (vol.kind === 'host') {
    if (!vol.source) throw userError('stage1.volume.invalid', `host volume ${vol.name} has no source`, { details: { volume: vol.name } });
    return vol.source;
  }
  return sharedVolumePath(pod, vol.name);
}

/**
 * Creates the backing directory of an `empty` volume with its mode, uid and gid (defaults 0755,
 * 0, 0), under `<pod>/sharedVolumes` (mode 0755). Idempotent; returns the directory.
 */
export function prepareEmptyVolume(pod: string, vol: Volume): string {
  mkdirSync(sharedVolumesPath(pod), { recursive: true, mode: SHARED_VOLUMES_MODE });
  const dir = sharedVolumePath(pod, vol.name);
  mkdirSync(dir, { recursive: true, mode: 0o770 });
  const mode = Number.parseInt(vol.mode ?? EMPTY_VOLUME_DEFAULTS.mode, 8);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw userError('stage1.volume.invalid', `volume ${vol.name} has an invalid mode ${JSON.stringify(vol.mode)}`);
  chownSync(dir, vol.uid ?? EMPTY_VOLUME_DEFAULTS.uid, vol.gid ?? EMPTY_VOLUME_DEFAULTS.gid);
  chmodSync(dir, mode);
  return dir;
}
