import test from 'ava';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { POD_DIR_STATES, createEmbryo, ensurePodsDirs, isPodGone, listPods, locatePod, newPodUUID, podDir, podsDir, renamePod } from '@rktnetes/common';
import { tempDir } from './helpers';

test('ensurePodsDirs creates every state directory with mode 0750', async (t) => {
  const data = await tempDir(t);
  await ensurePodsDirs(data);
  await ensurePodsDirs(data);
  t.deepEqual((await readdir(join(data, 'pods'))).sort(), [...POD_DIR_STATES].sort());
  for (const s of POD_DIR_STATES) t.is((await stat(podsDir(data, s))).mode & 0o777, 0o750);
});

test('a pod walks embryo → prepare → run → exited-garbage', async (t) => {
  const data = await tempDir(t);
  const uuid = newPodUUID();
  const embryo = await createEmbryo(data, uuid);
  t.is(embryo, podDir(data, 'embryo', uuid));
  t.is((await stat(embryo)).mode & 0o777, 0o750);
  t.deepEqual(await locatePod(data, uuid), { uuid, state: 'embryo', path: embryo });
  await renamePod(data, uuid, 'embryo', 'prepare', 'embryo');
  await renamePod(data, uuid, 'prepare', 'run', 'preparing');
  t.is((await locatePod(data, uuid))?.state, 'run');
  const path = await renamePod(data, uuid, 'run', 'exited-garbage', 'exited');
  t.is(path, podDir(data, 'exited-garbage', uuid));
  t.is((await locatePod(data, uuid))?.state, 'exited-garbage');
  t.is(await locatePod(data, newPodUUID()), undefined);
});

test('disallowed renames are refused before touching the disk', async (t) => {
  const data = await tempDir(t);
  const uuid = newPodUUID();
  await createEmbryo(data, uuid);
  t.true(hasCode(await t.throwsAsync(renamePod(data, uuid, 'embryo', 'run')), 'pod.state.transition'));
  t.true(hasCode(await t.throwsAsync(renamePod(data, uuid, 'embryo', 'prepare', 'prepared')), 'pod.state.transition'));
  t.is((await locatePod(data, uuid))?.state, 'embryo');
});

test('losing a rename race is pod.gone', async (t) => {
  const data = await tempDir(t);
  const uuid = newPodUUID();
  await ensurePodsDirs(data);
  const e = await t.throwsAsync(renamePod(data, uuid, 'run', 'exited-garbage'));
  t.true(hasCode(e, 'pod.gone'));
  t.true(isPodGone(e));
});

test('listPods skips stray entries and reports a pod once', async (t) => {
  const data = await tempDir(t);
  await ensurePodsDirs(data);
  const [a, b] = [newPodUUID(), newPodUUID()];
  await mkdir(podDir(data, 'run', a));
  await mkdir(podDir(data, 'prepared', b));
  await mkdir(podDir(data, 'exited-garbage', b)); // caught mid-rename
  await mkdir(join(podsDir(data, 'run'), 'NOT-A-UUID'));
  await writeFile(join(podsDir(data, 'run'), newPodUUID()), 'a file, not a pod');
  const all = await listPods(data);
  t.deepEqual(all.map((p) => p.uuid), [a, b].sort());
  t.is(all.find((p) => p.uuid === b)?.state, 'exited-garbage');
  t.deepEqual((await listPods(data, ['run'])).map((p) => p.uuid), [a]);
});
