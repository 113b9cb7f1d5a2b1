/**
 * Docker semantics for apps whose image came from Docker or OCI (the store's conversion, or
 * rkt's docker2aci): arguments after the image replace the image's `Cmd` instead of being
 * appended to its whole command line, and `Volumes` without a pod volume become implicit empty
 * volumes that start with the image's content at their path. Pure functions over manifests;
 * filling the volumes is in ./docker-volumes.
 */
import { userError } from '@rktnetes/errors';
import { getAnnotation, parsePodManifest, type App, type ImageManifest, type MountPoint, type PodManifest, type Volume } from '@rktnetes/schema';
import { DOCKER_ANNOTATIONS } from '@rktnetes/store';

function jsonList(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Docker `Entrypoint` of an image (`[]` when it has only a `Cmd`), when the image carries
 * the `appc.io/docker/entrypoint` / `appc.io/docker/cmd` annotations and its `app.exec` is
 * still their concatenation; undefined otherwise (not a Docker image, or an exec that was
 * changed after the conversion: rkt's rule of appending arguments applies then).
 */
export function dockerEntrypoint(manifest: ImageManifest): string[] | undefined {
  const epText = getAnnotation(manifest.annotations, DOCKER_ANNOTATIONS.entrypoint);
  const cmdText = getAnnotation(manifest.annotations, DOCKER_ANNOTATIONS.cmd);
  if (epText === undefined && cmdText === undefined) return undefined;
  const ep = epText === undefined ? [] : jsonList(epText);
  const cmd = cmdText === undefined ? [] : jsonList(cmdText);
  if (!ep || !cmd) return undefined;
  const exec = manifest.app?.exec ?? [];
  const whole = [...ep, ...cmd];
  if (exec.length !== whole.length || exec.some((x, i) => x !== whole[i])) return undefined;
  return ep;
}

/**
 * The exec of an app run with `args` after the image (no `--exec`): for a Docker image the
 * entrypoint followed by `args` (Docker's `docker run IMAGE ARGS...` replaces `Cmd`), for any
 * other image its exec followed by `args` (rkt). Empty `args` leave the exec as it is.
 */
export function execWithArgs(manifest: ImageManifest, exec: readonly string[] | undefined, args: readonly string[]): string[] {
  if (args.length === 0) return [...(exec ?? [])];
  const ep = dockerEntrypoint(manifest);
  return ep ? [...ep, ...args] : [...(exec ?? []), ...args];
}

/**
 * Whether an image was converted from Docker/OCI: a layered image of the store, or an ACI with
 * docker2aci's annotations (rkt's ConvertedFromDocker looks at `appc.io/docker/repository`).
 */
export function convertedFromDocker(manifest: ImageManifest, layered: boolean): boolean {
  if (layered) return true;
  return [DOCKER_ANNOTATIONS.repository, DOCKER_ANNOTATIONS.imageID].some((n) => getAnnotation(manifest.annotations, n) !== undefined);
}

/** A mount point of an app that gets an implicit volume. */
export interface ImplicitVolume {
  app: string;
  /** the pod volume's name: the mount point's, or `<app>-<mount point>` when several apps have it */
  name: string;
  /** where it is mounted in the app (the mount point's path) */
  path: string;
  mountPoint: MountPoint;
}

/**
 * The mount points of Docker-converted apps that neither a mount of the app (by path, or by
 * volume name) nor a pod volume of the same name provides: each gets an implicit empty volume
 * of its own (stage1s would otherwise create an empty one, or refuse the pod). The volume
 * takes the mount point's name, which every stage1 matches mount points by (fly does nothing
 * else); when another app of the pod has a mount point of that name too it is
 * `<app>-<mount point>` (rkt's name for implicit volumes), so apps never share one.
 * `dockerApps` maps app names to their image manifests, for the apps whose image was
 * converted from Docker.
 */
export function implicitDockerVolumes(pod: PodManifest, dockerApps: ReadonlyMap<string, ImageManifest>): ImplicitVolume[] {
  const podVolumes = new Set((pod.volumes ?? []).map((v) => v.name));
  const mountPointsOf = (ra: PodManifest['apps'][number]): MountPoint[] => (ra.app ?? dockerApps.get(ra.name)?.app)?.mountPoints ?? [];
  const appsWith = new Map<string, number>();
  for (const ra of pod.apps) for (const name of new Set(mountPointsOf(ra).map((mp) => mp.name))) appsWith.set(name, (appsWith.get(name) ?? 0) + 1);
  const used = new Set(podVolumes);
  const out: ImplicitVolume[] = [];
  for (const ra of pod.apps) {
    if (!dockerApps.has(ra.name)) continue;
    for (const mp of mountPointsOf(ra)) {
      if (podVolumes.has(mp.name)) continue;
      if ((ra.mounts ?? []).some((m) => m.path === mp.path || m.volume === mp.name)) continue;
      let name = appsWith.get(mp.name) === 1 && !used.has(mp.name) ? mp.name : `${ra.name}-${mp.name}`;
      for (let n = 2; used.has(name); n++) name = `${ra.name}-${mp.name}-${n}`;
      used.add(name);
      out.push({ app: ra.name, name, path: mp.path, mountPoint: mp });
    }
  }
  return out;
}

/**
 * `pod` with the implicit volumes added: each as an `empty` pod volume (with the mode and
 * owner it got, read-only when its mount point is) and a mount of its app. Throws
 * `schema.invalid` if the result is not a valid pod manifest.
 */
export function withImplicitVolumes(pod: PodManifest, volumes: ReadonlyArray<ImplicitVolume & { mode: string; uid: number; gid: number }>): PodManifest {
  if (volumes.length === 0) return pod;
  const copy = JSON.parse(JSON.stringify(pod)) as PodManifest;
  const podVolumes: Volume[] = [...(copy.volumes ?? [])];
  for (const v of volumes) {
    const ra = copy.apps.find((a) => a.name === v.app);
    if (!ra) throw userError('pod.volume', `implicit volume ${v.name}: the pod has no app ${v.app}`);
    podVolumes.push({ name: v.name, kind: 'empty', mode: v.mode, uid: v.uid, gid: v.gid, ...(v.mountPoint.readOnly ? { readOnly: true } : {}) });
    ra.mounts = [...(ra.mounts ?? []), { volume: v.name, path: v.path }];
  }
  copy.volumes = podVolumes;
  return parsePodManifest(copy);
}
