/**
 * SELinux labels given to run by stage0 (`RKT_SELINUX_CONTEXT`, `RKT_SELINUX_MOUNT_CONTEXT`; see
 * docs/stage1-interface.md, "SELinux"). Run trusts its environment, as rkt's stage1 did: only
 * stage0 sets these variables, and whoever can exec run can do anything run does.
 *
 * The process label goes into the init spec (`selinux-context`): the init writes it to
 * `/proc/self/attr/exec` before exec'ing each app, event handler and `init exec` command. The
 * mount label goes into the options of the mounts made for the apps (/dev, /dev/pts, /dev/shm,
 * here; the init's masking tmpfs, through `selinux-mount-context`). Empty or unset variables:
 * nothing of this happens.
 */
import { systemError, userError } from '@rktnetes/errors';
import { selinuxFromEnv } from '@rktnetes/stage1-abi';
import type { MountInfo } from '@rktnetes/sys';
import { unescapeSpecValue } from './spec';

/** The pod's labels; a field is absent when its variable is empty or unset. */
export interface PodSelinux {
  /** label of the apps' processes */
  context?: string;
  /** label of the apps' mounts */
  mountContext?: string;
}

const NAME = /^[A-Za-z0-9_.-]+$/;
const LEVEL = /^[A-Za-z0-9_.,:-]+$/;

/** Whether `label` is `user:role:type:level` made of characters SELinux names use (no spaces, quotes, NULs). */
export function isSelinuxLabel(label: string): boolean {
  const parts = label.split(':');
  return parts.length >= 4 && parts.slice(0, 3).every((p) => NAME.test(p)) && LEVEL.test(parts.slice(3).join(':'));
}

/**
 * The labels in run's environment. Errors: `stage1.selinux.invalid` (user) when a label is not
 * `user:role:type:level`; `stage1.selinux.unavailable` (system) when a mount label is given but
 * no selinuxfs is mounted (`mounts`, the caller's mount table): the kernel would refuse the
 * `context=` option on the apps' mounts. A process label on such a host is left for the init,
 * which fails each app it cannot label.
 */
export function podSelinux(env: NodeJS.ProcessEnv, mounts: readonly MountInfo[]): PodSelinux {
  const { context, mountContext } = selinuxFromEnv(env);
  for (const [name, v] of [['RKT_SELINUX_CONTEXT', context], ['RKT_SELINUX_MOUNT_CONTEXT', mountContext]] as const) {
    if (v !== '' && !isSelinuxLabel(v)) throw userError('stage1.selinux.invalid', `${name} ${JSON.stringify(v)} is not an SELinux label user:role:type:level`, { details: { variable: name, label: v } });
  }
  if (mountContext !== '' && !mounts.some((m) => m.fsType === 'selinuxfs')) {
    throw systemError('stage1.selinux.unavailable', `SELinux mount label ${mountContext} given (RKT_SELINUX_MOUNT_CONTEXT), but SELinux is not enabled on this host (no selinuxfs mounted)`, {
      details: { label: mountContext },
    });
  }
  return { ...(context ? { context } : {}), ...(mountContext ? { mountContext } : {}) };
}

/** Mount data with `context="<label>"` appended; unchanged without a label. */
export function withMountContext(data: string, mountContext: string | undefined): string {
  if (!mountContext) return data;
  return data === '' ? `context="${mountContext}"` : `${data},context="${mountContext}"`;
}

/**
 * The labels recorded in an init spec's pod keys (`selinux-context`, `selinux-mount-context`),
 * for steps after run that make mounts or processes for the pod (a mutable pod's app/add).
 */
export function selinuxOfSpec(spec: string): PodSelinux {
  const out: PodSelinux = {};
  for (const line of spec.split('\n')) {
    if (line.startsWith('app ')) break; // pod keys come first
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    if (key === 'selinux-context') out.context = unescapeSpecValue(line.slice(sp + 1));
    else if (key === 'selinux-mount-context') out.mountContext = unescapeSpecValue(line.slice(sp + 1));
  }
  return out;
}
