import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  POD_DIR_STATES,
  POD_STATES,
  POD_TRANSITIONS,
  assertTransition,
  canTransition,
  isAfterRun,
  isFinished,
  isLockMeaningful,
  isPodDirState,
  isPodState,
  podDirStateOf,
  podManifestAvailable,
  podStateOf,
  type PodDirState,
  type PodState,
} from '@rktnetes/common';

test('directory names and user-visible states are rkt spellings', (t) => {
  t.deepEqual([...POD_DIR_STATES], ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage']);
  t.deepEqual([...POD_STATES], ['embryo', 'preparing', 'aborted prepare', 'prepared', 'running', 'deleting', 'exited deleting', 'exited', 'exited garbage', 'garbage']);
  t.true(isPodDirState('exited-garbage'));
  t.false(isPodDirState('exited'));
  t.true(isPodState('aborted prepare'));
  t.false(isPodState('gone'));
});

test('state = directory + lock', (t) => {
  const table: [PodDirState, PodState, PodState][] = [
    ['embryo', 'embryo', 'embryo'],
    ['prepare', 'preparing', 'aborted prepare'],
    ['prepared', 'prepared', 'prepared'],
    ['run', 'running', 'exited'],
    ['exited-garbage', 'exited deleting', 'exited garbage'],
    ['garbage', 'deleting', 'garbage'],
  ];
  for (const [dir, locked, unlocked] of table) {
    t.is(podStateOf(dir, true), locked);
    t.is(podStateOf(dir, false), unlocked);
    t.is(podDirStateOf(podStateOf(dir, true)), dir);
    t.is(podDirStateOf(podStateOf(dir, false)), dir);
  }
  t.false(isLockMeaningful('embryo'));
  t.false(isLockMeaningful('prepared'));
  t.true(isLockMeaningful('run'));
});

test('allowed renames', (t) => {
  const allowed = POD_TRANSITIONS.map((x) => `${x.from}>${x.to}`).sort();
  t.deepEqual(allowed, ['embryo>prepare', 'prepare>garbage', 'prepare>prepared', 'prepare>run', 'prepared>garbage', 'prepared>run', 'run>exited-garbage'].sort());
  let count = 0;
  for (const from of POD_DIR_STATES) {
    for (const to of POD_DIR_STATES) {
      if (canTransition(from, to)) count++;
      else t.true(hasCode(t.throws(() => assertTransition(from, to)), 'pod.state.transition'), `${from}>${to}`);
    }
  }
  t.is(count, 7);
});

test('a rename also needs the right current state', (t) => {
  t.notThrows(() => assertTransition('run', 'exited-garbage', 'exited'));
  t.true(hasCode(t.throws(() => assertTransition('run', 'exited-garbage', 'running')), 'pod.state.transition'));
  t.notThrows(() => assertTransition('prepare', 'garbage', 'aborted prepare'));
  t.throws(() => assertTransition('prepare', 'garbage', 'preparing'));
  t.notThrows(() => assertTransition('prepare', 'run', 'preparing'));
  t.notThrows(() => assertTransition('prepared', 'run'));
  t.true(assertTransition('prepared', 'run').lockHeld);
  t.false(assertTransition('run', 'exited-garbage').lockHeld);
});

test('state predicates follow rkt', (t) => {
  t.true(isFinished('exited'));
  t.true(isFinished('aborted prepare'));
  t.true(isFinished('deleting'));
  t.false(isFinished('running'));
  t.false(isFinished('prepared'));
  t.true(isAfterRun('exited garbage'));
  t.false(isAfterRun('aborted prepare'));
  t.false(podManifestAvailable('preparing'));
  t.false(podManifestAvailable('deleting'));
  t.true(podManifestAvailable('running'));
  t.true(podManifestAvailable('exited deleting'));
});
