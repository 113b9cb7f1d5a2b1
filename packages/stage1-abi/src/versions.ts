/**
 * The stage1 interface versions. A stage1 image declares its version with the
 * `coreos.com/rkt/stage1/interface-version` annotation (absent: 1). Versions only add: a flag
 * introduced in version N is sent only to stage1s declaring N or later.
 */
import { RktError } from '@rktnetes/errors';

/** Every version rkt defined, oldest first. */
export const STAGE1_INTERFACE_VERSIONS = [1, 2, 3, 4, 5, 6] as const;
export type Stage1InterfaceVersion = (typeof STAGE1_INTERFACE_VERSIONS)[number];
/** The version our stage1 flavors implement and declare. */
export const LATEST_STAGE1_INTERFACE_VERSION = 6;
/** The version assumed when a stage1 manifest has no interface-version annotation. */
export const DEFAULT_STAGE1_INTERFACE_VERSION = 1;

/** What one version added. */
export interface InterfaceVersionInfo {
  version: number;
  /** `entrypoint --flag` or `entrypoint` (a whole entrypoint) or `env NAME` */
  added: readonly string[];
  note?: string;
}

/** The table docs/stage1-interface.md shows, as data. */
export const STAGE1_INTERFACE_HISTORY: readonly InterfaceVersionInfo[] = [
  {
    version: 1,
    added: [
      'run --debug',
      'run --net',
      'run --interactive',
      'run --local-config',
      'run --private-users',
      'run --mds-token',
      'enter --pid',
      'enter --appname',
      'gc --debug',
      'stop --force',
      'env RKT_LOCK_FD',
    ],
    note: 'the base interface: run, enter, gc and the optional stop entrypoint',
  },
  { version: 2, added: ['run --hostname'] },
  { version: 3, added: ['run --disable-capabilities-restriction', 'run --disable-paths', 'run --disable-seccomp'] },
  { version: 4, added: ['run --dns-conf-mode'] },
  {
    version: 5,
    added: ['run --mutable', 'gc --local-config', 'app/add', 'app/start', 'app/stop', 'app/rm', 'attach', 'env RKT_STAGE1_ENTERCMD', 'env RKT_STAGE1_ENTERPID', 'env RKT_STAGE1_ENTERAPP'],
    note: 'mutable pods and the crossing entrypoints; rkt marked these experimental',
  },
  { version: 6, added: ['run --ipc'] },
];

/**
 * The version a stage1 run flag appeared in; flags not listed are version 1. Builders omit a
 * flag when the stage1's version is older.
 */
export const RUN_FLAG_SINCE = {
  hostname: 2,
  'disable-capabilities-restriction': 3,
  'disable-paths': 3,
  'disable-seccomp': 3,
  'dns-conf-mode': 4,
  mutable: 5,
  ipc: 6,
} as const;

/** The version a gc flag appeared in. */
export const GC_FLAG_SINCE = { 'local-config': 5 } as const;

/**
 * Validates an interface version given to a builder: an integer ≥ 1. Versions newer than
 * {@link LATEST_STAGE1_INTERFACE_VERSION} are accepted (they can only have added things).
 * Throws a user error `stage1.interface-version.invalid`.
 */
export function checkInterfaceVersion(v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RktError('stage1.interface-version.invalid', `invalid stage1 interface version ${v}`, { kind: 'user', details: { version: v } });
  }
  return v;
}

/** Whether a stage1 of version `v` knows something added in version `since`. */
export const supports = (v: number, since: number) => v >= since;
