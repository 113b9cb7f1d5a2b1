import test, { type TestFn } from 'ava';
import { isRoot, privilegedTest, testIf } from '@rktnetes/testkit';

function fakeTest(): { fn: TestFn; calls: string[] } {
  const calls: string[] = [];
  const record = (kind: string) => (title: string) => void calls.push(`${kind}:${title}`);
  const fn = Object.assign(record('run'), {
    skip: record('skip'),
    serial: Object.assign(record('serial'), { skip: record('serial.skip') }),
  });
  return { fn: fn as unknown as TestFn, calls };
}

test('isRoot matches the process uid', (t) => {
  t.is(isRoot(), process.getuid?.() === 0);
});

test('testIf declares or skips with the reason in the title', (t) => {
  const yes = fakeTest();
  testIf(yes.fn, true, 'why')('a', () => undefined);
  testIf(yes.fn, true, 'why').serial('b', () => undefined);
  t.deepEqual(yes.calls, ['run:a', 'serial:b']);
  const no = fakeTest();
  testIf(no.fn, false, 'needs kvm')('a', () => undefined);
  testIf(no.fn, false, 'needs kvm').serial('b', () => undefined);
  t.deepEqual(no.calls, ['skip:a (needs kvm)', 'serial.skip:b (needs kvm)']);
});

test('privilegedTest skips with "(needs root)" unless root', (t) => {
  const f = fakeTest();
  privilegedTest(f.fn)('mounts', () => undefined);
  t.deepEqual(f.calls, [isRoot() ? 'run:mounts' : 'skip:mounts (needs root)']);
});
