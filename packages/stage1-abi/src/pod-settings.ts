/**
 * Values of the pod-level settings that cross from stage0 to a stage1 in the pod manifest:
 * appc's `os/unix/sysctl` pod isolator, and the rktnetes extensions of extensions.ts (cgroup
 * parent, pid namespaces, volume propagation). stage0 checks them when it writes the manifest,
 * a stage1 again when it reads it; both with these functions (docs/stage1-interface.md,
 * "Pod settings").
 */
import { posix } from 'node:path';
import { userError } from '@rktnetes/errors';
import { VOLUME_PROPAGATION_KEY } from './extensions';

/** The namespace a namespaced sysctl belongs to. */
export type SysctlNamespace = 'ipc' | 'net' | 'uts';

/** The IPC sysctls outside `fs.mqueue.*` (the kernel's ipc namespace tables, as runc lists them). */
export const IPC_SYSCTLS: readonly string[] = [
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
];

/** The UTS sysctls. */
export const UTS_SYSCTLS: readonly string[] = ['kernel.hostname', 'kernel.domainname'];

/**
 * A sysctl name in dotted form: `net.ipv4.ip_forward` stays, a slash-separated one (its first
 * separator is a slash: `net/ipv4/conf/eth0.100/rp_filter`, the form Kubernetes accepts for names
 * with dots in a component) is converted, dots and slashes swapped
 * (`net.ipv4.conf.eth0/100.rp_filter`). Undefined when the name is not a sysctl name.
 */
function dotted(name: string): string | undefined {
  const sep = /[./]/.exec(name)?.[0];
  if (sep === undefined) return undefined;
  const parts = name.split(sep);
  const part = sep === '/' ? /^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$/ : /^[A-Za-z0-9_][A-Za-z0-9_/:@+-]*$/;
  if (parts.some((p) => !part.test(p) || p.split(/[./]/).some((q) => q === '' || q === '..'))) return undefined;
  return sep === '/' ? parts.map((p) => p.replace(/\./g, '/')).join('.') : parts.join('.');
}

/** The path of a sysctl below `/proc/sys` (`net.ipv4.ip_forward` is `net/ipv4/ip_forward`). */
export function sysctlPath(name: string): string {
  const d = dotted(name);
  if (d === undefined) throw userError('stage1.sysctl.invalid', `invalid sysctl name ${JSON.stringify(name)}`, { details: { sysctl: name } });
  return d.split('.').map((p) => p.replace(/\//g, '.')).join('/');
}

/**
 * The namespace of a sysctl, or undefined when it is not namespaced (then it would change the
 * whole host, and a pod may not set it): `kernel.shm*`, `kernel.msg*`, `kernel.sem`,
 * `fs.mqueue.*` are the IPC namespace's, `net.*` the network namespace's, `kernel.hostname` and
 * `kernel.domainname` the UTS namespace's.
 */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  const d = dotted(name);
  if (d === undefined) return undefined;
  if (IPC_SYSCTLS.includes(d) || d.startsWith('fs.mqueue.')) return 'ipc';
  if (d.startsWith('net.')) return 'net';
  if (UTS_SYSCTLS.includes(d)) return 'uts';
  return undefined;
}

/** What a pod shares with the host, for {@link checkSysctls}. */
export interface SysctlContext {
  /** the pod uses the host's network namespace */
  hostNetwork: boolean;
  /** the pod uses the host's IPC namespace */
  hostIpc: boolean;
}

/**
 * Checks the sysctls of a pod (the value of its `os/unix/sysctl` isolator): every name must be
 * namespaced ({@link sysctlNamespace}) and its namespace the pod's own (no `net.*` with the
 * host's network, no IPC sysctl with the host's IPC namespace, as runc refuses them); values
 * are single lines. Returns the sysctls as `/proc/sys` paths and values, in the given order.
 *
 * @throws RktError `stage1.sysctl.invalid` (user) naming the first bad sysctl
 */
export function checkSysctls(values: Readonly<Record<string, string>>, ctx: SysctlContext): Array<{ path: string; value: string }> {
  const out: Array<{ path: string; value: string }> = [];
  for (const [name, value] of Object.entries(values)) {
    const bad = (why: string) => userError('stage1.sysctl.invalid', `sysctl ${name}: ${why}`, { details: { sysctl: name } });
    if (dotted(name) === undefined) throw bad('not a valid sysctl name');
    const ns = sysctlNamespace(name);
    if (ns === undefined) throw bad('not a namespaced sysctl, a pod cannot set it');
    if (ns === 'net' && ctx.hostNetwork) throw bad('not allowed in the host network namespace');
    if (ns === 'ipc' && ctx.hostIpc) throw bad('not allowed in the host IPC namespace');
    if (typeof value !== 'string' || /[\n\0]/.test(value)) throw bad('the value must be one line of text');
    out.push({ path: sysctlPath(name), value });
  }
  return out;
}

/**
 * A cgroup parent as the pod's cgroups use it: a path from the root of each hierarchy, made
 * absolute and normalised (`kubepods//pod1/` is `/kubepods/pod1`); `/` and the empty string
 * mean the hierarchy's root.
 *
 * @throws RktError `stage1.cgroup-parent.invalid` (user) for `..` components, NUL bytes or newlines
 */
export function parseCgroupParent(value: string): string {
  if (/[\0\n]/.test(value) || value.split('/').includes('..')) {
    throw userError('stage1.cgroup-parent.invalid', `invalid cgroup parent ${JSON.stringify(value)}: a path below the cgroup hierarchy's root`, { details: { value } });
  }
  const norm = posix.normalize(`/${value}`).replace(/\/+$/, '');
  return norm;
}

/** The pid namespace of a pod: its own, or the host's. */
export type PodPidNamespace = 'private' | 'host';
/** The pid namespace of an app: the pod's, or its own. */
export type AppPidNamespace = 'pod' | 'private';

/**
 * The pod pid namespace of the value of the pod annotation (`private` when absent).
 *
 * @throws RktError `stage1.annotation.invalid` (user) for another value
 */
export function podPidNamespace(value: string | undefined): PodPidNamespace {
  if (value === undefined || value === '' || value === 'private') return 'private';
  if (value === 'host') return 'host';
  throw userError('stage1.annotation.invalid', `annotation rktnetes.io/stage1/pid-namespace: ${JSON.stringify(value)} is not private or host`, { details: { value } });
}

/**
 * The app pid namespace of the value of the app annotation (`pod` when absent).
 *
 * @throws RktError `stage1.annotation.invalid` (user) for another value
 */
export function appPidNamespace(value: string | undefined): AppPidNamespace {
  if (value === undefined || value === '' || value === 'pod') return 'pod';
  if (value === 'private') return 'private';
  throw userError('stage1.annotation.invalid', `annotation rktnetes.io/stage2/pid-namespace: ${JSON.stringify(value)} is not pod or private`, { details: { value } });
}

/** Mount propagation of a host volume's bind mount (the recursive forms, as the CRI uses them). */
export const MOUNT_PROPAGATIONS = ['rprivate', 'rslave', 'rshared'] as const;
export type MountPropagation = (typeof MOUNT_PROPAGATIONS)[number];

/** Whether `value` is one of {@link MOUNT_PROPAGATIONS}. */
export function isMountPropagation(value: unknown): value is MountPropagation {
  return typeof value === 'string' && (MOUNT_PROPAGATIONS as readonly string[]).includes(value);
}

/**
 * The propagation of a volume (its `propagation` key), undefined when not set (the stage1's
 * default: coreos makes volumes slaves of the host's mounts).
 *
 * @throws RktError `stage1.volume.invalid` (user) for an unknown value, or one on an `empty` volume
 */
export function volumePropagation(volume: { name?: string; kind?: string }): MountPropagation | undefined {
  const v = (volume as Record<string, unknown>)[VOLUME_PROPAGATION_KEY];
  if (v === undefined) return undefined;
  const bad = (why: string) => userError('stage1.volume.invalid', `volume ${volume.name ?? '?'}: ${why}`, { details: { volume: volume.name } });
  if (!isMountPropagation(v)) throw bad(`propagation ${JSON.stringify(v)} is not one of ${MOUNT_PROPAGATIONS.join(', ')}`);
  if (volume.kind !== 'host') throw bad('propagation is for host volumes');
  return v;
}
