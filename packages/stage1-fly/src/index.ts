/**
 * @rktnetes/stage1-fly: the fly stage1 flavor (one app, chroot only, host network) as a
 * library: the pieces its entrypoints are made of, exported for tests and tools. The
 * executable is `src/bin/stage1-fly.ts`, shipped in `dist/stage1-fly.aci`.
 */
export { entrypointOf, debugRequested, FLY_ENTRYPOINTS, FLY_PROGRAM, type FlyEntrypoint } from './dispatch';
export { PGID_FILE, podPgidPath, readPodPgid, flyLogger, type EntrypointContext } from './context';
export { resolveInRoot, findExecutable } from './root-path';
export { resolveCredentials, lookupIdInRoot, type Credentials, type CredentialSpec, type ResolveCredentialsOptions } from './credentials';
export { loadFlyPod, readFlyPodManifest, flyAppEnv, envValue, isDockerConverted, DOCKER_REPOSITORY_ANNOTATION, type FlyPod } from './pod';
export { evaluateVolumeMounts, type VolumeMount } from './volumes';
export {
  planMounts,
  performMounts,
  createEmptyVolumes,
  readOnlyRemountFlags,
  FALLBACK_HOSTS,
  type MountStep,
  type MountPlan,
  type MountPlanInput,
  type EmptyVolumeDir,
  type PerformMountsOptions,
} from './mounts';
export { prepareFlyRun, flyRun, type FlyExec } from './run';
export { prepareFlyEnter, flyEnter, parseFlyEnterArgs, findHostProgram, DEFAULT_ENTER_COMMAND, type FlyEnterExec } from './enter';
export { flyStop, type FlyStopResult } from './stop';
export { flyGc, type FlyGcResult } from './gc';
