/**
 * What every `rkt app` command needs: the running mutable pod (checked), its stage1's
 * crossing entrypoints run as child processes with the crossing environment, the pod
 * manifest lock, and the apps' states (rkt's appStateInMutablePod).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DEFAULT_REGULAR_FILE_MODE,
  EXIT_FAILURE,
  appCreatedPathIn,
  appStartedPathIn,
  appStatusPathIn,
  exitStatusOf,
  isAfterRun,
  podManifestLockPath,
  podManifestPath,
  readAppStatus,
  readFileTolerant,
  readPodPid,
  supervisorStatusPathIn,
  SUPERVISOR_READY,
  writeFileAtomic,
} from '@rktnetes/common';
import { systemError, usageError, userError } from '@rktnetes/errors';
import { getAnnotation, isACName, serializePodManifest, type PodManifest, type RuntimeApp } from '@rktnetes/schema';
import { ANNOTATION_POD_MUTABLE, buildCrossingEnv, stage1SupportsMutable, type Stage1EntrypointName } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import type { Context } from '../cli/context';
import { entrypointPath, readPodStage1, type PodStage1 } from '../stage1/entrypoints';
import { quote } from '../pod/format';
import { gcMarkedTime, podStatus, readableStage1Root, readPodManifest, type PodStatus } from '../pod/info';
import { podSys } from '../pod/lock';
import { findPod } from '../pod/uuid-arg';

/** How long app commands wait for a pod that was just started to become ready. */
export const READY_TIMEOUT_MS = 10_000;

/** A running mutable pod, ready for app commands. */
export interface MutablePod {
  uuid: string;
  path: string;
  status: PodStatus;
  manifest: PodManifest;
  s1: PodStage1;
  /** host pid of the pod's PID 1 (the process enter joins) */
  pid: number;
}

/** Whether the pod manifest says the pod is mutable. */
export const isMutableManifest = (m: PodManifest) => getAnnotation(m.annotations, ANNOTATION_POD_MUTABLE) === 'true';

/** Checks an app name from the command line: usage errors `cli.usage` (missing), `cli.invalid-value`. */
export function checkAppName(name: string | undefined, command: string): string {
  if (name === undefined || name === '') throw usageError('cli.usage', `${command}: --app is required`);
  if (!isACName(name)) throw usageError('cli.invalid-value', `invalid app name ${quote(name)}: lowercase letters, digits and dashes`);
  return name;
}

/** The runtime app `name` of the pod; user error `app.unknown` when there is none. */
export function findApp(pod: Pick<MutablePod, 'uuid' | 'manifest'>, name: string): RuntimeApp {
  const ra = pod.manifest.apps.find((a) => a.name === name);
  if (!ra) throw userError('app.unknown', `app ${name} is not in pod ${pod.uuid}`, { details: { uuid: pod.uuid, app: name } });
  return ra;
}

async function supervisorReady(path: string): Promise<boolean> {
  try {
    return (await fsp.readlink(supervisorStatusPathIn(await readableStage1Root(path)))) === SUPERVISOR_READY;
  } catch {
    return false;
  }
}

/**
 * Finds the pod `ref` names and checks that app commands can act on it: it runs
 * (`pod.not-running`), it is mutable (`pod.not-mutable`), its stage1 has the app entrypoints
 * (`stage1.mutable.unsupported`), and its supervisor is ready with its pid written (waiting up to
 * {@link READY_TIMEOUT_MS}, else `pod.not-ready`). Also `pod.not-found`, `pod.ambiguous`.
 */
export async function openMutablePod(ctx: Context, ref: string, sys: Sys = podSys()): Promise<MutablePod> {
  const loc = await findPod(ctx.dataDir, ref);
  const status = await podStatus(ctx.dataDir, loc, sys);
  if (!status || status.state !== 'running') {
    throw userError('pod.not-running', `pod ${quote(loc.uuid)} isn't currently running`, { details: { uuid: loc.uuid } });
  }
  const manifest = await readPodManifest(status.path, status.uuid);
  if (!isMutableManifest(manifest)) throw userError('pod.not-mutable', `pod ${quote(status.uuid)} is not a mutable pod (start one with rkt app sandbox)`, { details: { uuid: status.uuid } });
  const s1 = await readPodStage1(status.path);
  if (!stage1SupportsMutable(s1.annotations)) throw userError('stage1.mutable.unsupported', `the stage1 of pod ${quote(status.uuid)} does not support mutable pods`);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const pid = await readPodPid(status.path).catch(() => undefined);
    if (pid?.kind === 'pid' && (await supervisorReady(status.path))) return { uuid: status.uuid, path: status.path, status, manifest, s1, pid: pid.pid };
    const now = await podStatus(ctx.dataDir, loc, sys);
    if (!now || now.state !== 'running') throw userError('pod.not-running', `pod ${quote(status.uuid)} isn't currently running`, { details: { uuid: status.uuid } });
    if (Date.now() > deadline) throw userError('pod.not-ready', `the supervisor of pod ${quote(status.uuid)} is not ready yet`, { details: { uuid: status.uuid } });
    await sleep(50);
  }
}

/** Re-reads the manifest of an opened pod (after taking the manifest lock). */
export async function reloadManifest(pod: MutablePod): Promise<MutablePod> {
  return { ...pod, manifest: await readPodManifest(pod.path, pod.uuid) };
}

/** Replaces the pod manifest atomically (readers see the old or the new one, whole). */
export async function writePodManifest(path: string, manifest: PodManifest): Promise<void> {
  await writeFileAtomic(podManifestPath(path), serializePodManifest(manifest), DEFAULT_REGULAR_FILE_MODE);
}

/**
 * Runs `fn` holding the pod manifest lock (`pod.lck`, exclusive), as app add and app rm do
 * while they change the manifest. Waits up to `timeoutMs` for it: user error
 * `pod.manifest-locked` then.
 */
export async function withManifestLock<T>(path: string, fn: () => Promise<T>, sys: Sys = podSys(), timeoutMs = 30_000): Promise<T> {
  const lockPath = podManifestLockPath(path);
  let fd: number;
  try {
    fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  } catch (e) {
    throw systemError('pod.manifest-lock', `cannot open ${lockPath}`, { cause: e });
  }
  try {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; !sys.flock(fd, 'ex', { nonBlocking: true }); delay = Math.min(delay * 2, 200)) {
      if (Date.now() > deadline) throw userError('pod.manifest-locked', `the manifest of pod ${path} is locked by another process`);
      await sleep(delay);
    }
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}

/** Extra variables for a crossing entrypoint (rktnetes extensions, e.g. `RKTNETES_STOP_TIMEOUT`). */
export type ExtraEnv = Record<string, string>;

/** The result of a crossing entrypoint. */
export interface CrossingResult {
  status: number;
  /** its stderr, for the error message when it failed */
  stderr: string;
}

/**
 * Runs a crossing entrypoint as a child process: cwd = the pod directory, a fresh environment
 * with RKT_STAGE1_ENTERCMD, RKT_STAGE1_ENTERPID, RKT_STAGE1_ENTERAPP and PATH (docs/
 * stage1-interface.md), stdin closed, stdout inherited; its stderr is captured and passed on
 * when it succeeds. Failing to start it is `stage1.exec` (system).
 */
export function runCrossing(pod: MutablePod, name: Stage1EntrypointName, args: readonly string[], app: string | undefined, extra: ExtraEnv = {}): Promise<CrossingResult> {
  const path = entrypointPath(pod.s1, name);
  const env = { ...buildCrossingEnv({ enterCmd: entrypointPath(pod.s1, 'enter'), enterPid: pod.pid, ...(app ? { enterApp: app } : {}) }), ...extra };
  return new Promise((resolve, reject) => {
    const child = spawn(path, [...args], { cwd: pod.path, env, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => reject(systemError('stage1.exec', `cannot execute stage1 ${name} entrypoint ${path}`, { cause: e, details: { path } })));
    child.on('close', (code, signal) => resolve({ status: code === null && signal === null ? EXIT_FAILURE : exitStatusOf(code, signal), stderr }));
  });
}

/** The last line the entrypoint printed, without its `stage1: ` prefix. */
export function stage1Message(stderr: string): string {
  const last = stderr.trim().split('\n').at(-1) ?? '';
  return last.replace(/^stage1: /, '').trim();
}

/** Like {@link runCrossing}; a non-zero status is a user error `stage1.failed` with the entrypoint's message. */
export async function callCrossing(pod: MutablePod, name: Stage1EntrypointName, args: readonly string[], app: string | undefined, extra: ExtraEnv = {}): Promise<void> {
  const r = await runCrossing(pod, name, args, app, extra);
  if (r.status !== 0) {
    const why = stage1Message(r.stderr) || `exit status ${r.status}`;
    throw userError('stage1.failed', `stage1 ${name} of pod ${pod.uuid} failed: ${why}`, { details: { status: r.status, entrypoint: name } });
  }
  if (r.stderr) process.stderr.write(r.stderr);
}

// ------------------------------------------------------------------------------ app states

/** rkt's app states. */
export type AppState = 'unknown' | 'created' | 'running' | 'exited';

/** What `rkt app list` and `rkt app status` show about an app. */
export interface AppInfo {
  name: string;
  state: AppState;
  /** nanoseconds since the epoch */
  createdAt?: bigint;
  startedAt?: bigint;
  finishedAt?: bigint;
  exitCode?: number;
  /** host pid of the app's process while it runs */
  pid?: number;
  imageId: string;
  mounts: Array<{ name: string; containerPath: string; hostPath: string; readOnly: boolean }>;
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

async function mtimeNs(path: string): Promise<bigint | undefined> {
  try {
    return (await fsp.stat(path, { bigint: true })).mtimeNs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The pids of `pid` in the pid namespaces it belongs to, outermost first (its `NSpid` fields). */
async function nsPids(pid: number): Promise<number[]> {
  const m = /^NSpid:\s*(.*)$/m.exec((await readFileTolerant(`/proc/${pid}/status`)) ?? '');
  return (m?.[1]?.trim().split(/\s+/) ?? []).map(Number);
}

/**
 * The host pid of an app: PID 1 of the pod records the app's pid in the pod's namespace in
 * `rkt/pids/<app>`; the app is the child of PID 1 with that pid there (at the level of PID 1's
 * innermost namespace: an app may have a pid namespace of its own below it).
 */
export async function appHostPid(podPid: number, stage1Root: string, app: string): Promise<number | undefined> {
  const recorded = Number.parseInt((await readFileTolerant(`${stage1Root}/rkt/pids/${app}`)) ?? '', 10);
  if (!Number.isInteger(recorded)) return undefined;
  const level = (await nsPids(podPid)).length - 1;
  if (level < 0) return undefined;
  const children = ((await readFileTolerant(`/proc/${podPid}/task/${podPid}/children`)) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  for (const c of children) if ((await nsPids(c))[level] === recorded) return c;
  return undefined;
}

/**
 * The state of each app of a pod (or only `only`), as rkt computes it for mutable pods: the
 * stage0 files `rkt/status/<app>-created` and `-started` and the stage1's exit status file
 * `rkt/status/<app>`, with their modification times as the created, started and finished times;
 * a pod that is no longer running has only exited apps (finished when gc marked the pod).
 */
export async function appInfos(status: PodStatus, manifest: PodManifest, podPid?: number, only?: string): Promise<AppInfo[]> {
  const root = await readableStage1Root(status.path);
  const after = isAfterRun(status.state) || status.state === 'exited';
  const volumes = new Map((manifest.volumes ?? []).map((v) => [v.name, v]));
  const out: AppInfo[] = [];
  for (const ra of manifest.apps) {
    if (only !== undefined && ra.name !== only) continue;
    const info: AppInfo = {
      name: ra.name,
      state: 'unknown',
      imageId: ra.image.id,
      mounts: (ra.mounts ?? []).map((m) => {
        const vol = m.appVolume ?? volumes.get(m.volume);
        return { name: m.volume, containerPath: m.path, hostPath: vol?.source ?? '', readOnly: vol?.readOnly ?? false };
      }),
      ...(ra.app?.userAnnotations && Object.keys(ra.app.userAnnotations).length ? { userAnnotations: ra.app.userAnnotations } : {}),
      ...(ra.app?.userLabels && Object.keys(ra.app.userLabels).length ? { userLabels: ra.app.userLabels } : {}),
    };
    const created = await mtimeNs(appCreatedPathIn(root, ra.name));
    if (created !== undefined) {
      info.state = 'created';
      info.createdAt = created;
      const started = await mtimeNs(appStartedPathIn(root, ra.name));
      if (started !== undefined) {
        info.state = 'running';
        info.startedAt = started;
        const finished = await mtimeNs(appStatusPathIn(root, ra.name));
        if (finished !== undefined) {
          info.state = 'exited';
          info.finishedAt = finished;
          info.exitCode = (await readAppStatus(root, ra.name).catch(() => undefined)) ?? 1;
        }
      }
    }
    if (after && info.state !== 'exited') {
      info.state = 'exited';
      const marked = await gcMarkedTime(status);
      if (marked) info.finishedAt = BigInt(marked.getTime()) * 1_000_000n;
    }
    if (info.state === 'running' && podPid !== undefined) {
      const pid = await appHostPid(podPid, root, ra.name);
      if (pid !== undefined) info.pid = pid;
    }
    out.push(info);
  }
  return out;
}
