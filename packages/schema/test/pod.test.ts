import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  EMPTY_VOLUME_DEFAULTS,
  examplePodManifest,
  fakeImageID,
  mergeAnnotations,
  parsePodManifest,
  podManifest,
  runtimeApp,
  serializePodManifest,
  validatePodManifest,
} from '@rktnetes/schema';

test('the spec example parses', (t) => {
  const m = examplePodManifest();
  t.is(m.apps.length, 3);
  t.is(m.apps[0]?.readOnlyRootFS, true);
  t.is(m.apps[1]?.annotations?.[0]?.value, 'baz');
  t.is(m.apps[2]?.app, undefined);
  t.is(m.volumes?.[0]?.kind, 'host');
  t.deepEqual(m.ports, [{ name: 'ftp', hostPort: 2121 }]);
  t.deepEqual(validatePodManifest(JSON.parse(JSON.stringify(m))), []);
});

test('a pod manifest as Go writes it (null lists, rkt user annotations) parses', (t) => {
  const text = JSON.stringify({
    acVersion: '1.30.0',
    acKind: 'PodManifest',
    apps: [
      {
        name: 'busybox',
        image: { name: 'coreos.com/rkt/busybox', id: fakeImageID('busybox'), labels: [{ name: 'version', value: 'latest' }] },
        app: {
          exec: ['sh'],
          user: '0',
          group: '0',
          environment: [{ name: 'PATH', value: '/usr/bin:/bin' }],
          isolators: [{ name: 'os/linux/seccomp-remove-set', value: { set: ['@rkt/default-blacklist'], errno: '' } }],
        },
      },
    ],
    volumes: null,
    isolators: null,
    annotations: [{ name: 'coreos.com/rkt/stage1/mutable', value: 'false' }],
    ports: null,
    userAnnotations: { team: 'infra' },
    userLabels: { env: 'dev' },
  });
  const m = parsePodManifest(text);
  t.false('volumes' in m);
  t.is(m.userAnnotations?.['team'], 'infra');
  t.is(m.userLabels?.['env'], 'dev');
  t.is(m.apps[0]?.app?.isolators?.[0]?.name, 'os/linux/seccomp-remove-set');
});

test('round trip keeps unknown fields', (t) => {
  const m = { ...examplePodManifest(), 'coreos.com/extension': [1] } as ReturnType<typeof examplePodManifest>;
  const text = serializePodManifest(m);
  const again = parsePodManifest(text);
  t.deepEqual(again, parsePodManifest(m));
  t.is(serializePodManifest(again), text);
  t.true(text.startsWith('{"acKind":"PodManifest","acVersion":"0.8.11","apps":['));
});

test('empty volumes and app volumes', (t) => {
  const m = podManifest({
    apps: [{ name: 'web', mounts: [{ volume: 'cache', path: '/cache', appVolume: { name: 'cache', kind: 'empty', mode: '0700' } }] }],
    volumes: [{ name: 'data', kind: 'empty', uid: 1000, gid: 1000 }],
  });
  t.is(m.volumes?.[0]?.mode, undefined, 'defaults are not filled in');
  t.is(EMPTY_VOLUME_DEFAULTS.mode, '0755');
  t.is(m.apps[0]?.mounts?.[0]?.appVolume?.mode, '0700');
});

test('podManifest and runtimeApp builders', (t) => {
  const one = podManifest();
  t.is(one.apps.length, 1);
  t.is(one.apps[0]?.name, 'app');
  t.is(one.apps[0]?.image.id, fakeImageID('app'));
  const two = podManifest({ apps: [{}, { image: { name: 'example.com/db' } }], annotations: [{ name: 'a', value: 'b' }] });
  t.deepEqual(
    two.apps.map((a) => a.name),
    ['app', 'app-2'],
  );
  t.is(two.apps[1]?.image.name, 'example.com/db');
  t.deepEqual(podManifest({ apps: [] }).apps, []);
  t.is(runtimeApp({ name: 'x' }).image.name, 'example.com/x');
  const e = t.throws(() => podManifest({ apps: [{ name: 'a' }, { name: 'a' }] }));
  t.true(hasCode(e, 'schema.invalid'));
  t.is(e?.message, 'invalid pod manifest: apps[1].name: duplicate app "a"');
});

test('malformed JSON is schema.json', (t) => {
  const e = t.throws(() => parsePodManifest('{"apps": ['));
  t.true(hasCode(e, 'schema.json'));
  t.regex(e?.message ?? '', /^invalid pod manifest: malformed JSON/);
});

test('mergeAnnotations lets the pod override the image', (t) => {
  t.deepEqual(
    mergeAnnotations(
      [
        { name: 'a', value: '1' },
        { name: 'b', value: '2' },
      ],
      [
        { name: 'b', value: '3' },
        { name: 'c', value: '4' },
      ],
    ),
    [
      { name: 'a', value: '1' },
      { name: 'b', value: '3' },
      { name: 'c', value: '4' },
    ],
  );
});
