/**
 * Test helpers: pod directories written per docs/on-disk-format.md, and a child process that
 * holds pod directory locks the way a running stage1 does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rename, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  appInfoManifestPath,
  appStartedPathIn,
  appStatusPathIn,
  ensurePodsDirs,
  newPodUUID,
  podCreatedPath,
  podDir,
  podManifestPath,
  podManifestLockPath,
  stage1RootfsPath,
  subcgroupPath,
  writeNetInfo,
  writePodPid,
  type NetInfo,
  type PodDirState,
} from '@rktnetes/common';
import { imageManifest, podManifest, serializeImageManifest, serializePodManifest, type Annotation } from '@rktnetes/schema';

export interface AppSpec {
  name: string;
  imageName?: string;
  imageId?: string;
  version?: string;
  annotations?: Annotation[];
  imageAnnotations?: Annotation[];
  exitCode?: number;
  started?: boolean;
}

export interface PodSpec {
  state: PodDirState;
  uuid?: string;
  apps?: AppSpec[];
  annotations?: Annotation[];
  /** write `pid` (after run) */
  pid?: number;
  networks?: Array<Partial<NetInfo> & { netName: string; ip: string }>;
  subcgroup?: string;
  /** mtime of pod-created */
  createdAt?: Date;
  /** no pod manifest (embryo, early prepare) */
  noManifest?: boolean;
}

export interface WrittenPod {
  uuid: string;
  path: string;
}

/** sha512- + 128 hex digits derived from a seed. */
export async function fakeKey(seed: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `sha512-${createHash('sha512').update(seed).digest('hex')}`;
}

/** Writes a pod directory in `spec.state` the way stage0 (and stage1, for run files) would. */
export async function writePod(dataDir: string, spec: PodSpec): Promise<WrittenPod> {
  await ensurePodsDirs(dataDir);
  const uuid = spec.uuid ?? newPodUUID();
  const path = podDir(dataDir, spec.state, uuid);
  // written aside and renamed into place: a watcher never sees the directory half written
  const staging = join(dataDir, '.test-staging', uuid);
  await mkdir(staging, { recursive: true, mode: 0o750 });
  if (spec.state !== 'embryo' && !spec.noManifest) await writePodFiles(staging, spec, { manifest: true, run: spec.state === 'run' || spec.state === 'exited-garbage' });
  await rename(staging, path);
  return { uuid, path };
}

/**
 * Writes the files of a pod directory: with `manifest`, what prepare writes (pod manifest,
 * pod-created, app image manifests); with `run`, what stage1 run writes (pid, statuses, networks).
 */
export async function writePodFiles(path: string, spec: Omit<PodSpec, 'state'>, what: { manifest?: boolean; run?: boolean }): Promise<void> {
  const apps = spec.apps ?? [{ name: 'app' }];
  const pm = podManifest({
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
    apps: await Promise.all(
      apps.map(async (a) => ({
        name: a.name,
        image: { name: a.imageName ?? `example.com/${a.name}`, id: a.imageId ?? (await fakeKey(a.name)) },
        ...(a.annotations ? { annotations: a.annotations } : {}),
      })),
    ),
  });
  if (what.manifest) await writeManifests(path, spec, apps, pm);
  if (what.run) await writeRunFiles(path, spec, apps);
}

async function writeManifests(path: string, spec: Omit<PodSpec, 'state'>, apps: AppSpec[], pm: ReturnType<typeof podManifest>): Promise<void> {
  await writeFile(podManifestPath(path), serializePodManifest(pm), { mode: 0o640 });
  await writeFile(podManifestLockPath(path), '', { mode: 0o600 });
  await writeFile(podCreatedPath(path), '');
  if (spec.createdAt) await utimes(podCreatedPath(path), spec.createdAt, spec.createdAt);
  for (const a of apps) {
    const im = imageManifest({
      name: a.imageName ?? `example.com/${a.name}`,
      labels: [{ name: 'version', value: a.version ?? '1.0.0' }, { name: 'os', value: 'linux' }],
      ...(a.imageAnnotations ? { annotations: a.imageAnnotations } : {}),
    });
    await mkdir(dirname(appInfoManifestPath(path, a.name)), { recursive: true });
    await writeFile(appInfoManifestPath(path, a.name), serializeImageManifest(im));
  }
}

async function writeRunFiles(path: string, spec: Omit<PodSpec, 'state'>, apps: AppSpec[]): Promise<void> {
  if (spec.subcgroup) await writeFile(subcgroupPath(path), spec.subcgroup);
  await writePodPid(path, spec.pid ?? 4242);
  const root = stage1RootfsPath(path);
  await mkdir(dirname(appStatusPathIn(root, 'x')), { recursive: true });
  for (const a of apps) {
    if (a.exitCode !== undefined) await writeFile(appStatusPathIn(root, a.name), `${a.exitCode}\n`);
    if (a.started) await writeFile(appStartedPathIn(root, a.name), '');
  }
  if (spec.networks) {
    await writeNetInfo(
      path,
      spec.networks.map((n) => ({ netConf: '', pluginPath: '', ifName: 'eth0', args: '', mask: '255.255.255.0', ...n })),
    );
  }
}

const HOLDER = fileURLToPath(new URL('../fixtures/hold-lock.ts', import.meta.url));

/** A child process holding exclusive flocks on directories; `release()` kills it. */
export interface LockHolder {
  child: ChildProcess;
  release(): Promise<void>;
}

/** Locks `dirs` exclusively from a child process (as a running stage1 holds its pod). */
export async function holdLocks(...dirs: string[]): Promise<LockHolder> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, ...dirs], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return {
    child,
    release: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
