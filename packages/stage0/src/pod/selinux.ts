/**
 * SELinux labels of a pod (sVirt), decided by stage0 when a pod starts and handed to the stage1
 * run entrypoint in `RKT_SELINUX_CONTEXT` and `RKT_SELINUX_MOUNT_CONTEXT`
 * (docs/stage1-interface.md, "SELinux").
 *
 * The decision follows rkt's (which used go-selinux's `InitLabels`):
 *
 * 1. SELinux counts as enabled when an selinuxfs is mounted read-write (found in
 *    `/proc/self/mountinfo`) and this process's own label (`/proc/self/attr/current`) is not
 *    `kernel`. Permissive mode counts as enabled: the labels are used, the policy only logs.
 * 2. The policy is `SELINUXTYPE` of `/etc/selinux/config`; its container contexts are
 *    `/etc/selinux/<policy>/contexts/lxc_contexts`, `key = "value"` lines whose `process` and
 *    `file` keys give the label of the pod's processes and of its files.
 * 3. Each pod gets a level `s0:cA,cB` of its own (two different categories below 1024, in
 *    increasing order) that replaces the level of both labels, so that two pods with the same
 *    type cannot touch each other's processes or files.
 *
 * Without SELinux, without a policy name or without `lxc_contexts` there are no labels
 * (`undefined`) and stage1 is given empty variables: nothing changes. Unlike rkt, an
 * `lxc_contexts` that exists but has no usable `process` or `file` label is an error rather than a
 * silent fallback to running the pod unlabelled (rkt ran it unlabelled, or crashed on a label of
 * fewer than four fields).
 *
 * Every host path is read below an injectable root ({@link SelinuxHostView}), so that the decision
 * can be tested against a fake tree.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemError } from '@rktnetes/errors';
import type { RunEnv } from '@rktnetes/stage1-abi';

/** Number of MCS categories a pod level is drawn from (go-selinux's `uniqMcs(1024)`). */
export const MCS_CATEGORIES = 1024;

/** What {@link podSelinuxLabels} reads, and how it draws the pod's level. */
export interface SelinuxHostView {
  /** directory standing for `/` (default `/`): `proc/self/…`, `etc/selinux/…` and the selinuxfs are read below it */
  root?: string;
  /** a uniform random integer in [0, n) (default: crypto's) */
  random?: (n: number) => number;
  /** levels already used by other pods (`s0:cA,cB`), never handed out again */
  inUse?: ReadonlySet<string>;
}

/** A pod's SELinux labels. */
export interface SelinuxLabels {
  /** label of every process of the pod's apps (`RKT_SELINUX_CONTEXT`) */
  processLabel: string;
  /** label of the pod's mounts (`RKT_SELINUX_MOUNT_CONTEXT`) */
  mountLabel: string;
  /** the pod's level, shared by both labels: `s0:cA,cB` */
  level: string;
  /** the host's mode when the labels were made (from `<selinuxfs>/enforce`) */
  mode: 'enforcing' | 'permissive';
  /** the policy name (`SELINUXTYPE`) */
  policy: string;
}

/** The four fields of an SELinux label; the level keeps its own colons (`s0:c1,c2`). */
export interface SelinuxContext {
  user: string;
  role: string;
  type: string;
  level: string;
}

const NAME = /^[A-Za-z0-9_.-]+$/;
const LEVEL = /^[A-Za-z0-9_.,:-]+$/;

/**
 * Splits `user:role:type:level`; undefined unless there are four non-empty fields made of the
 * characters SELinux names use (no spaces, quotes or commas outside the level), so that a label
 * can be written into mount options and the init spec as it is.
 */
export function parseSelinuxContext(label: string): SelinuxContext | undefined {
  const parts = label.split(':');
  if (parts.length < 4) return undefined;
  const [user, role, type] = parts as [string, string, string];
  const level = parts.slice(3).join(':');
  if (![user, role, type].every((p) => NAME.test(p)) || !LEVEL.test(level)) return undefined;
  return { user, role, type, level };
}

/** Joins the fields of a label. */
export function formatSelinuxContext(c: SelinuxContext): string {
  return `${c.user}:${c.role}:${c.type}:${c.level}`;
}

/** `key = value` lines of an SELinux configuration file; `#` and `;` start comments; values lose surrounding `"`. */
export function parseSelinuxAssignments(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    if (!out.has(key)) out.set(key, line.slice(eq + 1).trim().replace(/^"+|"+$/g, ''));
  }
  return out;
}

/**
 * Where the selinuxfs is mounted according to a `/proc/self/mountinfo` text, and whether it is
 * read-only; undefined when there is none.
 */
export function findSelinuxfs(mountinfo: string): { mountPoint: string; readOnly: boolean } | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype] = line.slice(sep + 3).split(' ');
    if (fstype !== 'selinuxfs') continue;
    const fields = line.slice(0, sep).split(' ');
    const mountPoint = fields[4];
    if (mountPoint === undefined) continue;
    const options = (fields[5] ?? '').split(',');
    return { mountPoint: mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))), readOnly: options.includes('ro') };
  }
  return undefined;
}

/**
 * A level `s0:cA,cB` not in `inUse`: two different categories below `categories`, the smaller
 * first (go-selinux's `uniqMcs`). Throws an internal error when every pair is taken.
 */
export function uniqueMcsLevel(random: (n: number) => number = randomInt, inUse: ReadonlySet<string> = new Set(), categories = MCS_CATEGORIES): string {
  const pairs = (categories * (categories - 1)) / 2;
  if (inUse.size >= pairs) throw systemError('pod.selinux.levels', `all ${pairs} SELinux levels of ${categories} categories are in use`);
  for (;;) {
    const a = random(categories);
    const b = random(categories);
    if (a === b) continue;
    const level = `s0:c${Math.min(a, b)},c${Math.max(a, b)}`;
    if (!inUse.has(level)) return level;
  }
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function withLevel(label: string, key: string, file: string, level: string): string {
  const c = parseSelinuxContext(label);
  if (!c) throw systemError('pod.selinux.lxc-contexts', `${file}: ${key} label ${JSON.stringify(label)} is not user:role:type:level`, { details: { file, key, label } });
  return formatSelinuxContext({ ...c, level });
}

/**
 * The pod's SELinux labels, or undefined when SELinux is not used on this host (see the module
 * documentation for the decision). Reads, below `host.root`: `proc/self/mountinfo`,
 * `proc/self/attr/current`, `<selinuxfs>/enforce`, `etc/selinux/config` and
 * `etc/selinux/<policy>/contexts/lxc_contexts`. Errors (system): `pod.selinux.lxc-contexts` when
 * `lxc_contexts` exists but lacks a `process` or `file` label or has a malformed one,
 * `pod.selinux.levels` when no level is free.
 */
export function podSelinuxLabels(host: SelinuxHostView = {}): SelinuxLabels | undefined {
  const root = host.root ?? '/';
  const fs = findSelinuxfs(readOr(join(root, 'proc/self/mountinfo')) ?? '');
  if (!fs || fs.readOnly) return undefined;
  if (readOr(join(root, 'proc/self/attr/current'))?.replace(/\0/g, '').trim() === 'kernel') return undefined;
  const policy = parseSelinuxAssignments(readOr(join(root, 'etc/selinux/config')) ?? '').get('SELINUXTYPE');
  if (!policy || !NAME.test(policy)) return undefined;
  const file = join(root, 'etc/selinux', policy, 'contexts/lxc_contexts');
  const text = readOr(file);
  if (text === undefined) return undefined;
  const contexts = parseSelinuxAssignments(text);
  const process = contexts.get('process');
  const mount = contexts.get('file');
  for (const [key, v] of [['process', process], ['file', mount]] as const) {
    if (!v) throw systemError('pod.selinux.lxc-contexts', `${file}: no ${key} label`, { details: { file, key } });
  }
  const level = uniqueMcsLevel(host.random, host.inUse);
  return {
    processLabel: withLevel(process!, 'process', file, level),
    mountLabel: withLevel(mount!, 'file', file, level),
    level,
    mode: readOr(join(root, fs.mountPoint, 'enforce'))?.trim() === '1' ? 'enforcing' : 'permissive',
    policy,
  };
}

/**
 * The SELinux fields of {@link RunEnv} for `buildRunEnv` (`@rktnetes/stage1-abi`), which then
 * sets `RKT_SELINUX_CONTEXT` and `RKT_SELINUX_MOUNT_CONTEXT` (empty without labels).
 */
export function selinuxRunEnv(labels: SelinuxLabels | undefined): Pick<RunEnv, 'selinuxContext' | 'selinuxMountContext'> {
  return labels ? { selinuxContext: labels.processLabel, selinuxMountContext: labels.mountLabel } : {};
}

/**
 * Mount data with the `context="<label>"` option appended (as go-selinux's
 * `FormatMountLabel`: the quotes keep the level's commas in one option); `data` unchanged
 * without a label. For the overlays stage0 mounts for the pod's images.
 */
export function withMountContext(data: string, mountLabel: string | undefined): string {
  if (!mountLabel) return data;
  const option = `context="${mountLabel}"`;
  return data === '' ? option : `${data},${option}`;
}
