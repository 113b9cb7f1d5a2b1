/**
 * Pod-level settings of `rkt run`, `rkt prepare` and `rkt app sandbox`, and the per-app pid
 * namespace, written into the pod manifest for the stage1 (docs/stage1-interface.md, "Pod
 * settings"):
 *
 *   --sysctl=NAME=VALUE      a namespaced sysctl (kernel.shm*, kernel.msg*, kernel.sem,
 *                            fs.mqueue.*, net.*, kernel.hostname/domainname), repeatable:
 *                            appc's `os/unix/sysctl` pod isolator
 *   --cgroup-parent=PATH     the pod's cgroups go below PATH (from each hierarchy's root):
 *                            the `rktnetes.io/stage1/cgroup-parent` pod annotation
 *   --pid=private|host       the pod's pid namespace: `rktnetes.io/stage1/pid-namespace`
 *   --pid-namespace=pod|private   (per app) `rktnetes.io/stage2/pid-namespace`
 */
import { isRktError } from '@rktnetes/errors';
import { setAnnotation, type Annotation, type RuntimeApp } from '@rktnetes/schema';
import {
  ANNOTATION_APP_PID_NAMESPACE,
  ANNOTATION_POD_CGROUP_PARENT,
  ANNOTATION_POD_PID_NAMESPACE,
  type AppPidNamespace,
  type PodPidNamespace,
  parseCgroupParent,
  sysctlNamespace,
} from '@rktnetes/stage1-abi';
import { invalidFlag, type FlagSpec } from './flags';

/** The pod-level settings a command line gave. */
export interface PodSettingsArgs {
  /** `--sysctl`, in order; a repeated name keeps its last value */
  sysctls: Array<[name: string, value: string]>;
  /** `--cgroup-parent`, normalised */
  cgroupParent?: string;
  /** `--pid` */
  pid?: PodPidNamespace;
}

/** No pod settings. */
export function emptyPodSettings(): PodSettingsArgs {
  return { sysctls: [] };
}

/** Parses a `--sysctl` value: `NAME=VALUE`, NAME a namespaced sysctl. Usage errors `cli.invalid-value`. */
export function parseSysctlFlag(value: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw invalidFlag('sysctl', value, 'expected NAME=VALUE');
  const name = value.slice(0, eq);
  if (sysctlNamespace(name) === undefined) throw invalidFlag('sysctl', value, `${name} is not a namespaced sysctl (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*, kernel.hostname, kernel.domainname)`);
  if (/[\n\0]/.test(value)) throw invalidFlag('sysctl', value, 'the value must be one line');
  return [name, value.slice(eq + 1)];
}

/** Parses a `--pid` value. Usage errors `cli.invalid-value`. */
export function parsePidFlag(value: string): PodPidNamespace {
  if (value === 'private' || value === 'host') return value;
  throw invalidFlag('pid', value, 'expected private or host');
}

/** Parses a `--pid-namespace` value. Usage errors `cli.invalid-value`. */
export function parsePidNamespaceFlag(value: string): AppPidNamespace {
  if (value === 'pod' || value === 'private') return value;
  throw invalidFlag('pid-namespace', value, 'expected pod or private');
}

/** The flags `--sysctl`, `--cgroup-parent` and `--pid`, filling `o`. */
export function podSettingsFlagSpecs(o: PodSettingsArgs): FlagSpec[] {
  return [
    {
      name: 'sysctl',
      kind: 'value',
      set: (v) => {
        const [name, value] = parseSysctlFlag(v);
        o.sysctls = [...o.sysctls.filter(([n]) => n !== name), [name, value]];
      },
    },
    {
      name: 'cgroup-parent',
      kind: 'value',
      set: (v) => {
        try {
          o.cgroupParent = parseCgroupParent(v);
        } catch (e) {
          throw isRktError(e) ? invalidFlag('cgroup-parent', v, 'a path below the cgroup hierarchy root, without ..') : e;
        }
      },
    },
    { name: 'pid', kind: 'value', set: (v) => (o.pid = parsePidFlag(v)) },
  ];
}

/**
 * Adds the settings to a pod manifest being built (the raw object, before it is parsed): the
 * `os/unix/sysctl` pod isolator, the cgroup parent and pid namespace annotations (only what
 * was asked for).
 */
export function applyPodSettings(pm: Record<string, unknown>, o: PodSettingsArgs): void {
  if (o.sysctls.length) {
    const isolators = ((pm.isolators as unknown[] | undefined) ?? []).filter((i) => (i as { name?: string }).name !== 'os/unix/sysctl');
    pm.isolators = [...isolators, { name: 'os/unix/sysctl', value: Object.fromEntries(o.sysctls) }];
  }
  let annotations = pm.annotations as Annotation[] | undefined;
  if (o.cgroupParent !== undefined) annotations = setAnnotation(annotations, ANNOTATION_POD_CGROUP_PARENT, o.cgroupParent || '/');
  if (o.pid !== undefined && o.pid !== 'private') annotations = setAnnotation(annotations, ANNOTATION_POD_PID_NAMESPACE, o.pid);
  if (annotations) pm.annotations = annotations;
}

/** The runtime app with the `--pid-namespace` annotation, when one was given. */
export function applyAppPidNamespace(ra: RuntimeApp, pid: AppPidNamespace | undefined): RuntimeApp {
  if (pid === undefined) return ra;
  return { ...ra, annotations: setAnnotation(ra.annotations, ANNOTATION_APP_PID_NAMESPACE, pid) };
}
