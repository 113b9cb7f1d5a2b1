import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '@rktnetes/log';
import { tmpDir } from '@rktnetes/testkit';
import { EventWatcher, ImageView, PodView, podMilestones, type RuntimeEvent } from '@rktnetes/api-service';
import { writePod } from './helpers/pods';

test('podMilestones: what each state implies, with times from the disk', async (t) => {
  const data = await tmpDir('api-watch', t);
  const view = new PodView(data);
  const created = new Date('2024-03-04T05:06:07Z');
  const exited = await writePod(data, { state: 'exited-garbage', createdAt: created, apps: [{ name: 'a', exitCode: 0 }, { name: 'b', started: true }] });
  const rec = await view.get(exited.uuid);
  const ms = podMilestones(rec, 42);
  t.deepEqual(ms.map((m) => m.key).sort(), ['app-exited:a', 'app-started:a', 'app-started:b', 'created', 'exited', 'started'].sort());
  t.is(ms.find((m) => m.key === 'created')!.event.time, created.getTime() / 1000);
  t.not(ms.find((m) => m.key === 'started')!.event.time, 42, 'the pid file mtime');
  const garbage = await view.get((await writePod(data, { state: 'garbage' })).uuid);
  t.deepEqual(podMilestones(garbage, 42).map((m) => m.key), ['created'], 'a pod in garbage never ran');
  const aborted = await view.get((await writePod(data, { state: 'prepare' })).uuid);
  t.deepEqual(podMilestones(aborted, 42).map((m) => [m.key, m.event.time]), [['created', 42], ['aborted', 42]]);
});

test('EventWatcher keeps reporting pods while the store cannot be read, and logs that once', async (t) => {
  const data = await tmpDir('api-watch', t);
  await mkdir(join(data, 'cas', 'db'), { recursive: true });
  await writeFile(join(data, 'cas', 'db', 'store.sqlite'), 'this is not a database');
  const lines: string[] = [];
  const log = createLogger({ prefix: 'test', write: (l) => lines.push(l) });
  const w = new EventWatcher(new PodView(data), new ImageView(data), { intervalMs: 60_000, log });
  t.teardown(() => w.close());
  await w.start();
  const got: RuntimeEvent[] = [];
  w.subscribe(undefined, (e) => got.push(...e));
  const pod = await writePod(data, { state: 'prepared' });
  await w.scan();
  await w.scan();
  t.deepEqual(got.map((e) => [e.kind, e.id]), [
    ['pod-created', pod.uuid],
    ['pod-prepared', pod.uuid],
  ]);
  t.is(lines.filter((l) => l.includes('cannot sample images')).length, 1);
  const { replay } = w.subscribe(0, () => {});
  t.is(replay.length, 2, 'history since the epoch');
});
