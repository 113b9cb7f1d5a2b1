/**
 * Busybox test images: a rootfs made of Debian's static `/bin/busybox` (package busybox-static),
 * applet symlinks, `/etc/passwd`, `/etc/group` and the probe at `/probe`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { systemError } from '@rktnetes/errors';
import { buildAci, type AciCompression } from './aci';
import { PROBE_SCRIPT } from './probe-script';
import type { FileTree } from './tar';

/** Where Debian's busybox-static installs the static binary. */
export const BUSYBOX_PATH = '/bin/busybox';

/** The applets linked into `/bin` by default (all present in Debian 12's busybox-static). */
export const DEFAULT_APPLETS: readonly string[] = [
  'sh', 'ash', 'echo', 'cat', 'ls', 'id', 'sleep', 'true', 'false', 'env', 'pwd', 'hostname',
  'mount', 'umount', 'grep', 'sed', 'awk', 'head', 'tail', 'ps', 'kill', 'touch', 'mkdir', 'rmdir',
  'rm', 'cp', 'mv', 'ln', 'wc', 'tr', 'cut', 'sort', 'uniq', 'readlink', 'realpath', 'printf',
  'test', '[', 'stat', 'chmod', 'chown', 'date', 'dd', 'df', 'find', 'xargs', 'uname', 'whoami',
  'groups', 'ip', 'ifconfig', 'ping', 'nc', 'wget', 'nslookup', 'seq', 'timeout', 'tee', 'md5sum',
  'sha256sum', 'basename', 'dirname', 'yes', 'nproc', 'mktemp', 'stty', 'tty', 'setsid', 'pidof',
  'hexdump', 'od', 'expr', 'which', 'dmesg', 'free', 'uptime', 'sync', 'setpriv', 'nsenter',
];

/** Where busybox images install the probe. */
export const PROBE_PATH = '/probe';

/** The default `/etc/passwd`: root, `user` (1000:1000) and nobody. */
export const DEFAULT_PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'user:x:1000:1000:user:/home/user:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

/** The default `/etc/group`: root, `user` (1000), `extra` (1001, no members) and nogroup. */
export const DEFAULT_GROUP = ['root:x:0:', 'user:x:1000:', 'extra:x:1001:', 'nogroup:x:65534:', ''].join('\n');

/** Options of {@link busyboxTree}. */
export interface BusyboxTreeOptions {
  /** applets to link in `/bin` (default {@link DEFAULT_APPLETS}) */
  applets?: readonly string[];
  /** more applets on top of `applets` */
  extraApplets?: readonly string[];
  /** install the probe at `/probe` (default true) */
  probe?: boolean;
  /** the busybox binary to copy (default {@link BUSYBOX_PATH}) */
  busyboxPath?: string;
  passwd?: string;
  group?: string;
}

const binaryCache = new Map<string, Buffer>();

/** Whether the static busybox binary is installed. */
export function hasBusybox(path: string = BUSYBOX_PATH): boolean {
  return existsSync(path);
}

function busyboxBinary(path: string): Buffer {
  let bin = binaryCache.get(path);
  if (!bin) {
    if (!existsSync(path)) {
      throw systemError('testkit.busybox-missing', `busybox binary ${path} not found (apt-get install busybox-static)`);
    }
    bin = readFileSync(path);
    binaryCache.set(path, bin);
  }
  return bin;
}

/**
 * A rootfs {@link FileTree}: `/bin/busybox` with applet symlinks, `/etc/passwd`, `/etc/group`,
 * `/probe`, and empty `/dev`, `/proc`, `/sys`, `/tmp` (1777), `/root` (0700) and `/home/user`
 * (owned by 1000:1000).
 *
 * @throws RktError `testkit.busybox-missing` when the binary is not installed
 */
export function busyboxTree(opts: BusyboxTreeOptions = {}): FileTree {
  const tree: FileTree = {
    'bin/': { type: 'dir' },
    'bin/busybox': { type: 'file', content: busyboxBinary(opts.busyboxPath ?? BUSYBOX_PATH), mode: 0o755 },
  };
  for (const applet of new Set([...(opts.applets ?? DEFAULT_APPLETS), ...(opts.extraApplets ?? [])])) {
    if (applet !== 'busybox') tree[`bin/${applet}`] = { type: 'symlink', target: 'busybox' };
  }
  Object.assign(tree, {
    'etc/': { type: 'dir' },
    'etc/passwd': { type: 'file', content: opts.passwd ?? DEFAULT_PASSWD },
    'etc/group': { type: 'file', content: opts.group ?? DEFAULT_GROUP },
    'dev/': { type: 'dir' },
    'proc/': { type: 'dir' },
    'sys/': { type: 'dir' },
    'tmp/': { type: 'dir', mode: 0o1777 },
    'root/': { type: 'dir', mode: 0o700 },
    'home/user/': { type: 'dir', uid: 1000, gid: 1000 },
  } satisfies FileTree);
  if (opts.probe ?? true) tree[PROBE_PATH.slice(1)] = { type: 'file', content: PROBE_SCRIPT, mode: 0o755 };
  return tree;
}

/** Options of {@link busyboxManifest} and {@link busyboxImage}. */
export interface BusyboxImageOptions {
  /** image name (default `example.com/busybox-probe`) */
  name?: string;
  /** `app.exec` (default `['/probe']`) */
  exec?: string[];
  /** labels on top of os=linux, arch=amd64 (which they may override) */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /**
   * fields merged over the default app (`exec`, `user: '0'`, `group: '0'`), e.g. `environment`,
   * `workingDirectory`, `isolators`, `mountPoints`, `ports`; `null` leaves `app` out
   */
  app?: Record<string, unknown> | null;
  /** top-level manifest fields merged last (e.g. `dependencies`, `pathWhitelist`) */
  manifest?: Record<string, unknown>;
  /** files added to (or replacing those of) the busybox rootfs */
  extraFiles?: FileTree;
  busybox?: BusyboxTreeOptions;
  /** default 'none' */
  compression?: AciCompression;
}

/** The appc ImageManifest {@link busyboxImage} writes. */
export function busyboxManifest(opts: BusyboxImageOptions = {}): Record<string, unknown> {
  const labels = { os: 'linux', arch: 'amd64', ...opts.labels };
  const manifest: Record<string, unknown> = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: opts.name ?? 'example.com/busybox-probe',
    labels: Object.entries(labels).map(([name, value]) => ({ name, value })),
  };
  if (opts.app !== null) {
    manifest.app = { exec: opts.exec ?? [PROBE_PATH], user: '0', group: '0', ...opts.app };
  }
  if (opts.annotations) {
    manifest.annotations = Object.entries(opts.annotations).map(([name, value]) => ({ name, value }));
  }
  return { ...manifest, ...opts.manifest };
}

/**
 * A busybox ACI with a valid ImageManifest (acKind ImageManifest, acVersion 0.8.11, labels
 * os=linux arch=amd64, app exec/user '0'/group '0'), built deterministically.
 *
 * @throws RktError `testkit.busybox-missing` when the binary is not installed
 */
export async function busyboxImage(opts: BusyboxImageOptions = {}): Promise<Buffer> {
  return buildAci({
    manifest: busyboxManifest(opts),
    files: { ...busyboxTree(opts.busybox), ...opts.extraFiles },
    compression: opts.compression ?? 'none',
  });
}
