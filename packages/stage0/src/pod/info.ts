/**
 * What `rkt list` and `rkt status` know about a pod, read from its directory: state (where the
 * directory is and whether it is locked), manifest, times, pid, networks and app exit
 * statuses. Follows rkt's pkg/pod rules for which facts are meaningful in which state.
 *
 * The files are small and local, so they are read with synchronous calls: `rkt list` reads a
 * dozen per pod, and going through the libuv thread pool for each (fs.promises) cost several
 * times the reads themselves with 1,000 pods (bench/scale-list.mjs).
 */
import * as fs from 'node:fs';
import {
  appImageManifestPath,
  appInfoManifestPath,
  appStatusPathIn,
  effectiveStage1RootfsPath,
  isAfterRun,
  isLockMeaningful,
  locatePod,
  netInfoPath,
  overlayPreparedPath,
  parseIntFile,
  parseNetInfo,
  podCreatedPath,
  podDirStateOf,
  podManifestAvailable,
  podManifestPath,
  podPidPath,
  podPpidPath,
  podStateOf,
  readFileTolerantSync,
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

/** Whether `path` exists (lstat: a dangling symlink counts). */
function existsSync(path: string): boolean {
  return fs.lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** An integer file (pid, app status); undefined when absent. */
function readIntFileSync(path: string): number | undefined {
  const text = readFileTolerantSync(path);
  return text === undefined ? undefined : parseIntFile(text, path);
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
      if (existsSync(cur.path)) return { ...at, state: podStateOf(cur.state, false) };
    } else {
      const locked = isPodLocked(cur.path, sys);
      if (locked !== undefined) return { ...at, state: podStateOf(cur.state, locked) };
    }
    cur = await locatePod(dataDir, loc.uuid);
  }
  return undefined;
}

/** Whether the pod's images were prepared as overlay mounts (`overlay-prepared`). */
export async function usesOverlay(path: string): Promise<boolean> {
  return existsSync(overlayPreparedPath(path));
}

/** The stage1 tree store id written at prepare time, if any. */
export async function stage1TreeStoreId(path: string): Promise<string | undefined> {
  const text = readFileTolerantSync(stage1TreeStoreIdPath(path));
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
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw userError('pod.manifest', `cannot read the manifest of pod ${uuid}`, { cause: e, details: { uuid } });
  }
  try {
    return parsePodManifest(text, { source: file });
  } catch (e) {
    throw userError('pod.manifest', `invalid manifest of pod ${uuid}`, { cause: e, details: { uuid } });
  }
}

function mtime(path: string): Date | undefined {
  return fs.statSync(path, { throwIfNoEntry: false })?.mtime;
}

const isRunning = (s: PodState) => s === 'running';

/** When the pod was created (prepared): mtime of `pod-created`, else of `pod`. */
export async function creationTime(p: PodStatus): Promise<Date | undefined> {
  if (!(p.state === 'prepared' || isRunning(p.state) || isAfterRun(p.state))) return undefined;
  return mtime(podCreatedPath(p.path)) ?? mtime(podManifestPath(p.path));
}

/** When the pod started: mtime of the `pid` or `ppid` file stage1 wrote. */
export async function startTime(p: PodStatus): Promise<Date | undefined> {
  if (!isRunning(p.state) && !isAfterRun(p.state)) return undefined;
  return mtime(podPidPath(p.path)) ?? mtime(podPpidPath(p.path));
}

/** When gc marked the pod (the ctime of its directory in a garbage directory). */
export async function gcMarkedTime(p: PodStatus): Promise<Date | undefined> {
  if (p.state !== 'exited garbage' && p.state !== 'exited deleting' && p.state !== 'garbage' && p.state !== 'deleting') return undefined;
  try {
    return fs.lstatSync(p.path).ctime;
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

/**
 * `name:version` of each image manifest text already parsed: pods of one image carry the same
 * manifest, and validating it again for each of 1,000 pods was a fifth of `rkt list`.
 */
const imageNames = new Map<string, string>();

function imageNameOf(text: string, file: string): string {
  let name = imageNames.get(text);
  if (name === undefined) {
    try {
      const m = parseImageManifest(text, { source: file });
      const version = getLabel(m.labels, 'version');
      name = version ? `${m.name}:${version}` : m.name;
    } catch {
      name = '--';
    }
    imageNames.set(text, name);
  }
  return name;
}

function appImageName(path: string, app: string): string {
  // the stage1 copy of the manifest is only looked at (its path only built) when appsinfo has none
  for (const fileOf of [appInfoManifestPath, appImageManifestPath]) {
    const file = fileOf(path, app);
    let text: string | undefined;
    try {
      text = readFileTolerantSync(file);
    } catch {
      text = undefined;
    }
    if (text !== undefined) return imageNameOf(text, file);
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
  // what stage1 run writes (networks, pid, app statuses) exists only in pods that ran
  const ran = isRunning(p.state) || isAfterRun(p.state);
  if (ran) {
    try {
      const text = readFileTolerantSync(netInfoPath(p.path));
      d.networks = text === undefined ? [] : parseNetInfo(text, netInfoPath(p.path));
    } catch (e) {
      note(e);
    }
    try {
      const pid = readIntFileSync(podPidPath(p.path)) ?? readIntFileSync(podPpidPath(p.path));
      if (pid !== undefined) d.pid = pid;
    } catch (e) {
      if (!isRktError(e)) note(e);
    }
  }
  if (d.manifest) {
    d.mutable = getAnnotation(d.manifest.annotations, ANNOTATION_POD_MUTABLE) === 'true';
    let root: string | undefined;
    try {
      if (ran) root = await readableStage1Root(p.path);
    } catch (e) {
      note(e);
    }
    for (const ra of d.manifest.apps) {
      const app: AppDescription = { name: ra.name, imageName: appImageName(p.path, ra.name), imageId: ra.image.id };
      if (root !== undefined) {
        try {
          const code = readIntFileSync(appStatusPathIn(root, ra.name));
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
