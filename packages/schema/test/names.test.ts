import test from 'ava';
import {
  appcArch,
  compareSemVer,
  imageKey,
  isACIdentifier,
  isACKind,
  isACName,
  isACVersion,
  isEnvName,
  isHttpURL,
  isImageID,
  isImageIDPrefix,
  isTimestamp,
  osArchProblem,
  parseHash,
  parseSemVer,
  shortImageID,
  fakeImageID,
} from '@rktnetes/schema';

const validIdentifiers = [
  'database',
  'example.com/database',
  'example.com/ourapp',
  'example.com/~user/app_v1',
  'sub-domain.example.com/org/product/release',
  'coreos.com/rkt/stage1-coreos',
  'a',
  '0',
  'a.b_c~d/e-f',
  // only the characters and the ends are checked (as the appc Go schema does)
  'a//b',
  'a..b',
];
const invalidIdentifiers = [
  '',
  'Database',
  'example.com/',
  '/example.com',
  '-db',
  'db-',
  'a b',
  'example.com:80/app',
  'ümlaut',
  'app@1',
];

test('isACIdentifier accepts the spec examples and rejects the rest', (t) => {
  for (const s of validIdentifiers) t.true(isACIdentifier(s), s);
  for (const s of invalidIdentifiers) t.false(isACIdentifier(s), s);
  t.false(isACIdentifier(42));
});

test('isACName is stricter than isACIdentifier', (t) => {
  for (const s of ['database', 'product-database', 'product-database-release', 'a1', '9', 'a--b']) t.true(isACName(s), s);
  for (const s of ['', 'Database', 'example.com', 'a_b', 'a/b', '-a', 'a-', 'a~b']) t.false(isACName(s), s);
});

test('isACKind knows the two defined kinds', (t) => {
  t.true(isACKind('ImageManifest'));
  t.true(isACKind('PodManifest'));
  t.false(isACKind('imagemanifest'));
  t.false(isACKind(''));
});

test('AC versions are SemVer 2.0.0 and not zero', (t) => {
  for (const s of ['0.8.11', '1.0.0', '0.8.11+git', '1.0.0-rc.1', '1.0.0-alpha.beta+exp.sha.5114f85']) t.true(isACVersion(s), s);
  for (const s of ['0.0.0', '0.8', 'v0.8.11', '01.0.0', '1.0.0-', 'latest', '']) t.false(isACVersion(s), s);
  t.deepEqual(parseSemVer('1.2.3-rc.1+b5'), { major: 1, minor: 2, patch: 3, prerelease: ['rc', '1'], build: ['b5'] });
  const order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.1.0'];
  for (let i = 1; i < order.length; i++) {
    t.true(compareSemVer(parseSemVer(order[i - 1]!)!, parseSemVer(order[i]!)!) < 0, `${order[i - 1]} < ${order[i]}`);
  }
});

test('image IDs: full and store-key forms, prefixes, short form', (t) => {
  const key = fakeImageID('x');
  t.regex(key, /^sha512-[0-9a-f]{64}$/);
  const full = `${key}${'0'.repeat(64)}`;
  t.true(isImageID(key));
  t.true(isImageID(full));
  t.false(isImageID('sha512-...'));
  t.false(isImageID('sha256-' + 'a'.repeat(64)));
  t.false(isImageID(key.slice(0, 40)));
  t.false(isImageID(key.toUpperCase()));
  t.true(isImageIDPrefix('sha512-aa'));
  t.false(isImageIDPrefix('sha512-a'));
  t.false(isImageIDPrefix('sha512-xyz'));
  t.is(shortImageID(full), key.slice(0, 7 + 32));
  t.is(imageKey(full), key);
  t.deepEqual(parseHash('sha512-abcd'), { algorithm: 'sha512', hex: 'abcd' });
  t.is(parseHash('md5-abcd'), undefined);
});

test('environment variable names', (t) => {
  for (const s of ['PATH', '_x', 'REDUCE_WORKER_DEBUG', 'a.b-c', 'x1']) t.true(isEnvName(s), s);
  for (const s of ['', '1X', 'A B', 'A=B', '-x', '.x']) t.false(isEnvName(s), s);
});

test('timestamps and URLs of well-known annotations', (t) => {
  t.true(isTimestamp('2014-10-27T19:32:27.67021798Z'));
  t.true(isTimestamp('2015-05-18T13:49:28.351729952-04:00'));
  t.false(isTimestamp('2015-05-18 13:49:28Z'));
  t.false(isTimestamp('2015-13-18T13:49:28Z'));
  t.false(isTimestamp('yesterday'));
  t.true(isHttpURL('https://example.com/docs'));
  t.false(isHttpURL('ftp://example.com'));
  t.false(isHttpURL('example.com'));
});

test('os/arch combinations', (t) => {
  t.is(osArchProblem('linux', 'amd64'), undefined);
  t.is(osArchProblem('linux', 'aarch64'), undefined);
  t.is(osArchProblem('darwin', 'x86_64'), undefined);
  t.is(osArchProblem(undefined, 'whatever'), undefined, 'arch alone is not checked');
  t.is(osArchProblem('freebsd', undefined), undefined);
  t.regex(osArchProblem('linux', 'x86_64') ?? '', /bad arch/);
  t.regex(osArchProblem('windows', 'amd64') ?? '', /bad os/);
  t.is(appcArch('x64'), 'amd64');
  t.is(appcArch('arm64'), 'aarch64');
  t.is(appcArch('mips'), undefined);
});

test('the validation toolkit is exported for other packages', async (t) => {
  const { validation } = await import('@rktnetes/schema');
  const c = new validation.Checker();
  const r = validation.reader(c, { port: 'x' }, '');
  r?.required('port', validation.int(1, 65535));
  r?.required('host', validation.str);
  t.deepEqual(c.issues, [
    { path: 'port', message: 'must be an integer, not a string' },
    { path: 'host', message: 'is required' },
  ]);
  t.throws(() => validation.assertNoIssues(c, 'thing'), { message: 'invalid thing: port: must be an integer, not a string' });
});
