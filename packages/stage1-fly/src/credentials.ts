/**
 * The uid, gid and supplementary groups an app runs with, resolved against the app's own root
 * filesystem (its `/etc/passwd` and `/etc/group`, or the owner of a file), as rkt does.
 */
import { readFileSync, statSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import { resolveInRoot } from './root-path';

/** What the app process gets before exec. */
export interface Credentials {
  uid: number;
  gid: number;
  /** supplementary groups: the primary gid first, then the app's supplementaryGIDs */
  groups: number[];
}

/** The fields of an appc `app` that decide its credentials. */
export interface CredentialSpec {
  /** user name, numeric uid, or an absolute path whose owner is used */
  user: string;
  /** group name, numeric gid, or an absolute path whose group is used */
  group: string;
  supplementaryGIDs?: readonly number[];
}

/** Options of {@link resolveCredentials}. */
export interface ResolveCredentialsOptions {
  /** the app name, for messages */
  app?: string;
  /**
   * Docker-converted images name the group after the user when only a user was given; when
   * that group is missing, use the uid as gid (rkt does this when the image carries the
   * `appc.io/docker/repository` annotation and the pod did not change the group).
   */
  gidFromUidIfMissing?: boolean;
}

const MAX_ID = 2 ** 32 - 2;

function numericId(spec: string): number | undefined {
  if (!/^\d+$/.test(spec)) return undefined;
  const n = Number(spec);
  return n <= MAX_ID ? n : undefined;
}

/**
 * Looks `name` up in a passwd- or group-style file (`name:x:id:...`) inside `root`. Returns
 * undefined when the file or the name is missing.
 */
export function lookupIdInRoot(root: string, file: '/etc/passwd' | '/etc/group', name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(resolveInRoot(root, file), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] !== name || f.length < 3) continue;
    const id = numericId(f[2]!.trim());
    if (id !== undefined) return id;
  }
  return undefined;
}

function idOf(root: string, spec: string, kind: 'user' | 'group'): number | undefined {
  const n = numericId(spec);
  if (n !== undefined) return n;
  if (spec.startsWith('/')) {
    try {
      const st = statSync(resolveInRoot(root, spec));
      return kind === 'user' ? st.uid : st.gid;
    } catch {
      return undefined;
    }
  }
  return lookupIdInRoot(root, kind === 'user' ? '/etc/passwd' : '/etc/group', spec);
}

/**
 * Resolves an app's user, group and supplementary groups inside `root` (the app's rootfs on
 * the host, or `/proc/<pid>/root` of a running app). Reads `/etc/passwd`, `/etc/group` or the
 * named file, following symlinks inside the root.
 *
 * @throws RktError `stage1-fly.user.unknown` / `stage1-fly.group.unknown` (user errors) when a
 *   name is not found or a path does not exist
 */
export function resolveCredentials(root: string, spec: CredentialSpec, opts: ResolveCredentialsOptions = {}): Credentials {
  const app = opts.app ? ` of app ${opts.app}` : '';
  const uid = idOf(root, spec.user, 'user');
  if (uid === undefined) {
    throw userError('stage1-fly.user.unknown', `cannot resolve user ${JSON.stringify(spec.user)}${app}: not a uid, a file in the app or a name in its /etc/passwd`, {
      details: { user: spec.user },
    });
  }
  let gid = idOf(root, spec.group, 'group');
  if (gid === undefined && opts.gidFromUidIfMissing) gid = uid;
  if (gid === undefined) {
    throw userError('stage1-fly.group.unknown', `cannot resolve group ${JSON.stringify(spec.group)}${app}: not a gid, a file in the app or a name in its /etc/group`, {
      details: { group: spec.group },
    });
  }
  return { uid, gid, groups: [gid, ...(spec.supplementaryGIDs ?? [])] };
}
