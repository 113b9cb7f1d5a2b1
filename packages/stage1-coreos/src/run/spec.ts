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
 * | `interactive` | `1`: the app keeps stdin, and SIGINT does not stop the pod |
 * | `stop-timeout` | seconds between SIGTERM and SIGKILL when the pod stops |
 * | `cg-join` | a `cgroup.procs` file the parent writes its pid to, before it unshares |
 * | `cg-move` | same, after unsharing the cgroup namespace |
 * | `cg-write` | `<file> <value>`: written after the moves |
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
 * | `seccomp` | app: a BPF program file (`struct sock_filter[]`), path in the stage1 root |
 * | `oom` | app: oom_score_adj |
 * | `env` | app: `NAME=value`, repeated |
 * | `arg` | app: argv entries in order, repeated; the first is the program's path |
 * | `end` | closes the app section |
 */
import type { EnvEntry } from '@rktnetes/common';
import { internalError } from '@rktnetes/errors';
import { capMask } from './caps';
import type { NetworkPlan } from './network';

/** The spec's format version. */
export const INIT_SPEC_VERSION = 1;

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
  /** BPF program file, a path in the stage1 root */
  seccomp?: string;
  oomScoreAdj?: number;
  env: EnvEntry[];
  /** argv; argv[0] is the program's path inside the app */
  argv: string[];
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
  interactive: boolean;
  stopTimeoutSeconds: number;
  cgroupJoins: string[];
  cgroupMoves: string[];
  cgroupWrites: Array<{ path: string; value: string }>;
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

/** Serialises a spec (see the module documentation for the format). */
export function formatInitSpec(s: InitSpec): string {
  const lines: string[] = [];
  const put = (k: string, ...fields: Array<string | number>) => lines.push(`${k} ${fields.map((f) => escapeSpecValue(String(f))).join(' ')}`);
  put('version', INIT_SPEC_VERSION);
  put('debug', s.debug ? 1 : 0);
  put('lockfd', s.lockFd);
  put('stage1', s.stage1Root);
  put('hostname', s.hostname);
  put('net', s.network.mode);
  if (s.network.mode === 'join') put('netns', s.network.path);
  put('ipc', s.ipc);
  put('interactive', s.interactive ? 1 : 0);
  put('stop-timeout', s.stopTimeoutSeconds);
  for (const p of s.cgroupJoins) put('cg-join', p);
  for (const p of s.cgroupMoves) put('cg-move', p);
  for (const w of s.cgroupWrites) put('cg-write', w.path, w.value);
  for (const a of s.apps) {
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
    if (a.seccomp !== undefined) put('seccomp', a.seccomp);
    if (a.oomScoreAdj !== undefined) put('oom', a.oomScoreAdj);
    for (const [n, v] of a.env) put('env', `${n}=${v}`);
    for (const arg of a.argv) put('arg', arg);
    lines.push('end');
  }
  return `# rktnetes stage1-coreos init spec\n${lines.join('\n')}\n`;
}
