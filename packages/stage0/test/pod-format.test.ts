import test from 'ava';
import { formatGoDuration, parseGoDuration, quote } from '../src/pod/format';
import { parseWait } from '../src/pod/commands/status';
import { stage1Env } from '../src/stage1/entrypoints';

test('Go durations parse and print as Go does', (t) => {
  t.is(parseGoDuration('30m', 'x'), 30 * 60_000);
  t.is(parseGoDuration('1h30m', 'x'), 90 * 60_000);
  t.is(parseGoDuration('1.5s', 'x'), 1500);
  t.is(parseGoDuration('300ms', 'x'), 300);
  t.is(parseGoDuration('0', 'x'), 0);
  t.is(parseGoDuration('0s', 'x'), 0);
  t.is(parseGoDuration('-1s', 'x'), -1000);
  for (const bad of ['', '5', '1d', 'abc', '1h-2m']) t.throws(() => parseGoDuration(bad, 'grace-period'), { message: /--grace-period/ }, bad);
  t.is(formatGoDuration(30 * 60_000), '30m0s');
  t.is(formatGoDuration(24 * 3_600_000), '24h0m0s');
  t.is(formatGoDuration(0), '0s');
  t.is(formatGoDuration(1500), '1.5s');
  t.is(formatGoDuration(300), '300ms');
});

test('--wait takes booleans and durations', (t) => {
  t.is(parseWait('true', 'wait'), -1);
  t.is(parseWait('', 'wait'), -1);
  t.is(parseWait('false', 'wait'), 0);
  t.is(parseWait('2s', 'wait'), 2000);
  t.is(parseWait('-5s', 'wait'), -1);
  t.throws(() => parseWait('soon', 'wait'));
});

test('Go %q quoting', (t) => {
  t.is(quote('a"b'), '"a\\"b"');
});

test('stage1 entrypoints get the environment without NODE_EXTRA_CA_CERTS (NOTIFY_SOCKET included, for sd_notify)', (t) => {
  const env = stage1Env({ RKT_LOCK_FD: '5' }, { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/ssl/x.pem', HOME: '/root', NOTIFY_SOCKET: '/run/systemd/notify' });
  t.deepEqual(env, { PATH: '/bin', HOME: '/root', NOTIFY_SOCKET: '/run/systemd/notify', RKT_LOCK_FD: '5' });
});
