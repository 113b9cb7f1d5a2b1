import test from 'ava';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { tmpDir } from '@rktnetes/testkit';
import { appLogPath, formatLogRecords } from '@rktnetes/api-service';
import { apiClient, collect, grpc, startService } from './helpers/server';
import { holdLocks, writePod } from './helpers/pods';

const Status = grpc.status;
const T0 = 1_700_000_000n; // seconds
const at = (s: number) => (T0 + BigInt(s)) * 1_000_000_000n + 5n;

async function writeLog(pod: string, app: string, records: Array<[number, 'stdout' | 'stderr', string]>): Promise<void> {
  const path = appLogPath(pod, app);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, records.map(([s, stream, text]) => formatLogRecords(stream, text, at(s))).join(''));
}

async function setUp(t: { teardown: (fn: () => unknown) => void }) {
  const data = await tmpDir('api-logs', t);
  const pod = await writePod(data, { state: 'run', apps: [{ name: 'web' }, { name: 'side' }] });
  await writeLog(pod.path, 'web', [
    [1, 'stdout', 'web one'],
    [3, 'stderr', 'web three'],
    [5, 'stdout', 'web five'],
  ]);
  await writeLog(pod.path, 'side', [
    [2, 'stdout', 'side two'],
    [4, 'stdout', 'side four'],
  ]);
  const holder = await holdLocks(pod.path);
  t.teardown(() => holder.release());
  const svc = await startService(['--dir', data, '--listen', '127.0.0.1:0']);
  t.teardown(() => svc.stop());
  const c = apiClient(svc.addresses[0]!);
  t.teardown(() => c.close());
  const logs = async (req: object) => {
    const { messages, error } = await collect<{ lines: string[] }>(c.raw.GetLogs(req));
    if (error) throw error;
    return messages.flatMap((m) => m.lines);
  };
  return { data, pod, holder, c, logs };
}

test('GetLogs returns an app\'s records, the last N, and a time window', async (t) => {
  const { pod, logs } = await setUp(t);
  const web = await logs({ pod_id: pod.uuid, app_name: 'web' });
  t.deepEqual(web, [
    '2023-11-14T22:13:21.000000005Z web stdout F web one',
    '2023-11-14T22:13:23.000000005Z web stderr F web three',
    '2023-11-14T22:13:25.000000005Z web stdout F web five',
  ]);
  t.deepEqual((await logs({ pod_id: pod.uuid, app_name: 'web', lines: 2 })).map((l) => l.split(' F ')[1]), ['web three', 'web five']);
  t.deepEqual((await logs({ pod_id: pod.uuid, app_name: 'web', since_time: String(T0 + 3n) })).map((l) => l.split(' F ')[1]), ['web three', 'web five']);
  t.deepEqual((await logs({ pod_id: pod.uuid, app_name: 'web', until_time: String(T0 + 3n) })).map((l) => l.split(' F ')[1]), ['web one']);
  t.deepEqual(
    (await logs({ pod_id: pod.uuid })).map((l) => l.split(' F ')[1]),
    ['web one', 'side two', 'web three', 'side four', 'web five'],
    'all apps, merged by time',
  );
  t.deepEqual((await logs({ pod_id: pod.uuid, lines: 2, since_time: String(T0 + 2n), until_time: String(T0 + 5n) })).map((l) => l.split(' F ')[1]), ['web three', 'side four']);
  t.deepEqual(await logs({ pod_id: pod.uuid.slice(0, 8), app_name: 'side', since_time: String(T0 + 100n) }), [], 'nothing in the window');
});

test('GetLogs follow streams records appended to the log file, and ends when the pod exits', async (t) => {
  const { pod, logs, c, holder } = await setUp(t);
  t.truthy(logs);
  const stream = c.raw.GetLogs({ pod_id: pod.uuid, app_name: 'web', lines: 1, follow: true });
  const got: string[] = [];
  let ended = false;
  const waitFor = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (got.length >= n ? resolve() : ended ? reject(new Error(`stream ended with ${got.length} lines`)) : setTimeout(check, 20));
      check();
    });
  const done = new Promise<void>((resolve) => {
    stream.on('data', (m: { lines: string[] }) => got.push(...m.lines));
    stream.on('end', () => {
      ended = true;
      resolve();
    });
    stream.on('error', () => {
      ended = true;
      resolve();
    });
  });
  await waitFor(1);
  t.regex(got[0]!, / web five$/);
  const path = appLogPath(pod.path, 'web');
  await appendFile(path, formatLogRecords('stdout', 'live one', at(10)));
  await waitFor(2);
  // a record whose newline is not written yet is not sent until it is complete
  const rec = formatLogRecords('stderr', 'live two', at(11));
  await appendFile(path, rec.slice(0, 20));
  await new Promise((r) => setTimeout(r, 400));
  t.is(got.length, 2);
  await appendFile(path, rec.slice(20));
  await waitFor(3);
  t.deepEqual(got.slice(1).map((l) => l.split(/ [FP] /)[1]), ['live one', 'live two']);
  await holder.release();
  await done;
  t.true(ended, 'the follow ends once the pod has exited');
});

test('GetLogs follow stops when the client cancels', async (t) => {
  const { pod, c } = await setUp(t);
  const stream = c.raw.GetLogs({ pod_id: pod.uuid, follow: true });
  const first = await new Promise<string[]>((resolve) => stream.once('data', (m: { lines: string[] }) => resolve(m.lines)));
  t.is(first.length, 5);
  const { error } = await (async () => {
    const p = collect(stream);
    stream.cancel();
    return p;
  })();
  t.is(error?.code, Status.CANCELLED);
});

test('GetLogs errors: INVALID_ARGUMENT and NOT_FOUND', async (t) => {
  const { pod, c } = await setUp(t);
  const code = async (req: object) => (await collect(c.raw.GetLogs(req))).error?.code;
  t.is(await code({}), Status.INVALID_ARGUMENT);
  t.is(await code({ pod_id: 'xyz!' }), Status.INVALID_ARGUMENT);
  t.is(await code({ pod_id: pod.uuid, lines: -1 }), Status.INVALID_ARGUMENT);
  t.is(await code({ pod_id: pod.uuid, since_time: 10, until_time: 5 }), Status.INVALID_ARGUMENT);
  t.is(await code({ pod_id: pod.uuid, app_name: 'Not_An_App' }), Status.INVALID_ARGUMENT);
  t.is(await code({ pod_id: 'ffffffff' }), Status.NOT_FOUND);
  t.is(await code({ pod_id: pod.uuid, app_name: 'nope' }), Status.NOT_FOUND);
});
