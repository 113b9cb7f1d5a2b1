/**
 * Calling a pod's stage1 entrypoints. Everything is learnt from the pod's copy of the stage1
 * image manifest (`<pod>/stage1/manifest`): the entrypoint paths and the interface version.
 *
 * run and enter replace stage0 (exec); gc and stop run as child processes. All get the pod
 * directory as working directory and stage0's environment without `NODE_EXTRA_CA_CERTS`
 * (stage1s open no TLS connection, and parsing the CA bundle costs every Node start ~50 ms).
 */
import { EXIT_FAILURE, exitStatusOf } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import {
  describeStage1,
  readStage1Annotations,
  requireStage1Entrypoint,
  stage1EntrypointPath,
  type AnnotationLike,
  type Stage1EntrypointName,
  type Stage1Info,
} from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';

/** A pod's stage1 as stage0 sees it. */
export interface PodStage1 extends Stage1Info {
  podDir: string;
  annotations: AnnotationLike[];
}

/** Reads `<pod>/stage1/manifest`. Errors from `@rktnetes/stage1-abi` (`stage1.manifest.*`, `stage1.interface-version.invalid`). */
export async function readPodStage1(podDir: string): Promise<PodStage1> {
  const annotations = await readStage1Annotations(podDir);
  return { podDir, annotations, ...describeStage1(annotations) };
}

/** Host path of an entrypoint; user error `stage1.entrypoint.missing` when not declared. */
export function entrypointPath(s1: PodStage1, name: Stage1EntrypointName): string {
  return stage1EntrypointPath(s1.podDir, requireStage1Entrypoint(s1.annotations, name));
}

/** Variables never passed to a stage1. */
const DROPPED_ENV = ['NODE_EXTRA_CA_CERTS'];

/** stage0's environment for a stage1 entrypoint, plus `extra`. */
export function stage1Env(extra: Record<string, string> = {}, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v !== undefined && !DROPPED_ENV.includes(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Replaces this process with an entrypoint: chdir to the pod directory, execve with argv[0] =
 * the entrypoint's host path. `keepFds` stay open (the pod lock for run). Never returns;
 * failure to exec is a system error `stage1.exec`.
 */
export function execEntrypoint(sys: Sys, s1: PodStage1, name: Stage1EntrypointName, args: readonly string[], opts: { env?: Record<string, string>; keepFds?: number[] } = {}): never {
  const path = entrypointPath(s1, name);
  sys.chdir(s1.podDir);
  try {
    return sys.execve(path, [path, ...args], opts.env ?? stage1Env(), { keepFds: opts.keepFds ?? [] });
  } catch (e) {
    throw systemError('stage1.exec', `cannot execute stage1 ${name} entrypoint ${path}`, { cause: e, details: { path } });
  }
}

/** How a child entrypoint's output is wired. */
export interface RunEntrypointOptions {
  /** where stdout goes: inherited (default) or discarded */
  stdout?: 'inherit' | 'ignore';
  env?: Record<string, string>;
}

/**
 * Runs an entrypoint as a child process (cwd = pod directory, stdin closed, stderr
 * inherited) and resolves with its exit status (128+signal when killed). Failing to start it
 * is a system error `stage1.exec`.
 */
export async function runEntrypoint(s1: PodStage1, name: Stage1EntrypointName, args: readonly string[], opts: RunEntrypointOptions = {}): Promise<number> {
  const path = entrypointPath(s1, name);
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(path, [...args], {
      cwd: s1.podDir,
      env: opts.env ?? stage1Env(),
      stdio: ['ignore', opts.stdout ?? 'inherit', 'inherit'],
    });
    child.on('error', (e) => reject(systemError('stage1.exec', `cannot execute stage1 ${name} entrypoint ${path}`, { cause: e, details: { path } })));
    child.on('close', (code, signal) => resolve(code === null && signal === null ? EXIT_FAILURE : exitStatusOf(code, signal)));
  });
}

/** A user error for an entrypoint that exited non-zero. */
export function entrypointFailed(name: string, status: number, uuid: string): Error {
  return userError('stage1.failed', `stage1 ${name} entrypoint of pod ${uuid} failed with exit status ${status}`, { details: { status } });
}
