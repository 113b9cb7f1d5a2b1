/**
 * Pod states. A pod's state is the directory it lives in under `$dataDir/pods/` plus whether
 * that directory is locked (flock) by a live process. See docs/pod-lifecycle.md.
 */
import { internalError } from '@rktnetes/errors';

/**
 * The directories under `$dataDir/pods/`, in the order a pod passes through them. A directory
 * rename is the only way a pod changes phase.
 */
export const POD_DIR_STATES = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;
export type PodDirState = (typeof POD_DIR_STATES)[number];

/**
 * The directories searched when a user names a pod (uuid or prefix): everything but `embryo`
 * and `garbage`, whose pods have no manifest worth showing (rkt's "most dirs").
 */
export const POD_DIR_STATES_VISIBLE: readonly PodDirState[] = ['prepare', 'prepared', 'run', 'exited-garbage'];

/** Whether a lock on a pod directory in this phase means something (embryo and prepared: no). */
export function isLockMeaningful(dir: PodDirState): boolean {
  return dir !== 'embryo' && dir !== 'prepared';
}

/**
 * The states shown to users (`rkt list`, `rkt status`), spelled exactly as rkt prints them.
 */
export const POD_STATES = [
  'embryo',
  'preparing',
  'aborted prepare',
  'prepared',
  'running',
  'deleting',
  'exited deleting',
  'exited',
  'exited garbage',
  'garbage',
] as const;
export type PodState = (typeof POD_STATES)[number];

/**
 * The user-visible state of a pod found in `dir`, given whether its directory is currently
 * locked exclusively by another process (a failed non-blocking shared flock).
 *
 * | dir            | locked          | unlocked        |
 * |----------------|-----------------|-----------------|
 * | embryo         | embryo          | embryo          |
 * | prepare        | preparing       | aborted prepare |
 * | prepared       | prepared        | prepared        |
 * | run            | running         | exited          |
 * | exited-garbage | exited deleting | exited garbage  |
 * | garbage        | deleting        | garbage         |
 */
export function podStateOf(dir: PodDirState, locked: boolean): PodState {
  switch (dir) {
    case 'embryo':
      return 'embryo';
    case 'prepare':
      return locked ? 'preparing' : 'aborted prepare';
    case 'prepared':
      return 'prepared';
    case 'run':
      return locked ? 'running' : 'exited';
    case 'exited-garbage':
      return locked ? 'exited deleting' : 'exited garbage';
    case 'garbage':
      return locked ? 'deleting' : 'garbage';
  }
}

/** The directory a pod in this user-visible state lives in. */
export function podDirStateOf(state: PodState): PodDirState {
  switch (state) {
    case 'embryo':
      return 'embryo';
    case 'preparing':
    case 'aborted prepare':
      return 'prepare';
    case 'prepared':
      return 'prepared';
    case 'running':
    case 'exited':
      return 'run';
    case 'exited deleting':
    case 'exited garbage':
      return 'exited-garbage';
    case 'deleting':
    case 'garbage':
      return 'garbage';
  }
}

/** Who performs a transition and why; used in docs and error messages. */
export interface PodTransition {
  from: PodDirState;
  to: PodDirState;
  /** the user-visible state the pod must be in for the rename */
  requires: PodState;
  /** whether the renaming process must hold the exclusive lock during the rename */
  lockHeld: boolean;
  by: string;
}

/**
 * Every allowed directory rename. Anything else is a bug. Pods leave `exited-garbage` and
 * `garbage` only by being deleted (under an exclusive lock), not by a rename.
 */
export const POD_TRANSITIONS: readonly PodTransition[] = [
  { from: 'embryo', to: 'prepare', requires: 'embryo', lockHeld: true, by: 'rkt prepare / rkt run, by the creator, after locking the new directory' },
  { from: 'prepare', to: 'prepared', requires: 'preparing', lockHeld: true, by: 'rkt prepare, by the creator; the lock is dropped after the rename' },
  { from: 'prepare', to: 'run', requires: 'preparing', lockHeld: true, by: 'rkt run, by the creator, skipping prepared' },
  { from: 'prepared', to: 'run', requires: 'prepared', lockHeld: true, by: 'rkt run-prepared, after locking the prepared directory' },
  { from: 'run', to: 'exited-garbage', requires: 'exited', lockHeld: false, by: 'rkt gc mark pass, for exited pods' },
  { from: 'prepare', to: 'garbage', requires: 'aborted prepare', lockHeld: false, by: 'rkt gc, for failed or interrupted prepares' },
  { from: 'prepared', to: 'garbage', requires: 'prepared', lockHeld: false, by: 'rkt gc, for prepared pods older than --expire-prepared' },
];

/** The directories from which a pod is deleted (recursively, under an exclusive lock). */
export const POD_DELETABLE_DIR_STATES: readonly PodDirState[] = ['exited-garbage', 'garbage'];

/** The transition for a rename from `from` to `to`, or undefined when it is not allowed. */
export function findTransition(from: PodDirState, to: PodDirState): PodTransition | undefined {
  return POD_TRANSITIONS.find((t) => t.from === from && t.to === to);
}

/** Whether a pod may be renamed from `from` to `to` (ignoring the lock state). */
export function canTransition(from: PodDirState, to: PodDirState): boolean {
  return findTransition(from, to) !== undefined;
}

/**
 * Checks a rename before it is done: the pair must be an allowed transition and, when the
 * current user-visible state is given, it must be the one the transition requires. Throws an
 * internal error `pod.state.transition` otherwise (callers only attempt renames they planned).
 */
export function assertTransition(from: PodDirState, to: PodDirState, current?: PodState): PodTransition {
  const t = findTransition(from, to);
  if (!t) {
    throw internalError('pod.state.transition', `pod transition from ${from} to ${to} is not allowed`, { details: { from, to } });
  }
  if (current !== undefined && current !== t.requires) {
    throw internalError('pod.state.transition', `pod transition from ${from} to ${to} needs state ${t.requires}, pod is ${current}`, {
      details: { from, to, current },
    });
  }
  return t;
}

/** The pod's process has finished or will never run (rkt's IsFinished). */
export function isFinished(state: PodState): boolean {
  return (
    state === 'exited' ||
    state === 'exited garbage' ||
    state === 'exited deleting' ||
    state === 'aborted prepare' ||
    state === 'garbage' ||
    state === 'deleting'
  );
}

/** The pod ran once and is not running any more, or is garbage (rkt's IsAfterRun). */
export function isAfterRun(state: PodState): boolean {
  return state === 'exited' || state === 'exited garbage' || state === 'exited deleting' || state === 'deleting' || state === 'garbage';
}

/**
 * Whether the pod manifest (`pod`) can be expected to exist: not in an embryo, not while (or
 * after failing) preparing, and not while a never-run pod is being deleted.
 */
export function podManifestAvailable(state: PodState): boolean {
  return state !== 'preparing' && state !== 'aborted prepare' && state !== 'deleting' && state !== 'embryo';
}

/** Whether `s` names a pods directory. */
export function isPodDirState(s: string): s is PodDirState {
  return (POD_DIR_STATES as readonly string[]).includes(s);
}

/** Whether `s` is a user-visible pod state. */
export function isPodState(s: string): s is PodState {
  return (POD_STATES as readonly string[]).includes(s);
}
