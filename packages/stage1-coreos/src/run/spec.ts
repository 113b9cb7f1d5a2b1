/**
 * The init spec: what run tells the init (`rkt/init.spec` in the stage1 root), in a
 * line-oriented text format small enough for a C parser.
 *
 * Format (version 1): one `key value` per line, split at the first space. In values, `\\` is a
 * backslash, `\n` a newline and `\s` a space, so a value never contains a raw space or newline;
 * lines whose value holds several fields separate them with one raw space (`cg-write`,
 * `groups`). Empty lines and lines starting with `#` are ignored. Pod keys come first; `app
 * <name>` opens an app section that `end` closes. Every key is optional unless said otherwise.
 *
 * | Key | Value |
 * | --- | --- |
 * | `version` | `1` (required, first) |
 * | `debug` | `0` or `1` |
 * | `lockfd` | the pod lock fd, kept by the init's parent only |
 * | `stage1` | host path of the stage1 root, the init's new root (required) |
 * | `hostname` | the pod's hostname |
 * | `net` | `host`, `none` (new namespace, loopback up) or `join` |
 * | `netns` | with `net join`: path of the namespace to join |
 * | `ipc` | `private` (new IPC namespace) or `parent` |
 * | `userns` | `<shift> <count>`: the pod in a user namespace of its own, ids 0..count-1 being host ids shift.. (`--private-users`) |
 * | `pid` | `private` (new pid namespace, PID 1 its init; the default) or `host` (the host's: PID 1 is a subreaper, stops signal the apps' cgroups) |
 * | `sysctl` | `<path> <value>`: a sysctl below /proc/sys, written by the parent once the namespaces exist |
 * | `interactive` | `1`: the app keeps stdin, and SIGINT does not stop the pod |
 * | `stop-timeout` | seconds between SIGTERM and SIGKILL when the pod stops |
 * | `mutable` | `1`: a mutable pod (PID 1 serves `/rkt/ctl`; apps come from `rkt/spec/<app>`) |
 * | `notify` | the host's sd_notify socket (`NOTIFY_SOCKET`: a path or `@abstract`), which the parent connects to before it leaves the host's network namespace |
 * | `notify-pod` | with `notify`: the address (`@abstract`) the parent binds in the pod's network namespace for the apps to send to |
 * | `cg-dir` | a pod cgroup directory PID 1 keeps open, to reach app cgroups added later |
 * | `cg-join` | a `cgroup.procs` file the parent writes its pid to, before it unshares |
 * | `cg-move` | same, after unsharing the cgroup namespace |
 * | `cg-write` | `<file> <value>`: written after the moves |
 * | `selinux-context` | the SELinux label of every app process (apps, event handlers, `init exec` commands): written to `/proc/self/attr/exec` before each exec; an app that cannot be given it fails. Absent: `/proc/self/attr` is never touched |
 * | `selinux-mount-context` | the SELinux label of the init's mounts for the apps (the masking tmpfs, as `context`) |
 * | `app` | starts an app section; the value is the app name |
 * | `root` | app: its root, a path in the stage1 root |
 * | `cgroup` | app: a host `cgroup.procs` file the app joins |
 * | `mask` | app: a path (in the app) hidden: /dev/null bound on files, an empty tmpfs on directories |
 * | `ro` | app: a path made read-only (bound onto itself, remounted read-only) |
 * | `workdir` | app: working directory |
 * | `uid`, `gid` | app: numeric ids |
 * | `groups` | app: supplementary gids |
 * | `bounding`, `inheritable`, `ambient` | app: capability masks, hex |
 * | `nnp` | app: `1` sets no_new_privs |
 * | `pidns` | app: `private` gives the app a pid namespace of its own (it is its PID 1, with its own /proc); `pod` (default) |
 * | `seccomp` | app: a BPF program file (`struct sock_filter[]`), path in the stage1 root |
 * | `oom` | app: oom_score_adj |
 * | `env` | app: `NAME=value`, repeated |
 * | `arg` | app: argv entries in order, repeated; the first is the program's path |
 * | `pre-arg`, `post-arg` | app, immutable pods: argv of the `pre-start` / `post-stop` event handler, as `arg` |
 * | `stdin`, `stdout`, `stderr` | app, mutable pods: `null`, `log` (not stdin), `stream` or `tty` (all three or none) |
 * | `stdin-once` | app, mutable pods: `1` closes stdin when the first attach session that wrote it ends |
 * | `extlog` | app, mutable pods: a second log file, a path in the stage1 root |
 * | `notify` | app, immutable pods: `1`: the app supports sd_notify; the pod is ready when every such app sent `READY=1` |
 * | `end` | closes the app section |
 */
import type { EnvEntry } from '@rktnetes/common';
import { internalError } from '@rktnetes/errors';
import { capMask } from './caps';
import type { NetworkPlan } from './network';

/** The spec's format version. */
export const INIT_SPEC_VERSION = 1;

/** How an app's stdin, stdout or stderr is wired in a mutable pod (rkt's stage2 annotations). */
export type StdioMode = 'null' | 'log' | 'stream' | 'tty';

/** One app as the init starts it. */
export interface InitApp {
  name: string;
  /** its root after the init's pivot_root: `/opt/stage2/<name>/rootfs` */
  root: string;
  /** host `cgroup.procs` files to join */
  cgroups: string[];
  /** paths to hide, inside the app */
  masks: string[];
  /** paths to make read-only, inside the app */
  readOnly: string[];
  workdir: string;
  uid: number;
  gid: number;
  groups: number[];
  bounding: number[];
  inheritable: number[];
  ambient: number[];
  noNewPrivs: boolean;
  /** `private`: a pid namespace of its own, in which the app is PID 1 (default: the pod's) */
  pidNamespace?: 'pod' | 'private';
  /** BPF program file, a path in the stage1 root */
  seccomp?: string;
  oomScoreAdj?: number;
  env: EnvEntry[];
  /** argv; argv[0] is the program's path inside the app */
  argv: string[];
  /** immutable pods: the pre-start event handler's argv, run before the app in its context */
  preStart?: string[];
  /** immutable pods: the post-stop event handler's argv, run after the app exited */
  postStop?: string[];
  /** mutable pods: stdin, stdout, stderr modes (default null, log, log) */
  stdio?: [StdioMode, StdioMode, StdioMode];
  /** mutable pods: close stdin when the first attach session that wrote it ends */
  stdinOnce?: boolean;
  /** mutable pods: a second log file, a path in the stage1 root */
  extLog?: string;
  /** immutable pods: the app supports sd_notify (its `READY=1` makes the pod ready) */
  notify?: boolean;
}

/** Everything the init needs. */
export interface InitSpec {
  debug: boolean;
  lockFd: number;
  /** host path of the stage1 root */
  stage1Root: string;
  hostname: string;
  network: NetworkPlan;
  ipc: 'private' | 'parent';
  /** `host`: the pod stays in the host's pid namespace (default `private`) */
  pid?: 'private' | 'host';
  /** sysctls below /proc/sys, set once the pod's namespaces exist */
  sysctls?: Array<{ path: string; value: string }>;
  /** `--private-users`: a user namespace of the pod's own, its uid/gid 0 being host id `shift` */
  userns?: { shift: number; count: number };
  interactive: boolean;
  stopTimeoutSeconds: number;
  cgroupJoins: string[];
  cgroupMoves: string[];
  cgroupWrites: Array<{ path: string; value: string }>;
  /** a mutable pod: apps are added later through the control socket */
  mutable?: boolean;
  /** mutable pods: the pod cgroup directories (app cgroups added later are below them) */
  cgroupDirs?: string[];
  /** sd_notify: the host's socket (`NOTIFY_SOCKET`) and the pod-side address apps send to */
  notify?: { host: string; pod: string };
  /** SELinux label of every app process (`RKT_SELINUX_CONTEXT`) */
  selinuxContext?: string;
  /** SELinux label of the apps' mounts (`RKT_SELINUX_MOUNT_CONTEXT`) */
  selinuxMountContext?: string;
  apps: InitApp[];
}

/** Escapes a value for the spec: `\\`, `\n`, `\s`; NUL cannot be represented (internal error). */
export function escapeSpecValue(v: string): string {
  if (v.includes('\0')) throw internalError('stage1.spec.nul', `init spec value contains a NUL byte: ${JSON.stringify(v)}`);
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/ /g, '\\s');
}

/** Reverses {@link escapeSpecValue} (unknown escapes keep the character after the backslash). */
export function unescapeSpecValue(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 's' ? ' ' : c));
}

type Put = (k: string, ...fields: Array<string | number>) => void;

function putApp(put: Put, a: InitApp): void {
  put('app', a.name);
  put('root', a.root);
  for (const c of a.cgroups) put('cgroup', c);
  for (const m of a.masks) put('mask', m);
  for (const r of a.readOnly) put('ro', r);
  put('workdir', a.workdir);
  put('uid', a.uid);
  put('gid', a.gid);
  if (a.groups.length > 0) put('groups', ...a.groups);
  put('bounding', capMask(a.bounding));
  put('inheritable', capMask(a.inheritable));
  put('ambient', capMask(a.ambient));
  put('nnp', a.noNewPrivs ? 1 : 0);
  if (a.pidNamespace === 'private') put('pidns', 'private');
  if (a.seccomp !== undefined) put('seccomp', a.seccomp);
  if (a.oomScoreAdj !== undefined) put('oom', a.oomScoreAdj);
  for (const [n, v] of a.env) put('env', `${n}=${v}`);
  for (const arg of a.argv) put('arg', arg);
  for (const arg of a.preStart ?? []) put('pre-arg', arg);
  for (const arg of a.postStop ?? []) put('post-arg', arg);
  if (a.stdio) {
    put('stdin', a.stdio[0]);
    put('stdout', a.stdio[1]);
    put('stderr', a.stdio[2]);
  }
  if (a.stdinOnce) put('stdin-once', 1);
  if (a.extLog !== undefined) put('extlog', a.extLog);
  if (a.notify) put('notify', 1);
  put('end');
}

function putter(lines: string[]): Put {
  return (k, ...fields) => lines.push(fields.length === 0 ? k : `${k} ${fields.map((f) => escapeSpecValue(String(f))).join(' ')}`);
}

/**
 * One app section alone, as a mutable pod's `rkt/spec/<app>` holds it: `version 1`, then
 * `app <name>` … `end`.
 */
export function formatAppSpec(a: InitApp): string {
  const lines: string[] = [];
  const put = putter(lines);
  put('version', INIT_SPEC_VERSION);
  putApp(put, a);
  return `# rktnetes stage1-coreos app spec\n${lines.join('\n')}\n`;
}

/** Serialises a spec (see the module documentation for the format). */
export function formatInitSpec(s: InitSpec): string {
  const lines: string[] = [];
  const put = putter(lines);
  put('version', INIT_SPEC_VERSION);
  put('debug', s.debug ? 1 : 0);
  put('lockfd', s.lockFd);
  put('stage1', s.stage1Root);
  put('hostname', s.hostname);
  put('net', s.network.mode);
  if (s.network.mode === 'join') put('netns', s.network.path);
  put('ipc', s.ipc);
  if (s.userns) put('userns', s.userns.shift, s.userns.count);
  if (s.pid === 'host') put('pid', 'host');
  for (const x of s.sysctls ?? []) put('sysctl', x.path, x.value);
  put('interactive', s.interactive ? 1 : 0);
  put('stop-timeout', s.stopTimeoutSeconds);
  if (s.mutable) put('mutable', 1);
  if (s.notify) {
    put('notify', s.notify.host);
    put('notify-pod', s.notify.pod);
  }
  for (const p of s.cgroupJoins) put('cg-join', p);
  for (const p of s.cgroupMoves) put('cg-move', p);
  for (const w of s.cgroupWrites) put('cg-write', w.path, w.value);
  for (const d of s.cgroupDirs ?? []) put('cg-dir', d);
  if (s.selinuxContext) put('selinux-context', s.selinuxContext);
  if (s.selinuxMountContext) put('selinux-mount-context', s.selinuxMountContext);
  for (const a of s.apps) putApp(put, a);
  return `# rktnetes stage1-coreos init spec\n${lines.join('\n')}\n`;
}
