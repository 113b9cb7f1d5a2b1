/**
 * A read-only view of the pods of a data directory: where each pod is, its state (directory +
 * lock probe), its manifest and what stage1 recorded (pid, app exit statuses, networks). Never
 * takes a lock that could block rkt, never writes. Parsed manifests are cached per pod and
 * revalidated by the manifest file's inode, size and mtime, so a listing costs a few stats per
 * pod.
 */
import { statSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import {
  POD_DIR_STATES,
  appInfoManifestPath,
  appImageManifestPath,
  appStatusPathIn,
  appStartedPathIn,
  appCreatedPathIn,
  effectiveStage1RootfsPath,
  isAfterRun,
  isLockMeaningful,
  listPods,
  netInfoPath,
  overlayPreparedPath,
  parseNetInfo,
  podCreatedPath,
  podDir,
  podManifestPath,
  podPidPath,
  podPpidPath,
  podStateOf,
  resolvePodUUID,
  stage1TreeStoreIdPath,
  subcgroupPath,
  type NetInfo,
  type PodDirState,
  type PodLocation,
  type PodState,
} from '@rktnetes/common';
import { getLabel, parseImageManifest, parsePodManifest, type Annotation, type PodManifest } from '@rktnetes/schema';
import { userError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { lstatNs, listDir, readInt, readText, statNs } from './fsread';
import { createLockProbe, type LockProbe } from './probe';

/** One app of a pod as the API reports it. */
export interface PodAppRecord {
  name: string;
  /** the image id recorded in the pod manifest */
  imageId: string;
  /** from the app's image manifest, else the pod manifest */
  imageName: string;
  /** the image's `version` label, `latest` without one */
  imageVersion: string;
  /** the app's annotations in the pod manifest */
  annotations: Annotation[];
  /** exit status recorded by stage1, once the app exited */
  exitCode: number | undefined;
  /** ns since the epoch: `<app>-started` (mutable pods) */
  startedAt: bigint | undefined;
  /** ns since the epoch: the exit status file's mtime */
  exitedAt: bigint | undefined;
  /** whether the app was added to a running pod (`<app>-created` exists) */
  added: boolean;
}

/** Everything known about one pod at the moment it was read. */
export interface PodRecord {
  uuid: string;
  dir: PodDirState;
  state: PodState;
  path: string;
  /** the `pod` file as written, when present and readable */
  manifestText: string | undefined;
  manifest: PodManifest | undefined;
  annotations: Annotation[];
  apps: PodAppRecord[];
  /** stage1's pid (or ppid) */
  pid: number | undefined;
  pidKind: 'pid' | 'ppid' | undefined;
  /** ns since the epoch */
  createdAt: bigint | undefined;
  startedAt: bigint | undefined;
  gcMarkedAt: bigint | undefined;
  /** ns since the epoch: the pod directory's ctime (its last rename, or entries added) */
  dirChangedAt: bigint | undefined;
  networks: NetInfo[];
  /** the pod's cgroup while running */
  cgroup: string | undefined;
  /** where stage1's files are readable (the overlay upper dir for overlay pods) */
  stage1Root: string;
}

interface StaticInfo {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  manifestText: string;
  manifest: PodManifest | undefined;
  apps: Array<Pick<PodAppRecord, 'name' | 'imageId' | 'imageName' | 'imageVersion' | 'annotations'>>;
  /** the stage1 tree store id of an overlay pod (its stage1 files are in the upper dir) */
  overlayTreeId: string | undefined;
}

/** Options of {@link PodView}. */
export interface PodViewOptions {
  probe?: LockProbe;
  log?: Logger;
  /** where /proc is (tests) */
  procRoot?: string;
  /** most manifests kept in the cache */
  cacheSize?: number;
}

/** The read-only pod view of one data directory. */
export class PodView {
  private readonly probe: LockProbe;
  private readonly cache = new Map<string, StaticInfo>();
  private readonly cacheSize: number;

  constructor(
    readonly dataDir: string,
    private readonly opts: PodViewOptions = {},
  ) {
    this.probe = opts.probe ?? createLockProbe();
    this.cacheSize = opts.cacheSize ?? 4096;
  }

  /** The pods of every state directory, sorted by uuid; pods that vanish meanwhile are left out. */
  async list(): Promise<PodRecord[]> {
    const locations = await listPods(this.dataDir, POD_DIR_STATES);
    const out: PodRecord[] = [];
    for (const loc of locations) {
      const rec = this.read(loc);
      if (rec) out.push(rec);
    }
    if (this.cache.size > locations.length + this.cacheSize / 2) {
      const live = new Set(locations.map((l) => l.uuid));
      for (const uuid of this.cache.keys()) if (!live.has(uuid)) this.cache.delete(uuid);
    }
    return out;
  }

  /**
   * The pod named by a uuid or unique prefix, in any state. Throws `pod.not-found`,
   * `pod.ambiguous` or `uuid.empty` (see resolvePodUUID), `pod.gone` when it vanished while read.
   */
  async get(id: string): Promise<PodRecord> {
    const loc = await resolvePodUUID(this.dataDir, id, POD_DIR_STATES);
    const rec = this.read(loc);
    if (!rec) {
      throw userError('pod.gone', `pod ${loc.uuid} disappeared while being read`, { details: { uuid: loc.uuid } });
    }
    return rec;
  }

  /** Where the pod with this full uuid is now, or undefined when it is nowhere. */
  locate(uuid: string): PodLocation | undefined {
    for (const state of [...POD_DIR_STATES].reverse()) {
      const path = podDir(this.dataDir, state, uuid);
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) return { uuid, state, path };
    }
    return undefined;
  }

  /**
   * Reads one pod; undefined when it vanished. A pod that moved to another state directory
   * while being probed is followed once.
   */
  read(loc: PodLocation): PodRecord | undefined {
    let where: PodLocation | undefined = loc;
    for (let attempt = 0; attempt < 3 && where; attempt++) {
      const lock = isLockMeaningful(where.state) ? this.probe(where.path) : statNs(where.path) ? 'free' : 'gone';
      if (lock !== 'gone') return this.readAt(where, lock === 'locked');
      where = this.locate(loc.uuid);
    }
    return undefined;
  }

  private readAt(loc: PodLocation, locked: boolean): PodRecord {
    const state = podStateOf(loc.state, locked);
    const rec: PodRecord = {
      uuid: loc.uuid,
      dir: loc.state,
      state,
      path: loc.path,
      manifestText: undefined,
      manifest: undefined,
      annotations: [],
      apps: [],
      pid: undefined,
      pidKind: undefined,
      createdAt: undefined,
      startedAt: undefined,
      gcMarkedAt: undefined,
      dirChangedAt: lstatNs(loc.path)?.ctimeNs,
      networks: [],
      cgroup: undefined,
      stage1Root: effectiveStage1RootfsPath(loc.path),
    };
    if (state === 'embryo') return rec;

    // a pod still being prepared may gain files (overlay-prepared, app manifests): no caching
    const info = this.staticInfo(loc, loc.state !== 'prepare');
    const running = state === 'running';
    const afterRun = isAfterRun(state);
    if (info) {
      rec.manifestText = info.manifestText;
      rec.manifest = info.manifest;
      rec.annotations = info.manifest?.annotations ?? [];
      rec.stage1Root = effectiveStage1RootfsPath(loc.path, info.overlayTreeId);
      rec.apps = info.apps.map((a) => ({ ...a, exitCode: undefined, startedAt: undefined, exitedAt: undefined, added: false }));
    }

    if (state === 'prepared' || running || afterRun) {
      rec.createdAt = (statNs(podCreatedPath(loc.path)) ?? statNs(podManifestPath(loc.path)))?.mtimeNs;
    }
    if (running || afterRun) {
      const pidSt = statNs(podPidPath(loc.path));
      const ppidSt = pidSt ? undefined : statNs(podPpidPath(loc.path));
      rec.startedAt = (pidSt ?? ppidSt)?.mtimeNs;
      if (pidSt) {
        rec.pid = readInt(podPidPath(loc.path));
        rec.pidKind = 'pid';
      } else if (ppidSt) {
        rec.pid = readInt(podPpidPath(loc.path));
        rec.pidKind = 'ppid';
      }
      for (const app of rec.apps) this.readAppStatus(rec.stage1Root, app);
    }
    if (loc.state === 'exited-garbage' || loc.state === 'garbage') rec.gcMarkedAt = rec.dirChangedAt;
    if (running || state === 'exited') rec.networks = this.readNetworks(loc.path);
    if (running) rec.cgroup = this.readCgroup(rec);
    return rec;
  }

  private readAppStatus(stage1Root: string, app: PodAppRecord): void {
    const statusPath = appStatusPathIn(stage1Root, app.name);
    const st = statNs(statusPath);
    if (st) {
      app.exitCode = readInt(statusPath);
      app.exitedAt = st.mtimeNs;
    }
    app.startedAt = statNs(appStartedPathIn(stage1Root, app.name))?.mtimeNs;
    app.added = statNs(appCreatedPathIn(stage1Root, app.name)) !== undefined;
  }

  private readNetworks(path: string): NetInfo[] {
    const text = readText(netInfoPath(path));
    if (text === undefined) return [];
    try {
      return parseNetInfo(text, netInfoPath(path));
    } catch (e) {
      this.opts.log?.debug(`ignoring ${netInfoPath(path)}: ${(e as Error).message}`);
      return [];
    }
  }

  /** `subcgroup` when stage1 wrote one, else the cgroup of the pod's first process. */
  private readCgroup(rec: PodRecord): string | undefined {
    const sub = readText(subcgroupPath(rec.path))?.trim();
    if (sub) return sub.startsWith('/') ? sub : `/${sub}`;
    if (rec.pid === undefined) return undefined;
    let pid: number | undefined = rec.pid;
    if (rec.pidKind === 'ppid') {
      const kids = readText(join(this.opts.procRoot ?? '/proc', String(rec.pid), 'task', String(rec.pid), 'children'))?.trim().split(/\s+/).filter(Boolean);
      pid = kids && kids.length === 1 ? Number(kids[0]) : undefined;
    }
    if (pid === undefined) return undefined;
    const text = readText(join(this.opts.procRoot ?? '/proc', String(pid), 'cgroup'));
    if (!text) return undefined;
    const lines = text.split('\n');
    const line = lines.find((l) => l.split(':')[1] === 'name=systemd') ?? lines.find((l) => l.startsWith('0::'));
    const path = line?.split(':').slice(2).join(':');
    return path ? path.replace(/\/init\.scope$/, '') : undefined;
  }

  /** The manifest-derived part of a pod, from the cache while the manifest file is unchanged. */
  private staticInfo(loc: PodLocation, cacheable: boolean): StaticInfo | undefined {
    const mpath = podManifestPath(loc.path);
    const st = statNs(mpath);
    if (!st || !st.isFile()) return undefined;
    const cached = this.cache.get(loc.uuid);
    if (cacheable && cached && sameFile(cached, st)) {
      return cached;
    }
    const text = readText(mpath);
    if (text === undefined) return undefined;
    let manifest: PodManifest | undefined;
    try {
      manifest = parsePodManifest(text, { source: mpath });
    } catch (e) {
      this.opts.log?.debug(`pod ${loc.uuid}: ${(e as Error).message}`);
    }
    const info: StaticInfo = {
      ino: st.ino,
      size: st.size,
      mtimeNs: st.mtimeNs,
      manifestText: text,
      manifest,
      apps: (manifest?.apps ?? []).map((app) => {
        const im = this.appImageManifest(loc.path, app.name);
        const imageName = im?.name ?? app.image.name ?? '';
        const version = getLabel(im?.labels ?? app.image.labels, 'version') ?? 'latest';
        return { name: app.name, imageId: app.image.id, imageName, imageVersion: version, annotations: app.annotations ?? [] };
      }),
      overlayTreeId: this.overlayTreeId(loc.path),
    };
    // a manifest being written right now may be caught half-way; only cache what parsed
    if (manifest && cacheable) {
      this.cache.delete(loc.uuid);
      this.cache.set(loc.uuid, info);
      if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    }
    return info;
  }

  private overlayTreeId(path: string): string | undefined {
    if (statNs(overlayPreparedPath(path)) === undefined) return undefined;
    return readText(stage1TreeStoreIdPath(path))?.trim() || undefined;
  }

  private appImageManifest(path: string, app: string) {
    for (const p of [appInfoManifestPath(path, app), appImageManifestPath(path, app)]) {
      const text = readText(p);
      if (text === undefined) continue;
      try {
        return parseImageManifest(text, { source: p });
      } catch (e) {
        this.opts.log?.debug(`ignoring ${p}: ${(e as Error).message}`);
      }
    }
    return undefined;
  }
}

function sameFile(a: Pick<StaticInfo, 'ino' | 'size' | 'mtimeNs'>, st: BigIntStats): boolean {
  return a.ino === st.ino && a.size === st.size && a.mtimeNs === st.mtimeNs;
}

/** The pod's name for events: its `name` annotation, empty without one. */
export function podName(rec: Pick<PodRecord, 'annotations'>): string {
  return rec.annotations.find((a) => a.name === 'name')?.value ?? '';
}
