/**
 * @rktnetes/stage1-kit/testing: the helpers of the stage1 flavors' tests, standing in for
 * stage0: a pod directory prepared from a stage1 image and app images, entrypoints started in it
 * with the pod lock held on RKT_LOCK_FD, the image built before the tests when its sources
 * changed, a private network namespace standing in for the host of `rkt` with CNI networks.
 * Test-only: never imported by a program.
 */
export { newestMtime, ensureBuilt, type EnsureBuiltOptions } from './build';
export { makePod, readPodPid, type TestApp, type TestPod } from './pod';
export { startEntrypoint, runEntrypoint, waitFor, lockHeld, type EntrypointResult, type RunningEntrypoint, type StartOptions } from './entrypoint';
export { rktEnv, netnsPath, nsenterArgs, addNetns, deleteNetns, runInNetns, httpGetIn, vethsIn, rktRulesIn, type TableRule } from './netns';
