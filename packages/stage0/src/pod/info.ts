/**
 * What `rkt list` and `rkt status` know about a pod, read from its directory: state (where the
 * directory is and whether it is locked), manifest, times, pid, networks and app exit
 * statuses. Follows rkt's pkg/pod rules for which facts are meaningful in which state.
 */
import * as fsp from 'node:fs/promises';
import {
  appImageManifestPath,
  appInfoManifestPath,
  effectiveStage1RootfsPath,
  isAfterRun,
  isLockMeaningful,
  locatePod,
  overlayPreparedPath,
  pathExists,
  podCreatedPath,
  podDirStateOf,
  podManifestAvailable,
  podManifestPath,
  podPidPath,
  podPpidPath,
  podStateOf,
  readAppStatus,
  readFileTolerant,
  readNetInfo,
  readPodPid,
  stage1TreeStoreIdPath,
  type NetInfo,
  type PodDirState,
  type PodLocation,
  type PodState,
} from '@rktnetes/common';
import { isRktError, userError } from '@rktnetes/errors';
import { getAnnotation, getLabel, parseImageManifest, parsePodManifest, type PodManifest } from '@rktnetes/schema';
import { ANNOTATION_POD_MUTABLE } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import { isPodLocked, podSys } from './lock';

/** A pod found on disk with its current state. */
export interface PodStatus {
  uuid: string;
  /** the pod directory */
  path: string;
  /** the state directory it is in */
  dir: PodDirState;
  /** the state users see (directory + lock) */
  state: PodState;
}

/**
 * The state of a pod found at `loc`, probing its lock where the lock means something. A pod
 * that moved meanwhile is looked up again; undefined when it is gone.
 */
export async function podStatus(dataDir: string, loc: PodLocation, sys: Sys = podSys()): Promise<PodStatus | undefined> {
  let cur: PodLocation | undefined = loc;
  for (let attempt = 0; cur && attempt < 3; attempt++) {
    const at = { uuid: cur.uuid, path: cur.path, dir: cur.state };
    if (!isLockMeaningful(cur.state)) {
      if (await pathExists(cur.path)) return { ...at, state: podStateOf(cur.state, false) };
    } else {
      const locked = isPodLocked(cur.path, sys);
      if (locked !== undefined) return { ...at, state: podStateOf(cur.state, locked) };
    }
    cur = await locatePod(dataDir, loc.uuid);
  }
  return undefined;
}

/** Whether the pod's images were prepared as overlay mounts (`overlay-prepared`). */
export function usesOverlay(path: string): Promise<boolean> {
  return pathExists(overlayPreparedPath(path));
}

/** The stage1 tree store id written at prepare time, if any. */
export async function stage1TreeStoreId(path: string): Promise<string | undefined> {
  const text = await readFileTolerant(stage1TreeStoreIdPath(path));
  return text === undefined ? undefined : text.trim();
}

/**
 * Where the stage1 root's files can be read from outside the pod: the overlay upper dir for
 * overlay pods, `stage1/rootfs` otherwise (rkt's Stage1RootfsPath).
 */
export async function readableStage1Root(path: string): Promise<string> {
  if (!(await usesOverlay(path))) return effectiveStage1RootfsPath(path);
  const id = await stage1TreeStoreId(path);
  return effectiveStage1RootfsPath(path, id);
}

/** Reads and validates the pod manifest. Errors: `pod.manifest` (user) with the cause. */
export async function readPodManifest(path: string, uuid: string): Promise<PodManifest> {
  const file = podManifestPath(path);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw userError('pod.manifest', `cannot read the manifest of pod ${uuid}`, { cause: e, details: { uuid } });
  }
  try {
    return parsePodManifest(text, { source: file });
  } catch (e) {
    throw userError('pod.manifest', `invalid manifest of pod ${uuid}`, { cause: e, details: { uuid } });
  }
}

async function mtime(path: string): Promise<Date | undefined> {
  try {
    return (await fsp.stat(path)).mtime;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const isRunning = (s: PodState) => s === 'running';

/** When the pod was created (prepared): mtime of `pod-created`, else of `pod`. */
export async function creationTime(p: PodStatus): Promise<Date | undefined> {
  if (!(p.state === 'prepared' || isRunning(p.state) || isAfterRun(p.state))) return undefined;
  return (await mtime(podCreatedPath(p.path))) ?? (await mtime(podManifestPath(p.path)));
}

/** When the pod started: mtime of the `pid` or `ppid` file stage1 wrote. */
export async function startTime(p: PodStatus): Promise<Date | undefined> {
  if (!isRunning(p.state) && !isAfterRun(p.state)) return undefined;
  return (await mtime(podPidPath(p.path))) ?? (await mtime(podPpidPath(p.path)));
}

/** When gc marked the pod (the ctime of its directory in a garbage directory). */
export async function gcMarkedTime(p: PodStatus): Promise<Date | undefined> {
  if (p.state !== 'exited garbage' && p.state !== 'exited deleting' && p.state !== 'garbage' && p.state !== 'deleting') return undefined;
  try {
    return (await fsp.lstat(p.path)).ctime;
  } catch {
    return undefined;
  }
}

/** One app of a described pod. */
export interface AppDescription {
  name: string;
  /** `name:version` of its image, or `--` when the image manifest cannot be read */
  imageName: string;
  imageId: string;
  /** exit status, once stage1 wrote it */
  exitCode?: number;
}

/** Everything list and status print about a pod. */
export interface PodDescription extends PodStatus {
  manifest?: PodManifest;
  created?: Date;
  started?: Date;
  gcMarked?: Date;
  pid?: number;
  networks: NetInfo[];
  apps: AppDescription[];
  mutable: boolean;
  /** problems met while reading (a bad manifest); the pod is still described */
  errors: Error[];
}

async function appImageName(path: string, app: string): Promise<string> {
  for (const file of [appInfoManifestPath(path, app), appImageManifestPath(path, app)]) {
    const text = await readFileTolerant(file).catch(() => undefined);
    if (text === undefined) continue;
    try {
      const m = parseImageManifest(text, { source: file });
      const version = getLabel(m.labels, 'version');
      return version ? `${m.name}:${version}` : m.name;
    } catch {
      return '--';
    }
  }
  return '--';
}

/** Gathers the description of a pod; problems are collected in `errors`, not thrown. */
export async function describePod(p: PodStatus): Promise<PodDescription> {
  const d: PodDescription = { ...p, networks: [], apps: [], mutable: false, errors: [] };
  const note = (e: unknown) => d.errors.push(e instanceof Error ? e : new Error(String(e)));
  if (podManifestAvailable(p.state)) {
    try {
      d.manifest = await readPodManifest(p.path, p.uuid);
    } catch (e) {
      note(e);
    }
  }
  try {
    d.created = await creationTime(p);
    d.started = await startTime(p);
    d.gcMarked = await gcMarkedTime(p);
  } catch (e) {
    note(e);
  }
  try {
    d.networks = await readNetInfo(p.path);
  } catch (e) {
    note(e);
  }
  try {
    const pid = await readPodPid(p.path);
    if (pid) d.pid = pid.pid;
  } catch (e) {
    if (!isRktError(e)) note(e);
  }
  if (d.manifest) {
    d.mutable = getAnnotation(d.manifest.annotations, ANNOTATION_POD_MUTABLE) === 'true';
    let root: string | undefined;
    try {
      root = await readableStage1Root(p.path);
    } catch (e) {
      note(e);
    }
    for (const ra of d.manifest.apps) {
      const app: AppDescription = { name: ra.name, imageName: await appImageName(p.path, ra.name), imageId: ra.image.id };
      if (root !== undefined) {
        try {
          const code = await readAppStatus(root, ra.name);
          if (code !== undefined) app.exitCode = code;
        } catch {
          // a status file being written or garbage: no status
        }
      }
      d.apps.push(app);
    }
  }
  return d;
}

/** `netName:ip4=ip` for each network, comma separated (rkt's fmtNets). */
export function formatNetworks(nets: readonly NetInfo[]): string {
  return nets.map((n) => `${n.netName}:ip4=${n.ip}`).join(', ');
}

/** rkt's v1 API pod object (`rkt list --format=json`, `rkt status --format=json`). Times are seconds. */
export type ApiPod = {
  name: string;
  state: string;
  networks?: ApiNetwork[];
  app_names?: string[];
  apps?: ApiApp[];
  created_at?: number;
  started_at?: number;
  user_annotations?: Record<string, string>;
  user_labels?: Record<string, string>;
};

/** A network of the pod, as in `net-info.json`. */
export type ApiNetwork = { netName: string; netConf: string; pluginPath: string; ifName: string; ip: string; args: string; mask: string };

/** rkt's v1 API app object. Times are nanoseconds since the epoch (bigints, to stay exact). */
export type ApiApp = {
  name: string;
  state: 'unknown' | 'created' | 'running' | 'exited';
  created_at?: bigint;
  started_at?: bigint;
  finished_at?: bigint;
  exit_code?: number;
  image_id: string;
  mounts?: Array<{ name: string; container_path: string; host_path: string; read_only: boolean }>;
  user_annotations?: Record<string, string>;
  user_labels?: Record<string, string>;
};

const nanos = (d: Date | undefined) => (d === undefined ? undefined : BigInt(d.getTime()) * 1_000_000n);
const seconds = (d: Date | undefined) => (d === undefined ? undefined : Math.floor(d.getTime() / 1000));

function appStateFromPod(state: PodState): ApiApp['state'] {
  switch (podDirStateOf(state)) {
    case 'prepared':
      return 'created';
    case 'run':
      return state === 'running' ? 'running' : 'exited';
    case 'exited-garbage':
    case 'garbage':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** The v1 API form of a described pod. */
export function apiPod(d: PodDescription): ApiPod {
  const pod: ApiPod = { name: d.uuid, state: d.state };
  if (d.networks.length) pod.networks = d.networks.map((n) => ({ ...n }));
  if (d.manifest) {
    if (d.manifest.apps.length) pod.app_names = d.manifest.apps.map((a) => a.name);
    const volumes = new Map((d.manifest.volumes ?? []).map((v) => [v.name, v]));
    pod.apps = d.manifest.apps.map((ra, i) => {
      const desc = d.apps[i];
      const app: ApiApp = { name: ra.name, state: appStateFromPod(d.state), image_id: ra.image.id };
      const created = nanos(d.created);
      if (created !== undefined) app.created_at = created;
      const started = nanos(d.started);
      if (started !== undefined) app.started_at = started;
      const finished = nanos(d.gcMarked);
      if (finished !== undefined) app.finished_at = finished;
      if (desc?.exitCode !== undefined) {
        app.state = 'exited';
        app.exit_code = desc.exitCode;
      }
      if (ra.mounts?.length) {
        app.mounts = ra.mounts.map((m) => {
          const vol = m.appVolume ?? volumes.get(m.volume);
          return { name: m.volume, container_path: m.path, host_path: vol?.source ?? '', read_only: vol?.readOnly ?? false };
        });
      }
      if (ra.app?.userAnnotations && Object.keys(ra.app.userAnnotations).length) app.user_annotations = ra.app.userAnnotations;
      if (ra.app?.userLabels && Object.keys(ra.app.userLabels).length) app.user_labels = ra.app.userLabels;
      return app;
    });
    if (d.manifest.userAnnotations && Object.keys(d.manifest.userAnnotations).length) pod.user_annotations = d.manifest.userAnnotations;
    if (d.manifest.userLabels && Object.keys(d.manifest.userLabels).length) pod.user_labels = d.manifest.userLabels;
  }
  const created = seconds(d.created);
  if (created !== undefined) pod.created_at = created;
  const started = seconds(d.started);
  if (started !== undefined) pod.started_at = started;
  return pod;
}
