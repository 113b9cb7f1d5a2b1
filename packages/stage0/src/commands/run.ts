import type { CommandModule, Options } from 'yargs';
import { rawCommand } from '../pod/cli';

const s = (describe: string): Options => ({ type: 'string', describe });
const b = (describe: string): Options => ({ type: 'boolean', describe });

/** Flags of `rkt run` and `rkt prepare` (help only: the implementation parses them, per image). */
export const POD_OPTIONS: Record<string, Options> = {
  'stage1-url': s('URL to an image to use as stage1'),
  'stage1-path': s('absolute or relative path to an image to use as stage1'),
  'stage1-name': s('name of an image to use as stage1'),
  'stage1-hash': s('hash of an image to use as stage1'),
  'stage1-from-dir': s('filename of an image in stage1 images directory to use as stage1'),
  'pull-policy': s('when to pull an image: never, new, update (default new)'),
  'pod-manifest': s('the path to the pod manifest; only --net, --no-overlay and --interactive have effect with it'),
  volume: s('volumes to make available in the pod (NAME,kind=host|empty,source=PATH,readOnly=BOOL,recursive=BOOL,propagation=rprivate|rslave|rshared,...)'),
  mount: s('mount point binding a volume to a path within an app (volume=NAME,target=PATH); before any image: every app'),
  port: s('ports to expose on the host (requires contained network): NAME:[HOSTIP:]HOSTPORT'),
  'inherit-env': b('inherit all environment variables not set by apps'),
  'set-env': s('environment variable to set for all the apps, NAME=VALUE (overridden by --environment)'),
  'set-env-file': s('path to an environment variables file (NAME=VALUE lines)'),
  'no-overlay': b('disable overlay filesystem'),
  'private-users': b('run the pod in a user namespace of its own: 65536 ids from a random host id (stage1 coreos)'),
  annotation: s('NAME=VALUE annotation of the preceding image (of the pod before any image)'),
  'user-annotation': s('NAME=VALUE user annotation of the preceding image (of the pod before any image)'),
  'user-label': s('NAME=VALUE user label of the preceding image (of the pod before any image)'),
  signature: s('local signature file to use in validating the preceding image'),
  name: s('set the name of the preceding app (default: derived from the image name)'),
  exec: s('override the exec command for the preceding image'),
  'working-dir': s('override the working directory of the preceding image'),
  user: s('user override for the preceding image (name, uid or path)'),
  group: s('group override for the preceding image (name, gid or path)'),
  'supplementary-gids': s('supplementary group IDs override for the preceding image (1024,2048)'),
  environment: s('NAME=VALUE environment variable of the preceding app'),
  'readonly-rootfs': s('true to mount the app root filesystem read-only'),
  memory: s('memory limit for the preceding image (16Mi, 50M, 1G)'),
  cpu: s('cpu limit for the preceding image (500m)'),
  'cpu-shares': s('CPU time share weight of the preceding image (2048)'),
  'oom-score-adj': s('oom-score-adj isolator override'),
  'caps-retain': s('capabilities to retain (CAP_SYS_ADMIN,CAP_NET_ADMIN)'),
  'caps-remove': s('capabilities to remove (CAP_MKNOD)'),
  seccomp: s('seccomp filter override (mode=retain,errno=EPERM,chmod,chown), or unconfined, default, profile=FILE (an OCI/Docker profile)'),
  'no-new-privileges': b('set (or with =false, do not set) no_new_privs for the preceding image'),
  'masked-paths': s('paths to hide in the preceding app, replacing the stage1 defaults (/proc/kcore,/bin/ls; empty: none)'),
  'readonly-paths': s('paths to make read-only in the preceding app, replacing the stage1 defaults (/proc/sys,/tmp; empty: none)'),
  'pid-namespace': s('pid namespace of the preceding app: pod (the pod\'s, default) or private (its own, the app is its PID 1)'),
  sysctl: s('a namespaced sysctl for the pod, NAME=VALUE (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*)'),
  'cgroup-parent': s("the cgroup the pod's cgroups go below, a path from each hierarchy's root (created when missing)"),
  pid: s("the pod's pid namespace: private (default) or host"),
};

/** Flags that only matter when the pod starts (`run`, `run-prepared`). */
export const START_OPTIONS: Record<string, Options> = {
  net: s("configure the pod's networking: --net[=n[:args], ...] (default: default)"),
  interactive: b('run pod interactively (one image only)'),
  dns: s("name servers to write in /etc/resolv.conf; 'host' or 'none'"),
  'dns-search': s('DNS search domains to write in /etc/resolv.conf'),
  'dns-opt': s('DNS options to write in /etc/resolv.conf'),
  'dns-domain': s('DNS domain to write in /etc/resolv.conf'),
  'hosts-entry': s("entries to add to the pod-wide /etc/hosts (IP=HOSTNAME); 'host' for the host's"),
  hostname: s('pod hostname (default rkt-$PODUUID)'),
  ipc: s('IPC namespace: auto, private or parent'),
  'mds-register': b('register pod with metadata service (socket: $RKT_METADATA_SOCKET or /run/rkt/metadata-svc.sock)'),
};

const cmd: CommandModule = rawCommand({
  name: 'run',
  usage: 'run [flags] IMAGE [image flags] [-- image-args... [---]] [IMAGE ...]',
  describe: 'Run image(s) in a pod in rkt',
  epilogue:
    'IMAGE is a hash, a local file or a URL. Per-image flags follow their image; --mount before any image applies to every app. ' +
    '"--" starts the preceding image\'s arguments, a lone "---" ends them.',
  options: { ...POD_OPTIONS, ...START_OPTIONS, 'uuid-file-save': s('write out the pod UUID to the specified file') },
  run: async (args, globals) => (await import('../pod/commands/run')).runCommand(args, globals),
});
export default cmd;
