/**
 * Helpers of the native app/start and app/stop tests: the mutable-pod helpers (a mutable pod
 * started as stage0 starts it, apps staged into it, the crossing entrypoints run natively or
 * through the Node implementation with `RKTNETES_STAGE1_RUN=node`; they live in `./mutable`),
 * and stderr made comparable between the two implementations.
 */
import type { TestPod } from './pod';

export { addApp, crossing, podApps, stageApp, startMutablePod, type MutablePod, type Ran, type Way } from './mutable';

/**
 * Stderr made comparable between two pods and two ways: the pod dir and uuid replaced, pids in
 * the pod as `<pid>`, and the implementation choice lines (`stage1: <ep>: native`, `stage1: <ep>:
 * node fallback (...)`) dropped.
 */
export function comparableStderr(pod: TestPod, stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !/^stage1: app_(start|stop): (native|node fallback \(.*\))$/.test(l))
    .map((l) => l.replaceAll(pod.dir, '<pod>').replaceAll(pod.uuid, '<uuid>').replace(/pid \d+ in the pod/, 'pid <pid> in the pod'));
}
