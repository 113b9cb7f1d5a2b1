/**
 * The pod-level settings of the pod manifest that stage1-coreos applies (docs/stage1-interface.md,
 * "Pod settings"): appc's `os/unix/sysctl` pod isolator (namespaced sysctls, written by the
 * init's parent once the pod's namespaces exist), and the rktnetes pod annotations for the
 * cgroup parent and the pid namespace.
 */
import { getAnnotation, parseIsolator, type PodManifest } from '@rktnetes/schema';
import {
  ANNOTATION_POD_CGROUP_PARENT,
  ANNOTATION_POD_PID_NAMESPACE,
  type PodPidNamespace,
  type RunArgs,
  checkSysctls,
  parseCgroupParent,
  podPidNamespace,
} from '@rktnetes/stage1-abi';
import { networkMode } from './network';

/** What the pod manifest asks of the whole pod. */
export interface PodSettings {
  /** sysctls to set: paths below /proc/sys and values, in order */
  sysctls: Array<{ path: string; value: string }>;
  /** the cgroup parent (a path from each hierarchy's root; '' is the root), when one is asked for */
  cgroupParent?: string;
  /** `host`: the pod stays in the host's pid namespace */
  pid: PodPidNamespace;
}

/**
 * Reads the pod settings from the manifest and the run arguments: the sysctls of the last
 * `os/unix/sysctl` pod isolator, checked against the pod's namespaces (host network from
 * `--net`, host IPC from `--ipc=parent`); other pod isolators are reported through `warn` and
 * ignored. Errors (user): `stage1.sysctl.invalid`, `stage1.cgroup-parent.invalid`,
 * `stage1.annotation.invalid`, schema errors of the isolators.
 */
export function podSettings(manifest: PodManifest, args: Pick<RunArgs, 'net' | 'ipc'>, warn: (m: string) => void): PodSettings {
  let sysctl: Record<string, string> | undefined;
  for (const raw of manifest.isolators ?? []) {
    const iso = parseIsolator(raw);
    if (iso.kind === 'os/unix/sysctl') sysctl = iso.values;
    else warn(`pod isolator ${iso.kind === 'unknown' ? iso.name : iso.kind} is not supported by stage1-coreos, ignoring it`);
  }
  const sysctls = sysctl ? checkSysctls(sysctl, { hostNetwork: networkMode(args.net) === 'host', hostIpc: args.ipc === 'parent' }) : [];
  const parent = getAnnotation(manifest.annotations, ANNOTATION_POD_CGROUP_PARENT);
  return {
    sysctls,
    ...(parent !== undefined ? { cgroupParent: parseCgroupParent(parent) } : {}),
    pid: podPidNamespace(getAnnotation(manifest.annotations, ANNOTATION_POD_PID_NAMESPACE)),
  };
}
