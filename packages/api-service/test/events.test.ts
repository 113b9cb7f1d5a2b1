import test from 'ava';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { podDir } from '@rktnetes/common';
import { openStore } from '@rktnetes/store';
import { busyboxImage, hasBusybox, tmpDir } from '@rktnetes/testkit';
import { apiClient, collect, grpc, startService } from './helpers/server';
import { holdLocks, writePod, writePodFiles } from './helpers/pods';

const Status = grpc.status;

interface Ev {
  type: string;
  id: string;
  from: string;
  time: string;
  data: Array<{ Key: string; value: string }>;
}

/** A ListenEvents subscription collecting events as they come. */
function listen(c: ReturnType<typeof apiClient>, filter: object = {}) {
  const stream = c.raw.ListenEvents({ filter });
  const events: Ev[] = [];
  let responses = 0;
  let ended = false;
  stream.on('data', (m: { events: Ev[] }) => {
    responses++;
    events.push(...m.events);
  });
  stream.on('end', () => (ended = true));
  stream.on('error', () => (ended = true));
  const until = async (pred: () => boolean, what: string, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => e.type))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    stream,
    events,
    ended: () => ended,
    ready: () => until(() => responses > 0, 'the first response'),
    waitFor: (type: string, id?: string) => until(() => events.some((e) => e.type === type && (!id || e.id === id)), type),
    types: (id: string) => events.filter((e) => e.id === id).map((e) => e.type),
  };
}

async function service(t: { teardown: (fn: () => unknown) => void }) {
  const data = await tmpDir('api-events', t);
  const svc = await startService(['--dir', data, '--listen', '127.0.0.1:0', '--events-interval', '100']);
  t.teardown(() => svc.stop());
  const c = apiClient(svc.addresses[0]!);
  t.teardown(() => c.close());
  return { data, svc, c };
}

test('ListenEvents streams created, started, app exited, exited and gc\'d as a pod moves through its states', async (t) => {
  const { data, c } = await service(t);
  const all = listen(c);
  const startedOnly = listen(c, { types: ['EVENT_TYPE_POD_STARTED'] });
  await all.ready();
  await startedOnly.ready();
  t.deepEqual(all.events, [], 'no replay without since_time');

  // rkt run: embryo, locked, renamed to prepare, manifest written, renamed to run
  const pod = await writePod(data, { state: 'embryo' });
  const holder = await holdLocks(pod.path);
  t.teardown(() => holder.release());
  const spec = { apps: [{ name: 'web' }, { name: 'side' }], annotations: [{ name: 'name', value: 'my-pod' }] };
  await rename(pod.path, podDir(data, 'prepare', pod.uuid));
  await writePodFiles(podDir(data, 'prepare', pod.uuid), spec, { manifest: true });
  await all.waitFor('EVENT_TYPE_POD_CREATED', pod.uuid);
  await rename(podDir(data, 'prepare', pod.uuid), podDir(data, 'run', pod.uuid));
  const run = podDir(data, 'run', pod.uuid);
  await writePodFiles(run, { ...spec, apps: [{ name: 'web' }, { name: 'side', exitCode: 4 }] }, { run: true });
  await all.waitFor('EVENT_TYPE_APP_EXITED', pod.uuid);
  await all.waitFor('EVENT_TYPE_POD_STARTED', pod.uuid);
  t.false(all.types(pod.uuid).includes('EVENT_TYPE_POD_PREPARE_ABORTED'), 'a locked pod in prepare is preparing, not aborted');
  await holder.release();
  await all.waitFor('EVENT_TYPE_POD_EXITED', pod.uuid);
  await rename(run, podDir(data, 'exited-garbage', pod.uuid));
  await rm(podDir(data, 'exited-garbage', pod.uuid), { recursive: true });
  await all.waitFor('EVENT_TYPE_POD_GARBAGE_COLLECTED', pod.uuid);

  const types = all.types(pod.uuid);
  t.deepEqual(
    types.filter((x) => !x.startsWith('EVENT_TYPE_APP_')),
    ['EVENT_TYPE_POD_CREATED', 'EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_POD_EXITED', 'EVENT_TYPE_POD_GARBAGE_COLLECTED'],
  );
  const appEvents = all.events.filter((e) => e.id === pod.uuid && e.type.startsWith('EVENT_TYPE_APP_')).map((e) => `${e.type} ${e.from}`).sort();
  t.deepEqual(appEvents, ['EVENT_TYPE_APP_EXITED side', 'EVENT_TYPE_APP_STARTED side', 'EVENT_TYPE_APP_STARTED web']);
  const exited = all.events.find((e) => e.type === 'EVENT_TYPE_APP_EXITED')!;
  t.deepEqual(exited.data, [{ Key: 'exitCode', value: '4' }]);
  const created = all.events.find((e) => e.type === 'EVENT_TYPE_POD_CREATED')!;
  t.is(created.from, '', 'an embryo has no manifest, hence no name yet');
  t.true(Math.abs(Number(created.time) - Date.now() / 1000) < 60);
  t.is(all.events.find((e) => e.type === 'EVENT_TYPE_POD_STARTED')!.from, 'my-pod', 'the name annotation');
  t.is(all.events.find((e) => e.type === 'EVENT_TYPE_POD_GARBAGE_COLLECTED')!.from, 'my-pod', 'remembered after removal');
  t.deepEqual(startedOnly.events.map((e) => e.type), ['EVENT_TYPE_POD_STARTED']);
  all.stream.cancel();
  startedOnly.stream.cancel();
});

test('ListenEvents reports prepared and aborted prepares, filters by id and name', async (t) => {
  const { data, c } = await service(t);
  const prepared = await writePod(data, { state: 'prepared', annotations: [{ name: 'name', value: 'p1' }] });
  const byName = listen(c, { names: ['p2'] });
  const byId = listen(c, { ids: [prepared.uuid], since_time: 1 });
  await byName.ready();
  await byId.ready();
  const aborted = await writePod(data, { state: 'prepare', annotations: [{ name: 'name', value: 'p2' }] });
  await byName.waitFor('EVENT_TYPE_POD_PREPARE_ABORTED', aborted.uuid);
  t.true(byName.events.every((e) => e.from === 'p2'));
  await byId.waitFor('EVENT_TYPE_POD_PREPARED', prepared.uuid);
  t.true(byId.events.every((e) => e.id === prepared.uuid));
  t.deepEqual(byId.types(prepared.uuid), ['EVENT_TYPE_POD_CREATED', 'EVENT_TYPE_POD_PREPARED']);
  byName.stream.cancel();
  byId.stream.cancel();
});

test('ListenEvents replays history since a time, and ends at until_time', async (t) => {
  const { data, c } = await service(t);
  const before = Math.floor(Date.now() / 1000) - 5;
  const pod = await writePod(data, { state: 'exited-garbage', apps: [{ name: 'web', exitCode: 0 }] });
  // wait for the watcher to see it
  const live = listen(c, { since_time: before });
  await live.waitFor('EVENT_TYPE_POD_EXITED', pod.uuid);
  live.stream.cancel();

  const { messages, error } = await collect<{ events: Ev[] }>(
    c.raw.ListenEvents({ filter: { since_time: before, until_time: Math.floor(Date.now() / 1000) - 1 + 2 } }),
  );
  t.is(error, undefined, 'a stream with until_time ends by itself');
  const types = messages.flatMap((m) => m.events).filter((e) => e.id === pod.uuid).map((e) => e.type);
  t.deepEqual(types.filter((x) => !x.startsWith('EVENT_TYPE_APP_')), ['EVENT_TYPE_POD_CREATED', 'EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_POD_EXITED']);

  const past = await collect<{ events: Ev[] }>(c.raw.ListenEvents({ filter: { since_time: 1, until_time: 2 } }));
  t.is(past.error, undefined);
  t.deepEqual(past.messages.flatMap((m) => m.events), [], 'until in the past: the replay (empty) and the end');

  const future = listen(c, { since_time: Math.floor(Date.now() / 1000) + 3600 });
  await future.ready();
  await writePod(data, { state: 'prepared' });
  await new Promise((r) => setTimeout(r, 400));
  t.deepEqual(future.events, [], 'since in the future: nothing yet');
  future.stream.cancel();
});

test('ListenEvents reports images imported and removed', async (t) => {
  if (!hasBusybox()) return t.pass('busybox-static missing');
  const { data, c } = await service(t);
  const images = listen(c, { types: ['EVENT_TYPE_IMAGE_IMPORTED', 'EVENT_TYPE_IMAGE_REMOVED'] });
  await images.ready();
  const store = openStore(data);
  t.teardown(() => store.close());
  const info = await store.importImage(Readable.from(await busyboxImage({ name: 'example.com/evt', labels: { version: '2' } })));
  await images.waitFor('EVENT_TYPE_IMAGE_IMPORTED', info.key);
  await store.removeImage(info.key);
  await images.waitFor('EVENT_TYPE_IMAGE_REMOVED', info.key);
  t.deepEqual(
    images.events.map((e) => [e.type, e.from]),
    [
      ['EVENT_TYPE_IMAGE_IMPORTED', 'example.com/evt'],
      ['EVENT_TYPE_IMAGE_REMOVED', 'example.com/evt'],
    ],
  );
  t.deepEqual(images.events[0]!.data, [{ Key: 'version', value: '2' }]);
  images.stream.cancel();
});

test('ListenEvents: bad filters are INVALID_ARGUMENT', async (t) => {
  const { c } = await service(t);
  t.is((await collect(c.raw.ListenEvents({ filter: { since_time: 10, until_time: 5 } }))).error?.code, Status.INVALID_ARGUMENT);
  t.is((await collect(c.raw.ListenEvents({ filter: { types: [77] } }))).error?.code, Status.INVALID_ARGUMENT);
  t.is((await collect(c.raw.ListenEvents({ filter: { since_time: -1 } }))).error?.code, Status.INVALID_ARGUMENT);
});
