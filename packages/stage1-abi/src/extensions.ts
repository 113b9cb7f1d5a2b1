/**
 * rktnetes extensions of the stage1 interface (docs/stage1-interface.md): names stage0 sends and
 * stage1-coreos honours; rkt's own stage1s ignore them.
 */
import { posix } from 'node:path';
import { userError } from '@rktnetes/errors';

/** app/stop: seconds to wait after the stop signal before SIGKILL (decimal; default 10). */
export const ENV_STOP_TIMEOUT = 'RKTNETES_STOP_TIMEOUT';

/** App annotation: `true` closes the app's stdin when the first attach session that wrote it ends (CRI StdinOnce). */
export const ANNOTATION_APP_STDIN_ONCE = 'rktnetes.io/stage2/stdin-once';

/** App annotation: an absolute host path that receives a copy of the app's log records (CRI log_path). */
export const ANNOTATION_APP_LOG_PATH = 'rktnetes.io/stage2/log-path';

/**
 * App annotation: the app's seccomp profile, the JSON text of an OCI / Docker profile (format:
 * `seccomp-profile.ts`). It replaces the app's seccomp isolators and the stage1's default filter;
 * `--disable-seccomp` still turns filtering off.
 */
export const ANNOTATION_APP_SECCOMP_PROFILE = 'rktnetes.io/stage2/seccomp-profile';

/**
 * App annotation: the paths (inside the app) to hide, a JSON array of absolute paths (see
 * {@link parsePathList}). When present, even empty, it replaces the stage1's default masked paths
 * for this app.
 */
export const ANNOTATION_APP_MASKED_PATHS = 'rktnetes.io/stage2/masked-paths';

/** App annotation: the paths to make read-only, as {@link ANNOTATION_APP_MASKED_PATHS}; replaces the stage1's defaults. */
export const ANNOTATION_APP_READONLY_PATHS = 'rktnetes.io/stage2/readonly-paths';

/** The value of a path-list annotation: a JSON array of the paths, in order. */
export function formatPathList(paths: readonly string[]): string {
  return JSON.stringify(paths);
}

/**
 * Parses a path-list annotation value: a JSON array of absolute paths without NUL bytes,
 * normalised (`/a//b/` is `/a/b`), duplicates dropped, order kept.
 *
 * @throws RktError `stage1.annotation.invalid` (user) naming the annotation
 */
export function parsePathList(value: string, annotation: string): string[] {
  const bad = (why: string) => userError('stage1.annotation.invalid', `annotation ${annotation}: ${why}`, { details: { annotation, value } });
  let list: unknown;
  try {
    list = JSON.parse(value);
  } catch {
    throw bad('not a JSON array of paths');
  }
  if (!Array.isArray(list)) throw bad('not a JSON array of paths');
  const out: string[] = [];
  for (const p of list) {
    if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) throw bad(`${JSON.stringify(p)} is not an absolute path`);
    const norm = posix.normalize(p).replace(/(.)\/+$/, '$1');
    if (!out.includes(norm)) out.push(norm);
  }
  return out;
}

/**
 * The paths a stage1 hides from every app by default (rkt's protectKernelHidden* set, Docker's
 * masked paths): kernel memory and symbols, key and timer lists, firmware and power controls.
 * Applied unless `--disable-paths` or the app's {@link ANNOTATION_APP_MASKED_PATHS}.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/config.gz',
  '/proc/kallsyms',
  '/proc/kcore',
  '/proc/keys',
  '/proc/kmem',
  '/proc/latency_stats',
  '/proc/mem',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
  '/sys/fs',
  '/sys/hypervisor',
  '/sys/module',
  '/sys/power',
]);

/**
 * The paths a stage1 makes read-only for every app by default (`/sys` is read-only as a whole).
 * Applied unless `--disable-paths` or the app's {@link ANNOTATION_APP_READONLY_PATHS}.
 */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);

/** The masked and read-only paths of one app, inside its root, in order. */
export interface AppPathLists {
  masked: string[];
  readOnly: string[];
}

/**
 * The masked and read-only paths of an app: each list is the app's annotation when it has one
 * (even empty, and even with `--disable-paths`), else the default list, else (with
 * `disablePaths`, `rkt run --insecure-options=paths`) none. `annotations` are the app's
 * (the pod manifest's runtime app); the first annotation of a name counts.
 *
 * @throws RktError `stage1.annotation.invalid` (user) for a malformed path-list annotation
 */
export function appPathLists(annotations: readonly { name: string; value: string }[] | undefined, disablePaths: boolean): AppPathLists {
  const list = (name: string, defaults: readonly string[]): string[] => {
    const value = annotations?.find((a) => a.name === name)?.value;
    if (value !== undefined) return parsePathList(value, name);
    return disablePaths ? [] : [...defaults];
  };
  return { masked: list(ANNOTATION_APP_MASKED_PATHS, DEFAULT_MASKED_PATHS), readOnly: list(ANNOTATION_APP_READONLY_PATHS, DEFAULT_READONLY_PATHS) };
}

/**
 * Pod annotation: the cgroup the pod's cgroups go below in every hierarchy, a path from the
 * hierarchy's root (`/kubepods/burstable/pod1234`), created when missing (CRI `cgroup_parent`,
 * cgroupfs driver). Without it a stage1 chooses (coreos: below the caller's own cgroup). See
 * `parseCgroupParent`.
 */
export const ANNOTATION_POD_CGROUP_PARENT = 'rktnetes.io/stage1/cgroup-parent';

/** Pod annotation: `host` keeps the pod in the host's pid namespace (CRI pid `NODE`); `private` (the default) gives it one of its own. */
export const ANNOTATION_POD_PID_NAMESPACE = 'rktnetes.io/stage1/pid-namespace';

/** App annotation: `private` gives the app a pid namespace of its own in which it is PID 1 (CRI pid `CONTAINER`); `pod` (the default) shares the pod's. */
export const ANNOTATION_APP_PID_NAMESPACE = 'rktnetes.io/stage2/pid-namespace';

/**
 * Key of an appc host volume (a rktnetes addition next to rkt's `recursive`): the mount
 * propagation of the volume's bind mount, one of {@link MOUNT_PROPAGATIONS}. See
 * `volumePropagation`.
 */
export const VOLUME_PROPAGATION_KEY = 'propagation';
