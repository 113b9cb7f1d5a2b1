/**
 * The on-disk layout as functions. Every path a stage reads or writes in the data directory or a
 * pod directory is computed here, with the same names rkt uses, so a rkt stage1 and ours find
 * the same files. See docs/on-disk-format.md.
 *
 * Functions taking `podDir` expect the pod's current directory (`podDir(dataDir, state, uuid)`,
 * or `.` inside a stage1, whose cwd is the pod directory).
 */
import { join } from 'node:path';
import { usageError } from '@rktnetes/errors';
import type { PodDirState } from './states';

// ---------------------------------------------------------------- names inside a pod directory

/** Pod manifest (appc PodManifest JSON), written by stage0 during prepare. */
export const POD_MANIFEST_FILE = 'pod';
/** Empty file whose mtime records when the pod was created (prepare time). */
export const POD_CREATED_FILE = 'pod-created';
/** Lock file serialising pod manifest mutations (`rkt app add/rm`); never the manifest itself. */
export const POD_MANIFEST_LOCK_FILE = 'pod.lck';
/** Written by stage1 run: pid of the process `enter` should join. */
export const POD_PID_FILE = 'pid';
/** Written by stage1 run instead of `pid`: pid of the parent of that process (which has exactly one child). */
export const POD_PPID_FILE = 'ppid';
/** Optionally written by stage1 run, before pid/ppid: the pod's cgroup below the `name=systemd` root. */
export const POD_SUBCGROUP_FILE = 'subcgroup';
/** Written by the stage1 networking: JSON array of the networks the pod joined. */
export const POD_NET_INFO_FILE = 'net-info.json';
/** Written by the stage1 networking: path of the pod's persisted network namespace. */
export const POD_NETNS_FILE = 'netns';
/** Private to the coreos-style stage1: its run flags, saved for its later entrypoints. */
export const POD_RUNTIME_CONFIG_FILE = 'runtime-config';
/** Directory holding the stage1 image (`manifest` + `rootfs/`). */
export const STAGE1_DIR = 'stage1';
/** Tree store id of the stage1 image rendered for this pod. */
export const STAGE1_TREE_STORE_ID_FILE = 'stage1TreeStoreID';
/** Per-app information directory (`appsinfo/<app>/`). */
export const APPS_INFO_DIR = 'appsinfo';
/** File in `appsinfo/<app>/`: the app's image manifest. */
export const APP_INFO_MANIFEST_FILE = 'manifest';
/** File in `appsinfo/<app>/`: the app image's tree store id (overlay pods only). */
export const APP_TREE_STORE_ID_FILE = 'treeStoreID';
/** Empty marker: the pod's images are overlay mounts of tree store renders. */
export const OVERLAY_PREPARED_FILE = 'overlay-prepared';
/** Marker holding `shift:count`: the pod was prepared for user namespaces with that range. */
export const PRIVATE_USERS_PREPARED_FILE = 'private-users-prepared';
/** Directory with the upper and work dirs of overlay mounts (`overlay/<treeStoreID>/{upper,work}/<app>`). */
export const OVERLAY_DIR = 'overlay';
/** Directory backing `empty` volumes. */
export const SHARED_VOLUMES_DIR = 'sharedVolumes';

// ----------------------------------------------------------- names inside the stage1 rootfs

/** In an image directory: the image manifest. */
export const IMAGE_MANIFEST_FILE = 'manifest';
/** In an image directory: the root filesystem. */
export const IMAGE_ROOTFS_DIR = 'rootfs';
/** Apps live at `/opt/stage2/<app>` inside the stage1 rootfs. */
export const STAGE2_DIR = 'opt/stage2';
/** Apps' exit statuses, `/rkt/status/<app>` inside the stage1 rootfs. */
export const STAGE1_STATUS_DIR = 'rkt/status';
/** Apps' environment files, `/rkt/env/<app>` inside the stage1 rootfs. */
export const STAGE1_ENV_DIR = 'rkt/env';
/** Attach helper state, `/rkt/iottymux/<app>/` inside the stage1 rootfs. */
export const STAGE1_IOTTYMUX_DIR = 'rkt/iottymux';
/** Symlink pointing to `ready` once the pod supervisor is ready. */
export const STAGE1_SUPERVISOR_STATUS = 'rkt/supervisor-status';
/** Per-app logs in the CRI log format (docs/stage1-interface.md "App logs"), relative to the stage1 root. */
export const STAGE1_LOG_DIR = 'rkt/log';
/** Target of {@link STAGE1_SUPERVISOR_STATUS} when the supervisor is ready. */
export const SUPERVISOR_READY = 'ready';
/** Written by stage0 for `--dns-conf-mode=resolv=stage0`: the resolv.conf stage1 exposes to apps. */
export const STAGE1_RESOLV_CONF = 'etc/rkt-resolv.conf';
/** Written by stage0 for `--dns-conf-mode=hosts=stage0`: the hosts file stage1 exposes to apps. */
export const STAGE1_HOSTS = 'etc/rkt-hosts';
/** Optional in a stage1 image: the base of the hosts file stage0 writes. */
export const STAGE1_HOSTS_FALLBACK = 'etc/hosts-fallback';

// ------------------------------------------------------------------- names in the data dir

/** Store directory (blobs, trees, database); its layout is docs/store.md. */
export const CAS_DIR = 'cas';
/** Pods directory, one subdirectory per {@link PodDirState}. */
export const PODS_DIR = 'pods';
/** Key locks directory. */
export const LOCKS_DIR = 'locks';
/** Key lock held shared by prepare/run and exclusively by image gc. */
export const PREPARE_LOCK = 'prepareLock';
/** Scratch directory for temporary files that must be on the data dir's filesystem. */
export const TMP_DIR = 'tmp';

/** Permission bits for regular files rkt writes in a pod directory (manifests, ids). */
export const DEFAULT_REGULAR_FILE_MODE = 0o640;
/** Permission bits for directories rkt creates in a pod directory. */
export const DEFAULT_REGULAR_DIR_MODE = 0o750;
/** Permission bits of the `pods/<state>` directories. */
export const PODS_DIR_MODE = 0o750;
/** Permission bits of {@link SHARED_VOLUMES_DIR}. */
export const SHARED_VOLUMES_MODE = 0o755;

/**
 * Rejects a name that would not stay one path component (app names, uuids, tree store ids):
 * empty, `.`, `..`, or containing `/` or NUL. Throws a usage error `path.invalid-component`.
 */
export function assertPathComponent(name: string, what: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw usageError('path.invalid-component', `invalid ${what} ${JSON.stringify(name)}: must be a single path component`, {
      details: { [what]: name },
    });
  }
  return name;
}

// ------------------------------------------------------------------------------ data dir

/** `$dataDir/cas`: the image store (see docs/store.md). */
export const casDir = (dataDir: string) => join(dataDir, CAS_DIR);
/** `$dataDir/locks`. */
export const locksDir = (dataDir: string) => join(dataDir, LOCKS_DIR);
/** `$dataDir/locks/prepareLock`. */
export const prepareLockPath = (dataDir: string) => join(locksDir(dataDir), PREPARE_LOCK);
/** `$dataDir/tmp`. */
export const tmpDir = (dataDir: string) => join(dataDir, TMP_DIR);
/** `$dataDir/pods`. */
export const podsRoot = (dataDir: string) => join(dataDir, PODS_DIR);
/** `$dataDir/pods/<state>`. */
export const podsDir = (dataDir: string, state: PodDirState) => join(podsRoot(dataDir), state);
/** `$dataDir/pods/<state>/<uuid>`. */
export const podDir = (dataDir: string, state: PodDirState, uuid: string) => join(podsDir(dataDir, state), assertPathComponent(uuid, 'pod uuid'));

// ------------------------------------------------------------------------ pod directory

/** `<pod>/pod`. */
export const podManifestPath = (pod: string) => join(pod, POD_MANIFEST_FILE);
/** `<pod>/pod-created`. */
export const podCreatedPath = (pod: string) => join(pod, POD_CREATED_FILE);
/** `<pod>/pod.lck`. */
export const podManifestLockPath = (pod: string) => join(pod, POD_MANIFEST_LOCK_FILE);
/** `<pod>/pid`. */
export const podPidPath = (pod: string) => join(pod, POD_PID_FILE);
/** `<pod>/ppid`. */
export const podPpidPath = (pod: string) => join(pod, POD_PPID_FILE);
/** `<pod>/subcgroup`. */
export const subcgroupPath = (pod: string) => join(pod, POD_SUBCGROUP_FILE);
/** `<pod>/net-info.json`. */
export const netInfoPath = (pod: string) => join(pod, POD_NET_INFO_FILE);
/** `<pod>/netns`. */
export const netnsPath = (pod: string) => join(pod, POD_NETNS_FILE);
/** `<pod>/runtime-config` (stage1-private). */
export const runtimeConfigPath = (pod: string) => join(pod, POD_RUNTIME_CONFIG_FILE);
/** `<pod>/stage1TreeStoreID`. */
export const stage1TreeStoreIdPath = (pod: string) => join(pod, STAGE1_TREE_STORE_ID_FILE);
/** `<pod>/overlay-prepared`. */
export const overlayPreparedPath = (pod: string) => join(pod, OVERLAY_PREPARED_FILE);
/** `<pod>/private-users-prepared`. */
export const privateUsersPreparedPath = (pod: string) => join(pod, PRIVATE_USERS_PREPARED_FILE);
/** `<pod>/sharedVolumes`. */
export const sharedVolumesPath = (pod: string) => join(pod, SHARED_VOLUMES_DIR);
/** `<pod>/sharedVolumes/<volume>`. */
export const sharedVolumePath = (pod: string, volume: string) => join(sharedVolumesPath(pod), assertPathComponent(volume, 'volume name'));

/** `<pod>/stage1`: the stage1 image directory. */
export const stage1ImagePath = (pod: string) => join(pod, STAGE1_DIR);
/** `<pod>/stage1/rootfs`: the stage1 root; entrypoint paths are relative to it. */
export const stage1RootfsPath = (pod: string) => join(stage1ImagePath(pod), IMAGE_ROOTFS_DIR);
/** `<pod>/stage1/manifest`: the stage1 image manifest (entrypoint annotations). */
export const stage1ManifestPath = (pod: string) => join(stage1ImagePath(pod), IMAGE_MANIFEST_FILE);

/** `<pod>/overlay`. */
export const overlayDir = (pod: string) => join(pod, OVERLAY_DIR);
/** `<pod>/overlay/<treeStoreID>`. */
export const overlayImageDir = (pod: string, treeStoreId: string) => join(overlayDir(pod), assertPathComponent(treeStoreId, 'tree store id'));
/**
 * `<pod>/overlay/<treeStoreID>/upper[/<app>]`: the overlay upper dir of an app's rootfs, or of
 * the stage1 rootfs when `app` is omitted.
 */
export const overlayUpperDir = (pod: string, treeStoreId: string, app?: string) =>
  app === undefined ? join(overlayImageDir(pod, treeStoreId), 'upper') : join(overlayImageDir(pod, treeStoreId), 'upper', assertPathComponent(app, 'app name'));
/** `<pod>/overlay/<treeStoreID>/work[/<app>]`: the matching overlay work dir. */
export const overlayWorkDir = (pod: string, treeStoreId: string, app?: string) =>
  app === undefined ? join(overlayImageDir(pod, treeStoreId), 'work') : join(overlayImageDir(pod, treeStoreId), 'work', assertPathComponent(app, 'app name'));

/** `<pod>/appsinfo`. */
export const appsInfoDir = (pod: string) => join(pod, APPS_INFO_DIR);
/** `<pod>/appsinfo/<app>`. */
export const appInfoDir = (pod: string, app: string) => join(appsInfoDir(pod), assertPathComponent(app, 'app name'));
/** `<pod>/appsinfo/<app>/manifest`: the app's image manifest as stage0 stored it. */
export const appInfoManifestPath = (pod: string, app: string) => join(appInfoDir(pod, app), APP_INFO_MANIFEST_FILE);
/** `<pod>/appsinfo/<app>/treeStoreID`. */
export const appTreeStoreIdPath = (pod: string, app: string) => join(appInfoDir(pod, app), APP_TREE_STORE_ID_FILE);

// ------------------------------------------------------ inside the stage1 rootfs, absolute

/** `<pod>/stage1/rootfs/opt/stage2`. */
export const appsDir = (pod: string) => join(stage1RootfsPath(pod), STAGE2_DIR);
/** `<pod>/stage1/rootfs/opt/stage2/<app>`: the app image directory. */
export const appDir = (pod: string, app: string) => join(appsDir(pod), assertPathComponent(app, 'app name'));
/** `<pod>/stage1/rootfs/opt/stage2/<app>/rootfs`. */
export const appRootfsPath = (pod: string, app: string) => join(appDir(pod, app), IMAGE_ROOTFS_DIR);
/** `<pod>/stage1/rootfs/opt/stage2/<app>/manifest`: the manifest extracted with the app image. */
export const appImageManifestPath = (pod: string, app: string) => join(appDir(pod, app), IMAGE_MANIFEST_FILE);

/**
 * Paths below a stage1 root. rkt reads statuses from the overlay upper dir when the pod uses
 * overlay (the stage1 rootfs is not mounted after the pod exits), so these take the stage1
 * root explicitly; see {@link effectiveStage1RootfsPath}.
 */
/** `<s1root>/rkt/status`. */
export const appsStatusDirIn = (stage1Root: string) => join(stage1Root, STAGE1_STATUS_DIR);
/** `<s1root>/rkt/status/<app>`: the app's exit status, decimal. */
export const appStatusPathIn = (stage1Root: string, app: string) => join(appsStatusDirIn(stage1Root), assertPathComponent(app, 'app name'));
/** `<s1root>/rkt/status/<app>-created`: empty file, mtime = app creation (`rkt app add`). */
export const appCreatedPathIn = (stage1Root: string, app: string) => join(appsStatusDirIn(stage1Root), `${assertPathComponent(app, 'app name')}-created`);
/** `<s1root>/rkt/status/<app>-started`: empty file, mtime = app start (`rkt app start`). */
export const appStartedPathIn = (stage1Root: string, app: string) => join(appsStatusDirIn(stage1Root), `${assertPathComponent(app, 'app name')}-started`);
/** `<s1root>/rkt/env`. */
export const appsEnvDirIn = (stage1Root: string) => join(stage1Root, STAGE1_ENV_DIR);
/** `<s1root>/rkt/env/<app>`: the app's environment file. */
export const appEnvPathIn = (stage1Root: string, app: string) => join(appsEnvDirIn(stage1Root), assertPathComponent(app, 'app name'));
/** `<s1root>/rkt/iottymux/<app>`. */
export const ioMuxDirIn = (stage1Root: string, app: string) => join(stage1Root, STAGE1_IOTTYMUX_DIR, assertPathComponent(app, 'app name'));
/** `<s1root>/rkt/supervisor-status`. */
export const supervisorStatusPathIn = (stage1Root: string) => join(stage1Root, STAGE1_SUPERVISOR_STATUS);
/** `<stage1 root>/rkt/log`: the per-app log files. */
export const appsLogDirIn = (stage1Root: string) => join(stage1Root, STAGE1_LOG_DIR);
/** `<stage1 root>/rkt/log/<app>`: an app's stdout and stderr records. */
export const appLogPathIn = (stage1Root: string, app: string) => join(appsLogDirIn(stage1Root), assertPathComponent(app, 'app name'));

/** `<s1root>/etc/rkt-resolv.conf`. */
export const resolvConfPathIn = (stage1Root: string) => join(stage1Root, STAGE1_RESOLV_CONF);
/** `<s1root>/etc/rkt-hosts`. */
export const hostsPathIn = (stage1Root: string) => join(stage1Root, STAGE1_HOSTS);
/** `<s1root>/etc/hosts-fallback`. */
export const hostsFallbackPathIn = (stage1Root: string) => join(stage1Root, STAGE1_HOSTS_FALLBACK);

/** `<pod>/stage1/rootfs/rkt/status`. */
export const appsStatusDir = (pod: string) => appsStatusDirIn(stage1RootfsPath(pod));
/** `<pod>/stage1/rootfs/rkt/status/<app>`. */
export const appStatusPath = (pod: string, app: string) => appStatusPathIn(stage1RootfsPath(pod), app);
/** `<pod>/stage1/rootfs/rkt/status/<app>-created`. */
export const appCreatedPath = (pod: string, app: string) => appCreatedPathIn(stage1RootfsPath(pod), app);
/** `<pod>/stage1/rootfs/rkt/status/<app>-started`. */
export const appStartedPath = (pod: string, app: string) => appStartedPathIn(stage1RootfsPath(pod), app);
/** `<pod>/stage1/rootfs/rkt/env`. */
export const appsEnvDir = (pod: string) => appsEnvDirIn(stage1RootfsPath(pod));
/** `<pod>/stage1/rootfs/rkt/env/<app>`. */
export const appEnvPath = (pod: string, app: string) => appEnvPathIn(stage1RootfsPath(pod), app);
/** `<pod>/stage1/rootfs/rkt/iottymux/<app>`. */
export const ioMuxDir = (pod: string, app: string) => ioMuxDirIn(stage1RootfsPath(pod), app);
/** `<pod>/stage1/rootfs/rkt/supervisor-status`. */
export const supervisorStatusPath = (pod: string) => supervisorStatusPathIn(stage1RootfsPath(pod));
/** `<pod>/stage1/rootfs/rkt/log/<app>`. */
export const appLogPath = (pod: string, app: string) => appLogPathIn(stage1RootfsPath(pod), app);

/**
 * Where the stage1 root's contents can be read from outside a live pod: the overlay upper dir
 * `<pod>/overlay/<stage1TreeStoreID>/upper` for overlay pods (pass the id read from
 * {@link stage1TreeStoreIdPath}), `<pod>/stage1/rootfs` otherwise.
 */
export function effectiveStage1RootfsPath(pod: string, stage1TreeStoreId?: string): string {
  return stage1TreeStoreId === undefined ? stage1RootfsPath(pod) : overlayUpperDir(pod, stage1TreeStoreId);
}

// ------------------------------------------------------ relative to the stage1 root ("/")

/** `/opt/stage2/<app>` as seen from inside stage1. */
export const relAppDir = (app: string) => `/${STAGE2_DIR}/${assertPathComponent(app, 'app name')}`;
/** `/opt/stage2/<app>/rootfs` as seen from inside stage1. */
export const relAppRootfsPath = (app: string) => `${relAppDir(app)}/${IMAGE_ROOTFS_DIR}`;
/** `/rkt/env/<app>` as seen from inside stage1. */
export const relAppEnvPath = (app: string) => `/${STAGE1_ENV_DIR}/${assertPathComponent(app, 'app name')}`;
/** `/rkt/status/<app>` as seen from inside stage1. */
export const relAppStatusPath = (app: string) => `/${STAGE1_STATUS_DIR}/${assertPathComponent(app, 'app name')}`;
