/**
 * The uid, gid and supplementary groups of an app, resolved on the host against the app's own
 * root (its /etc/passwd and /etc/group, or the owner of a file), as rkt does.
 */
import { readFileSync, statSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import type { App } from '@rktnetes/schema';
import { hostPathInRoot } from './root-path';

/** What the app runs as. */
export interface Credentials {
  uid: number;
  gid: number;
  /** supplementary groups: the primary gid, then the app's supplementaryGIDs */
  groups: number[];
}

const MAX_ID = 2 ** 32 - 2;

function numeric(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** The id of `name` in the app's passwd- or group-style file; undefined when absent. */
export function idFromFile(root: string, file: '/etc/passwd' | '/etc/group', name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(hostPathInRoot(root, file), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 3 && fields[0] === name) {
      const id = numeric(fields[2]!.trim());
      if (id !== undefined) return id;
    }
  }
  return undefined;
}

function resolveId(root: string, spec: string, kind: 'user' | 'group'): number | undefined {
  const n = numeric(spec);
  if (n !== undefined) return n;
  if (spec.startsWith('/')) {
    try {
      const st = statSync(hostPathInRoot(root, spec));
      return kind === 'user' ? st.uid : st.gid;
    } catch {
      return undefined;
    }
  }
  return idFromFile(root, kind === 'user' ? '/etc/passwd' : '/etc/group', spec);
}

/**
 * Resolves `app.user` and `app.group` (a number, a name, or an absolute path whose owner is
 * taken) inside `root`.
 *
 * @throws RktError `stage1-kvm.user.unknown` / `stage1-kvm.group.unknown` (user errors)
 */
export function resolveCredentials(root: string, app: Pick<App, 'user' | 'group' | 'supplementaryGIDs'>, appName: string): Credentials {
  const uid = resolveId(root, app.user, 'user');
  if (uid === undefined) {
    throw userError('stage1-kvm.user.unknown', `cannot resolve user ${JSON.stringify(app.user)} of app ${appName}: not a uid, a file in the app or a name in its /etc/passwd`);
  }
  const gid = resolveId(root, app.group, 'group');
  if (gid === undefined) {
    throw userError('stage1-kvm.group.unknown', `cannot resolve group ${JSON.stringify(app.group)} of app ${appName}: not a gid, a file in the app or a name in its /etc/group`);
  }
  return { uid, gid, groups: [gid, ...(app.supplementaryGIDs ?? [])] };
}
