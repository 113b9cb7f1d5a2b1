import test from 'ava';
import { hasCode, isRktError } from '@rktnetes/errors';
import {
  exampleImageManifest,
  fakeImageID,
  getAnnotation,
  getLabel,
  imageManifest,
  parseImageManifest,
  serializeImageManifest,
  validateImageManifest,
} from '@rktnetes/schema';

// The example of spec/aci.md, written as JSON text with its keys in the spec's order.
const specExample = JSON.stringify({
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/reduce-worker',
  labels: [
    { name: 'version', value: '1.0.0' },
    { name: 'arch', value: 'amd64' },
    { name: 'os', value: 'linux' },
  ],
  app: {
    exec: ['/usr/bin/reduce-worker', '--quiet'],
    user: '100',
    group: '300',
    supplementaryGids: [400, 500],
    eventHandlers: [
      { exec: ['/usr/bin/data-downloader'], name: 'pre-start' },
      { exec: ['/usr/bin/deregister-worker', '--verbose'], name: 'post-stop' },
    ],
    workingDirectory: '/opt/work',
    environment: [{ name: 'REDUCE_WORKER_DEBUG', value: 'true' }],
    isolators: [
      { name: 'resource/cpu', value: { request: '250m', limit: '500m' } },
      { name: 'resource/memory', value: { request: '1G', limit: '2G' } },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
    ],
    mountPoints: [{ name: 'work', path: '/var/lib/work', readOnly: false }],
    ports: [
      { name: 'health', port: 4000, protocol: 'tcp', socketActivated: true },
      { name: 'ftp-data', port: 20000, count: 1000, protocol: 'tcp' },
    ],
  },
  dependencies: [
    {
      imageName: 'example.com/reduce-worker-base',
      imageID: fakeImageID('base'),
      labels: [
        { name: 'os', value: 'linux' },
        { name: 'env', value: 'canary' },
      ],
      size: 22017258,
    },
  ],
  pathWhitelist: ['/etc/ca/example.com/crt', '/usr/bin/map-reduce-worker', '/etc/systemd/system/'],
  annotations: [
    { name: 'authors', value: 'Carly Container <carly@example.com>' },
    { name: 'created', value: '2014-10-27T19:32:27.67021798Z' },
    { name: 'documentation', value: 'https://example.com/docs' },
    { name: 'homepage', value: 'https://example.com' },
    { name: 'appc.io/executor/supports-systemd-notify', value: 'false' },
  ],
});

test('the spec example parses from text and from bytes', (t) => {
  const m = parseImageManifest(specExample);
  t.is(m.name, 'example.com/reduce-worker');
  t.is(m.app?.user, '100');
  t.deepEqual(m.app?.exec, ['/usr/bin/reduce-worker', '--quiet']);
  t.is(m.app?.isolators?.length, 3);
  t.is(m.dependencies?.[0]?.size, 22017258);
  t.is(getLabel(m.labels, 'arch'), 'amd64');
  t.is(getLabel(m.labels, 'missing'), undefined);
  t.is(getAnnotation(m.annotations, 'homepage'), 'https://example.com');
  t.deepEqual(parseImageManifest(new TextEncoder().encode(specExample)), m);
  t.deepEqual(parseImageManifest(Buffer.from(specExample)), m);
  t.deepEqual(validateImageManifest(JSON.parse(specExample)), []);
});

test('keys match case-insensitively as Go does (the spec example spells supplementaryGids)', (t) => {
  const m = parseImageManifest(specExample);
  t.deepEqual(m.app?.supplementaryGIDs, [400, 500]);
  t.false('supplementaryGids' in (m.app ?? {}));
});

test('the builder example equals the spec example in substance', (t) => {
  const m = exampleImageManifest();
  t.is(m.acKind, 'ImageManifest');
  t.is(m.app?.ports?.[1]?.count, 1000);
  t.is(m.annotations?.length, 5);
});

test('serialize then parse round-trips, and serializing is stable', (t) => {
  const m = exampleImageManifest();
  const text = serializeImageManifest(m);
  t.deepEqual(parseImageManifest(text), m);
  t.is(serializeImageManifest(parseImageManifest(text)), text);
  // key order of the input does not matter
  const shuffled = Object.fromEntries(Object.entries(m).reverse());
  t.is(serializeImageManifest(shuffled as typeof m), text);
  t.true(text.startsWith('{"acKind":"ImageManifest","acVersion":"0.8.11","name":'));
  t.is(serializeImageManifest(m, { indent: 2 }).split('\n')[1], '  "acKind": "ImageManifest",');
});

test('unknown fields are tolerated and kept; null fields are dropped', (t) => {
  const input = {
    ...exampleImageManifest(),
    'x-future': { a: 1 },
    annotations: null,
    app: { exec: ['/bin/sh'], user: '0', group: '0', futureThing: true },
  };
  const m = parseImageManifest(input);
  t.deepEqual((m as unknown as Record<string, unknown>)['x-future'], { a: 1 });
  t.is((m.app as unknown as Record<string, unknown>)['futureThing'], true);
  t.false('annotations' in m);
  const again = parseImageManifest(serializeImageManifest(m));
  t.deepEqual(again, m);
});

test('a "__proto__" key is kept as data, not turned into a prototype', (t) => {
  const text = serializeImageManifest(exampleImageManifest()).replace(/^\{/, '{"__proto__":{"polluted":true},');
  const m = parseImageManifest(text) as unknown as Record<string, unknown>;
  t.true(Object.hasOwn(m, '__proto__'));
  t.is(Object.getPrototypeOf(m), Object.prototype);
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
  t.true(serializeImageManifest(m as never).includes('"__proto__":{"polluted":true}'));
});

test('exec may be a bare name looked up in PATH', (t) => {
  const m = imageManifest({ app: { exec: ['nginx', '-g', 'daemon off;'] } });
  t.deepEqual(m.app?.exec, ['nginx', '-g', 'daemon off;']);
});

test('an error names the object and the first problem and lists all issues', (t) => {
  const bad = { ...exampleImageManifest(), name: 'Bad', acKind: 'PodManifest' };
  const e = t.throws(() => parseImageManifest(bad));
  t.true(hasCode(e, 'schema.invalid'));
  if (!isRktError(e)) return;
  t.is(e.kind, 'user');
  t.is(e.message, 'invalid image manifest: acKind: must be "ImageManifest", got "PodManifest"');
  t.deepEqual(
    (e.details?.['issues'] as Array<{ path: string }>).map((i) => i.path),
    ['acKind', 'name'],
  );
});

test('the source option names where the manifest came from', (t) => {
  const e = t.throws(() => parseImageManifest('{}', { source: '/var/lib/rkt/cas/x/manifest' }));
  t.is(e?.message, 'invalid image manifest /var/lib/rkt/cas/x/manifest: acKind: is required');
});

test('malformed JSON and bad UTF-8 are schema.json errors', (t) => {
  for (const input of ['{"acKind": ', '', 'nope', new Uint8Array([0x7b, 0xff, 0x7d])]) {
    const e = t.throws(() => parseImageManifest(input));
    t.true(hasCode(e, 'schema.json'));
    t.regex(e?.message ?? '', /^invalid image manifest: malformed JSON: /);
  }
});

test('imageManifest builder fills defaults and validates', (t) => {
  const m = imageManifest();
  t.is(m.acVersion, '0.8.11');
  t.is(m.name, 'example.com/test');
  t.is(getLabel(m.labels, 'os'), 'linux');
  t.deepEqual(m.app?.exec, ['/bin/true']);
  const custom = imageManifest({ name: 'example.com/web', app: { exec: ['/bin/sh', '-c', 'echo hi'], user: '1000' } });
  t.is(custom.app?.user, '1000');
  t.is(custom.app?.group, '0');
  t.false('app' in imageManifest({ app: null }));
  t.throws(() => imageManifest({ name: 'Not Valid' }), { message: /^invalid image manifest: name: / });
});
