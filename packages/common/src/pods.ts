/**
 * Pod directories on disk: creating the state directories, listing and locating pods, and the
 * renames that move a pod between states. Locking (flock) is not done here: callers hold the
 * lock the transition table asks for. See docs/pod-lifecycle.md.
 */
import type { Dirent } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { hasCode, systemError, usageError, userError } from '@rktnetes/errors';
import { syncDir } from './files';
import { PODS_DIR_MODE, podDir, podsDir } from './paths';
import { POD_DIR_STATES, POD_DIR_STATES_VISIBLE, assertTransition, type PodDirState, type PodState } from './states';
import { isCanonicalUUID, normalizeUUID } from './uuid';

/** Creates `$dataDir/pods/<state>` for every state (mode 0750); existing ones are kept. */
export async function ensurePodsDirs(dataDir: string): Promise<void> {
  for (const state of POD_DIR_STATES) {
    try {
      await fsp.mkdir(podsDir(dataDir, state), { recursive: true, mode: PODS_DIR_MODE });
    } catch (e) {
      throw systemError('pods.mkdir', `cannot create pods directory ${podsDir(dataDir, state)}`, { cause: e });
    }
  }
}

/**
 * Creates the embryo directory `$dataDir/pods/embryo/<uuid>` (mode 0750) for a new pod and
 * returns its path. The creator then locks it exclusively and renames it to `prepare`.
 * Throws a system error `pods.mkdir` (EEXIST included: uuids are random, a clash is a bug).
 */
export async function createEmbryo(dataDir: string, uuid: string): Promise<string> {
  await ensurePodsDirs(dataDir);
  const path = podDir(dataDir, 'embryo', normalizeUUID(uuid));
  try {
    await fsp.mkdir(path, { mode: PODS_DIR_MODE });
  } catch (e) {
    throw systemError('pods.mkdir', `cannot create pod directory ${path}`, { cause: e });
  }
  return path;
}

/**
 * Moves a pod from one state directory to another with rename(2), after checking the move is
 * an allowed transition (and, when `current` is given, that the pod is in the state it needs),
 * then fsyncs the target directory. Returns the new path. A pod no longer in `from` (another
 * process won the race) gives a user error `pod.gone`; callers racing on purpose (gc) ignore it.
 */
export async function renamePod(dataDir: string, uuid: string, from: PodDirState, to: PodDirState, current?: PodState): Promise<string> {
  assertTransition(from, to, current);
  const id = normalizeUUID(uuid);
  const src = podDir(dataDir, from, id);
  const dst = podDir(dataDir, to, id);
  try {
    await fsp.rename(src, dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw userError('pod.gone', `pod ${id} is no longer in ${from}`, { cause: e, details: { uuid: id, from, to } });
    }
    throw systemError('pods.rename', `cannot move pod ${id} from ${from} to ${to}`, { cause: e, details: { uuid: id, from, to } });
  }
  await syncDir(podsDir(dataDir, to));
  return dst;
}

/** Whether an error from {@link renamePod} only means another process moved the pod first. */
export const isPodGone = (e: unknown): boolean => hasCode(e, 'pod.gone');

/** A pod directory found on disk. */
export interface PodLocation {
  uuid: string;
  state: PodDirState;
  path: string;
}

/**
 * Lists the pods under `$dataDir/pods/<state>` for the given states, sorted by uuid. Entries
 * that are not directories named by a canonical UUID are skipped. A uuid seen in two states
 * (a rename racing the listing) is reported once, in the later state. Missing state
 * directories count as empty.
 */
export async function listPods(dataDir: string, states: readonly PodDirState[] = POD_DIR_STATES): Promise<PodLocation[]> {
  const found = new Map<string, PodLocation>();
  // lifecycle order, so a pod caught mid-rename keeps its newest location
  for (const state of POD_DIR_STATES.filter((s) => states.includes(s))) {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(podsDir(dataDir, state), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw systemError('pods.list', `cannot read pods directory ${podsDir(dataDir, state)}`, { cause: e });
    }
    for (const ent of entries) {
      if (!ent.isDirectory() || !isCanonicalUUID(ent.name)) continue;
      found.set(ent.name, { uuid: ent.name, state, path: podDir(dataDir, state, ent.name) });
    }
  }
  return [...found.values()].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
}

/**
 * Finds which state directory holds the pod with this (full) uuid, checking in lifecycle order;
 * undefined when it is nowhere (deleted, or never existed).
 */
export async function locatePod(dataDir: string, uuid: string, states: readonly PodDirState[] = POD_DIR_STATES): Promise<PodLocation | undefined> {
  const canonical = normalizeUUID(uuid);
  for (const state of POD_DIR_STATES.filter((s) => states.includes(s))) {
    const path = podDir(dataDir, state, canonical);
    try {
      const st = await fsp.stat(path);
      if (st.isDirectory()) return { uuid: canonical, state, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw systemError('pods.stat', `cannot stat pod directory ${path}`, { cause: e });
      }
    }
  }
  return undefined;
}

/**
 * Resolves what the user typed (a full uuid, with or without dashes, or a prefix of the dashed
 * form, any case) to exactly one pod among those in `states` (default: prepare, prepared, run,
 * exited-garbage, as rkt). Errors: usage `uuid.empty`; user `pod.not-found` (no match) and
 * `pod.ambiguous` (several matches; details.matches lists them).
 */
export async function resolvePodUUID(dataDir: string, input: string, states: readonly PodDirState[] = POD_DIR_STATES_VISIBLE): Promise<PodLocation> {
  const text = input.trim().toLowerCase();
  if (text === '') throw usageError('uuid.empty', 'pod uuid cannot be empty');
  const prefix = /^[0-9a-f]{32}$/.test(text) ? normalizeUUID(text) : text;
  const matches = (await listPods(dataDir, states)).filter((p) => p.uuid.startsWith(prefix));
  if (matches.length === 0) {
    throw userError('pod.not-found', `no pod matches uuid ${JSON.stringify(input)}`, { details: { uuid: input } });
  }
  if (matches.length > 1) {
    throw userError('pod.ambiguous', `ambiguous pod uuid ${JSON.stringify(input)}: ${matches.length} pods match`, {
      details: { uuid: input, matches: matches.map((m) => m.uuid) },
    });
  }
  return matches[0]!;
}
