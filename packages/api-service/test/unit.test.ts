import test from 'ava';
import { RktError, internalError, systemError, usageError, userError } from '@rktnetes/errors';
import {
  GrpcCode,
  MetadataRegistry,
  PodIdentity,
  formatLogRecords,
  formatLogTime,
  grpcStatusOf,
  imagePredicate,
  mergeRecords,
  parseListenAddress,
  parseLogRecord,
  parseLogTime,
  podPredicate,
  sameImageId,
  systemdListenFds,
  MAX_RECORD_TEXT,
  appLogPath,
  uuidBytes,
} from '@rktnetes/api-service';
import { podManifest, imageManifest, serializePodManifest, serializeImageManifest } from '@rktnetes/schema';
import { parseCli } from '../src/cli';

test('grpcStatusOf maps errors to gRPC codes in one place', (t) => {
  t.is(grpcStatusOf(userError('pod.not-found', 'no pod matches uuid "x"')).code, GrpcCode.NOT_FOUND);
  t.is(grpcStatusOf(userError('store.not-found', 'image not found')).code, GrpcCode.NOT_FOUND);
  t.is(grpcStatusOf(userError('whatever.not-found', 'x')).code, GrpcCode.NOT_FOUND);
  t.is(grpcStatusOf(userError('pod.ambiguous', 'ambiguous')).code, GrpcCode.INVALID_ARGUMENT);
  t.is(grpcStatusOf(usageError('uuid.empty', 'empty')).code, GrpcCode.INVALID_ARGUMENT);
  t.is(grpcStatusOf(usageError('api.invalid-argument', 'bad')).code, GrpcCode.INVALID_ARGUMENT);
  t.is(grpcStatusOf(systemError('store.busy', 'busy')).code, GrpcCode.UNAVAILABLE);
  t.is(grpcStatusOf(userError('store.schema-newer', 'newer')).code, GrpcCode.FAILED_PRECONDITION);
  t.is(grpcStatusOf(userError('x.y', 'user problem')).code, GrpcCode.FAILED_PRECONDITION);
  t.is(grpcStatusOf(systemError('x.io', 'io')).code, GrpcCode.INTERNAL);
  t.is(grpcStatusOf(internalError('x.bug', 'bug')).code, GrpcCode.INTERNAL);
  t.is(grpcStatusOf(new Error('plain')).code, GrpcCode.UNKNOWN);
  const s = grpcStatusOf(new RktError('pod.not-found', 'outer', { cause: new Error('root cause') }));
  t.is(s.details, 'outer: root cause');
});

test('parseListenAddress accepts host:port, [v6]:port, :port and unix sockets', (t) => {
  t.deepEqual(parseListenAddress('localhost:15441'), { kind: 'tcp', host: 'localhost', port: 15441 });
  t.deepEqual(parseListenAddress('127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
  t.deepEqual(parseListenAddress('[::1]:80'), { kind: 'tcp', host: '::1', port: 80 });
  t.deepEqual(parseListenAddress(':18112'), { kind: 'tcp', host: '0.0.0.0', port: 18112 });
  t.deepEqual(parseListenAddress('unix:/run/rkt/api.sock'), { kind: 'unix', path: '/run/rkt/api.sock' });
  t.deepEqual(parseListenAddress('/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
  for (const bad of ['localhost', 'host:99999', 'unix:relative', '1.2.3.4:x', '']) {
    t.throws(() => parseListenAddress(bad), { message: /invalid listen address/ }, bad);
  }
});

test('systemdListenFds honours LISTEN_PID and LISTEN_FDNAMES and unsets the variables', (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_FDS: '2', LISTEN_PID: '77', LISTEN_FDNAMES: 'a:public' };
  t.deepEqual(systemdListenFds(env, 77), [
    { fd: 3, name: 'a' },
    { fd: 4, name: 'public' },
  ]);
  t.is(env.LISTEN_FDS, undefined);
  t.is(env.LISTEN_PID, undefined);
  t.deepEqual(systemdListenFds({ LISTEN_FDS: '1', LISTEN_PID: '78' }, 77), [], 'meant for another process');
  t.deepEqual(systemdListenFds({}, 77), []);
  t.deepEqual(systemdListenFds({ LISTEN_FDS: 'x', LISTEN_PID: '77' }, 77), []);
});

test('parseCli: API defaults, flags and errors', (t) => {
  const c = parseCli([], {}, 1);
  t.is(c.mode, 'api');
  if (c.mode !== 'api') return;
  t.is(c.dataDir, '/var/lib/rkt');
  t.deepEqual(c.listen, [{ kind: 'tcp', host: 'localhost', port: 15441 }]);
  t.deepEqual(c.optionalListen, [{ kind: 'unix', path: '/run/rkt/api-service.sock' }]);
  const d = parseCli(['--dir', '/d', '--listen', '127.0.0.1:1', '--listen', 'unix:/s', '--insecure-options', 'image'], { RKT_DIR: '/e' }, 1);
  if (d.mode !== 'api') return t.fail();
  t.is(d.dataDir, '/d');
  t.is(d.listen.length, 2);
  t.deepEqual(d.optionalListen, []);
  t.is(d.globalFlags.insecure_flags, 'image');
  const e = parseCli([], { RKT_DIR: '/e' }, 1);
  t.is(e.mode === 'api' && e.dataDir, '/e');
  t.throws(() => parseCli(['--bogus'], {}, 1), { message: /unknown option/ });
  t.throws(() => parseCli(['--listen-port', '1'], {}, 1), { message: /metadata service/ });
  t.throws(() => parseCli(['--listen', ':1'], { LISTEN_FDS: '1', LISTEN_PID: '1' }, 1), { message: /systemd/ });
  const act = parseCli([], { LISTEN_FDS: '2', LISTEN_PID: '1' }, 1);
  t.deepEqual(act.mode === 'api' && act.listen.map((l) => l.kind === 'fd' && l.fd), [3, 4]);
});

test('parseCli: metadata mode and socket activation roles', (t) => {
  const m = parseCli(['metadata'], {}, 1);
  if (m.mode !== 'metadata') return t.fail();
  t.deepEqual(m.publicListen, [{ kind: 'tcp', host: '0.0.0.0', port: 18112 }]);
  t.deepEqual(m.registrationListen, [{ kind: 'unix', path: '/run/rkt/metadata-svc.sock' }]);
  const p = parseCli(['metadata', '--listen-port', '9000', '--registration-socket', '/tmp/r.sock'], {}, 1);
  if (p.mode !== 'metadata') return t.fail();
  t.is(p.publicListen[0]!.kind === 'tcp' && p.publicListen[0]!.port, 9000);
  t.throws(() => parseCli(['metadata', '--dir', '/x'], {}, 1), { message: /API service/ });
  t.throws(() => parseCli(['metadata', '--listen-port', '70000'], {}, 1), { message: /listen-port/ });
  const one = parseCli(['metadata'], { LISTEN_FDS: '1', LISTEN_PID: '1', LISTEN_FDNAMES: 'rkt-metadata.socket' }, 1);
  if (one.mode !== 'metadata') return t.fail();
  t.deepEqual(one.registrationListen, [{ kind: 'fd', fd: 3, name: 'rkt-metadata.socket' }]);
  t.deepEqual(one.publicListen, [{ kind: 'tcp', host: '0.0.0.0', port: 18112 }]);
  const named = parseCli(['metadata'], { LISTEN_FDS: '2', LISTEN_PID: '1', LISTEN_FDNAMES: 'public:registration' }, 1);
  if (named.mode !== 'metadata') return t.fail();
  t.deepEqual(named.publicListen, [{ kind: 'fd', fd: 3, name: 'public' }]);
  t.deepEqual(named.registrationListen, [{ kind: 'fd', fd: 4, name: 'registration' }]);
});

test('log records: format, parse, split long lines, times with nanoseconds', (t) => {
  const ns = 1714564800123456789n;
  t.is(formatLogTime(ns), '2024-05-01T12:00:00.123456789Z');
  t.is(parseLogTime('2024-05-01T12:00:00.123456789Z'), ns);
  t.is(parseLogTime('2024-05-01T12:00:00.1234567Z'), 1714564800123456700n, 'Go trims trailing zeros');
  t.is(parseLogTime('2024-05-01T14:00:00+02:00'), 1714564800000000000n);
  t.is(parseLogTime('yesterday'), undefined);
  const line = formatLogRecords('stderr', 'hello world\n', ns);
  t.is(line, '2024-05-01T12:00:00.123456789Z stderr F hello world\n');
  t.deepEqual(parseLogRecord(line.trimEnd()), { time: ns, timeText: '2024-05-01T12:00:00.123456789Z', stream: 'stderr', full: true, text: 'hello world' });
  t.is(parseLogRecord('2024-05-01T12:00:00Z stdout F ')?.text, '');
  t.is(parseLogRecord('2024-05-01T12:00:00Z stdin F x'), undefined);
  t.is(parseLogRecord('2024-05-01T12:00:00Z stdout X x'), undefined);
  t.is(parseLogRecord('garbage'), undefined);
  const long = formatLogRecords('stdout', 'x'.repeat(MAX_RECORD_TEXT * 2 + 5), ns).trimEnd().split('\n').map((l) => parseLogRecord(l)!);
  t.deepEqual(long.map((r) => [r.full, r.text.length]), [
    [false, MAX_RECORD_TEXT],
    [false, MAX_RECORD_TEXT],
    [true, 5],
  ]);
  t.is(appLogPath('/p', 'web'), '/p/stage1/rootfs/rkt/log/web');
  t.throws(() => appLogPath('/p', '../x'));
});

test('mergeRecords orders by time and keeps file order for equal times', (t) => {
  const r = (app: string, time: bigint, text: string) => ({ app, time, timeText: '', stream: 'stdout' as const, full: true, text });
  const merged = mergeRecords([
    [r('a', 1n, 'a1'), r('a', 3n, 'a3'), r('a', 3n, 'a3b')],
    [r('b', 2n, 'b2'), r('b', 3n, 'b3')],
  ]);
  t.deepEqual(merged.map((x) => x.text), ['a1', 'b2', 'a3', 'a3b', 'b3']);
});

test('sameImageId matches rkt 64-digit keys against full keys', (t) => {
  const full = `sha512-${'ab'.repeat(64)}`;
  t.true(sameImageId(full, full.slice(0, 7 + 64)));
  t.true(sameImageId(full.slice(0, 7 + 64), full));
  t.true(sameImageId(full.toUpperCase().replace('SHA512', 'sha512'), full));
  t.false(sameImageId(full, `sha512-${'cd'.repeat(32)}`));
  t.false(sameImageId(full, 'sha512-'), 'an empty prefix matches nothing');
});

test('filters: unknown enum values and bad ids are invalid arguments', (t) => {
  const empty = { ids: [], states: [], app_names: [], image_ids: [], network_names: [], annotations: [], cgroups: [], pod_sub_cgroups: [] };
  t.throws(() => podPredicate([{ ...empty, states: [42] }]), { message: /unknown pod state 42/ });
  t.throws(() => podPredicate([{ ...empty, states: ['POD_STATE_NOPE' as never] }]), { message: /unknown pod state/ });
  t.notThrows(() => podPredicate([{ ...empty, states: [4, 'POD_STATE_EXITED'] }]));
  const img = { ids: ['nope'], prefixes: [], base_names: [], keywords: [], labels: [], imported_after: '0', imported_before: '0', annotations: [], full_names: [] };
  t.throws(() => imagePredicate([img]), { message: /invalid image id/ });
  t.throws(() => imagePredicate([{ ...img, ids: [], imported_after: '-1' }]), { message: /negative/ });
});

test('PodIdentity signs uuid bytes + content with HMAC-SHA512 and verifies', (t) => {
  const key = Buffer.alloc(64, 7);
  const id = new PodIdentity(key);
  const uuid = '6733c3e8-2c48-4f4b-9a1a-0a3fd7dc1c6e';
  t.is(uuidBytes(uuid).length, 16);
  const sig = id.sign(uuid, 'hello');
  t.is(Buffer.from(sig, 'base64').length, 64);
  t.true(id.verify(uuid, 'hello', sig));
  t.false(id.verify(uuid, 'hellO', sig));
  t.false(id.verify('6733c3e8-2c48-4f4b-9a1a-0a3fd7dc1c6f', 'hello', sig));
  t.false(new PodIdentity().verify(uuid, 'hello', sig), 'another key');
  t.false(id.verify(uuid, 'hello', 'AAAA'));
});

test('MetadataRegistry registers pods and apps by token and uuid', (t) => {
  const r = new MetadataRegistry();
  const uuid = '6733c3e8-2c48-4f4b-9a1a-0a3fd7dc1c6e';
  const pm = serializePodManifest(podManifest({ apps: [{ name: 'web' }] }));
  r.registerPod(uuid, 'tok-1', pm);
  t.is(r.byToken('tok-1')?.uuid, uuid);
  r.registerApp(uuid, 'web', serializeImageManifest(imageManifest({ name: 'example.com/web' })));
  t.is(r.byToken('tok-1')?.apps.get('web')?.manifest.name, 'example.com/web');
  t.throws(() => r.registerPod('not-a-uuid', 'tok', pm), { message: /invalid pod uuid/ });
  t.throws(() => r.registerPod(uuid, 'bad token!', pm), { message: /token/ });
  t.throws(() => r.registerPod('6733c3e8-2c48-4f4b-9a1a-0a3fd7dc1c6f', 'tok-1', pm), { message: /another pod/ });
  t.throws(() => r.registerPod(uuid, 'tok-2', '{"acKind":"PodManifest"}'));
  t.throws(() => r.registerApp('6733c3e8-2c48-4f4b-9a1a-0a3fd7dc1c6f', 'web', '{}'), { message: /not registered/ });
  r.registerPod(uuid, 'tok-2', pm);
  t.is(r.byToken('tok-1'), undefined, 're-registering replaces the token');
  t.true(r.unregister(uuid));
  t.false(r.unregister(uuid));
  t.is(r.size, 0);
});
