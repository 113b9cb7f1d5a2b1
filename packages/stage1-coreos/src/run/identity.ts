/**
 * The app's numeric identity: appc `user` and `group` may be a number, an absolute path (its
 * owner or group inside the app root), or a name looked up in the app root's /etc/passwd and
 * /etc/group (rkt: stage1/init/common/pod.go ParseUserGroup).
 */
import { readFileSync, statSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import { resolveInRoot } from './rootfs';

/** uid, primary gid and the supplementary group list an app runs with. */
export interface AppIdentity {
  uid: number;
  gid: number;
  /** supplementary groups: the primary gid, then the app's `supplementaryGIDs` (as rkt passes them) */
  groups: number[];
}

const NUMERIC = /^\d+$/;
const MAX_ID = 2 ** 32 - 2;

function readEtc(root: string, file: string): string[][] | undefined {
  try {
    return readFileSync(resolveInRoot(root, file), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return undefined;
  }
}

function numericId(v: string | undefined): number | undefined {
  if (v === undefined || !NUMERIC.test(v)) return undefined;
  const n = Number(v);
  return n <= MAX_ID ? n : undefined;
}

function resolveOne(root: string, app: string, value: string, what: 'user' | 'group'): number {
  const n = numericId(value);
  if (n !== undefined) return n;
  if (value.startsWith('/')) {
    try {
      const st = statSync(resolveInRoot(root, value));
      return what === 'user' ? st.uid : st.gid;
    } catch (e) {
      throw userError(`stage1.${what}.invalid`, `app ${app}: cannot stat ${value} to find its ${what === 'user' ? 'owner' : 'group'}`, { cause: e });
    }
  }
  const file = what === 'user' ? '/etc/passwd' : '/etc/group';
  const entries = readEtc(root, file);
  const entry = entries?.find((f) => f[0] === value);
  // the id is the third field of both files
  const id = numericId(entry?.[2]);
  if (id !== undefined) return id;
  // appc lets "root" stand for 0 even in an image without /etc/passwd
  if (value === 'root') return 0;
  throw userError(`stage1.${what}.unknown`, `app ${app}: ${what} ${JSON.stringify(value)} not found in the image's ${file}`, { details: { app, [what]: value } });
}

/**
 * Resolves an app's `user`, `group` and `supplementaryGIDs` against its root filesystem.
 * Errors (user): `stage1.user.unknown`, `stage1.group.unknown` (a name missing from
 * /etc/passwd or /etc/group), `stage1.user.invalid`, `stage1.group.invalid` (a path that
 * cannot be stat'ed).
 */
export function resolveIdentity(root: string, app: string, user: string, group: string, supplementaryGids: readonly number[] = []): AppIdentity {
  const uid = resolveOne(root, app, user, 'user');
  const gid = resolveOne(root, app, group, 'group');
  return { uid, gid, groups: [...new Set([gid, ...supplementaryGids])] };
}
