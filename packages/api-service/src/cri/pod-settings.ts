/**
 * The pod-level settings of the CRI (`LinuxPodSandboxConfig`: sysctls, cgroup parent, the pid
 * namespace of the sandbox) as `rkt app sandbox` flags, and the namespace and propagation
 * settings of a container as `rkt app add` flags. Everything invalid is INVALID_ARGUMENT before
 * rkt runs.
 */
import { isRktError } from '@rktnetes/errors';
import { checkSysctls, parseCgroupParent } from '@rktnetes/stage1-abi';
import { invalidArgument } from './grpc';
import type { Mount, NamespaceOption, PodSandboxConfig } from './messages';

/**
 * The `--sysctl` flags of a sandbox's sysctls: namespaced ones only (the IPC ones, `net.*`,
 * `kernel.hostname`/`domainname`), no `net.*` with the node's network and no IPC ones with the
 * node's IPC namespace (as runc refuses them). INVALID_ARGUMENT otherwise.
 */
export function sysctlFlags(config: Pick<PodSandboxConfig, 'linux'>): string[] {
  const sysctls = config.linux?.sysctls ?? {};
  const ns = config.linux?.security_context?.namespace_options;
  try {
    checkSysctls(sysctls, { hostNetwork: ns?.network === 'NODE', hostIpc: ns?.ipc === 'NODE' });
  } catch (e) {
    throw isRktError(e) ? invalidArgument(e.message) : e;
  }
  return Object.entries(sysctls).map(([k, v]) => `--sysctl=${k}=${v}`);
}

/** The `--cgroup-parent` flag (cgroupfs driver: a path from each hierarchy's root); none when empty. INVALID_ARGUMENT for `..`. */
export function cgroupParentFlags(config: Pick<PodSandboxConfig, 'linux'>): string[] {
  const parent = config.linux?.cgroup_parent ?? '';
  if (parent === '') return [];
  try {
    return [`--cgroup-parent=${parseCgroupParent(parent)}`];
  } catch (e) {
    throw isRktError(e) ? invalidArgument(`cgroup_parent ${JSON.stringify(parent)}: a path below the cgroup hierarchy's root is needed`) : e;
  }
}

/**
 * The `--pid` flag of a sandbox: `host` for the node's pid namespace; `POD` and `CONTAINER`
 * keep the pod's own (a container asks for its own with its own option). INVALID_ARGUMENT for
 * `TARGET`.
 */
export function sandboxPidFlags(config: Pick<PodSandboxConfig, 'linux'>): string[] {
  const pid = config.linux?.security_context?.namespace_options?.pid ?? 'POD';
  if (pid === 'TARGET') throw invalidArgument('the sandbox pid namespace cannot be TARGET');
  return pid === 'NODE' ? ['--pid=host'] : [];
}

/**
 * The `--pid-namespace` flag of a container: `CONTAINER` is a pid namespace of its own, in
 * which the container's process is PID 1; `POD` shares the pod's; `NODE` is the node's, which
 * only a sandbox in the node's pid namespace gives (so no flag). INVALID_ARGUMENT for `NODE` in
 * any other sandbox and for `TARGET` (another container's namespace).
 */
export function containerPidFlags(ns: NamespaceOption | null | undefined, sandboxPid: NamespaceOption['pid'] | undefined): string[] {
  const pid = ns?.pid ?? 'POD';
  if (pid === 'CONTAINER') return ['--pid-namespace=private'];
  if (pid === 'NODE' && sandboxPid !== 'NODE') throw invalidArgument('pid namespace NODE needs a sandbox in the node\'s pid namespace');
  if (pid === 'TARGET') throw invalidArgument('pid namespace TARGET (another container\'s) is not supported');
  return [];
}

/**
 * The `propagation=` of a mount's `--mnt-volume`: PRIVATE (the default) `rprivate`,
 * HOST_TO_CONTAINER `rslave`, BIDIRECTIONAL `rshared` (the host path must be on a shared
 * mount; rkt refuses it otherwise).
 */
export function mountPropagation(m: Pick<Mount, 'propagation'>): 'rprivate' | 'rslave' | 'rshared' {
  if (m.propagation === 'PROPAGATION_BIDIRECTIONAL') return 'rshared';
  if (m.propagation === 'PROPAGATION_HOST_TO_CONTAINER') return 'rslave';
  return 'rprivate';
}
