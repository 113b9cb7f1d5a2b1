import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  formatDnsConfMode,
  formatNetList,
  formatPrivateUsers,
  netIsContained,
  netIsHost,
  netIsNone,
  parseAppName,
  parseDnsConfMode,
  parseIpcMode,
  parseNetList,
  parsePid,
  parsePrivateUsers,
  parseUuidArg,
} from '@rktnetes/stage1-abi';

const invalid = (e: unknown) => hasCode(e, 'stage1.args.invalid-value');

test('--net lists', (t) => {
  t.deepEqual(parseNetList('default'), [{ name: 'default' }]);
  t.deepEqual(parseNetList('net1:IP=10.1.0.5;K=v,host'), [{ name: 'net1', args: 'IP=10.1.0.5;K=v' }, { name: 'host' }]);
  t.deepEqual(parseNetList('b', parseNetList('a')), [{ name: 'a' }, { name: 'b' }], 'repeated flags accumulate');
  t.is(formatNetList([]), 'default');
  t.is(formatNetList([{ name: 'net1', args: 'IP=1.2.3.4' }, { name: 'net2' }]), 'net1:IP=1.2.3.4,net2');
  for (const bad of ['', 'a,', 'a,a', 'host:x', 'all:x', 'a:b:c']) t.true(invalid(t.throws(() => parseNetList(bad))), bad);
  t.true(invalid(t.throws(() => formatNetList([{ name: 'a', args: 'x,y' }]))));
  t.true(invalid(t.throws(() => formatNetList([{ name: 'a:b' }]))));
});

test('--net meaning follows rkt', (t) => {
  t.true(netIsHost(undefined), 'no --net at all: host');
  t.true(netIsHost([{ name: 'host' }]));
  t.false(netIsHost([{ name: 'default' }]));
  t.true(netIsContained([{ name: 'default' }]));
  t.true(netIsContained([{ name: 'none' }]));
  t.true(netIsNone([{ name: 'none' }]));
});

test('--dns-conf-mode', (t) => {
  t.deepEqual(parseDnsConfMode('resolv=host,hosts=stage0'), { resolv: 'host', hosts: 'stage0' });
  t.deepEqual(parseDnsConfMode('hosts=host'), { resolv: 'default', hosts: 'host' });
  t.is(formatDnsConfMode({ resolv: 'none', hosts: 'default' }), 'resolv=none,hosts=default');
  for (const bad of ['resolv', 'resolv=bogus', 'hosts=none', 'dns=host']) t.true(invalid(t.throws(() => parseDnsConfMode(bad))), bad);
  t.true(invalid(t.throws(() => formatDnsConfMode({ resolv: 'x' as 'host', hosts: 'default' }))));
});

test('--private-users, --ipc, uuid, app names, pids', (t) => {
  t.deepEqual(parsePrivateUsers('65536:65536'), { shift: 65536, count: 65536 });
  t.is(formatPrivateUsers({ shift: 1, count: 2 }), '1:2');
  for (const bad of ['65536', 'a:b', '1:0', '-1:5', '4294967295:2']) t.true(invalid(t.throws(() => parsePrivateUsers(bad))), bad);
  t.is(parseIpcMode('parent'), 'parent');
  t.true(invalid(t.throws(() => parseIpcMode('host'))));
  t.is(parseUuidArg('6733C088A5074694AABFEDBE4FC5266F'), '6733c088-a507-4694-aabf-edbe4fc5266f');
  t.true(invalid(t.throws(() => parseUuidArg('abc'))));
  t.is(parseAppName('redis-2'), 'redis-2');
  for (const bad of ['', 'Redis', 'a_b', '-a', 'a--b', 'a/b']) t.true(invalid(t.throws(() => parseAppName(bad))), bad);
  t.is(parsePid('42'), 42);
  for (const bad of ['0', '-1', '1.5', 'x', '']) t.true(invalid(t.throws(() => parsePid(bad))), bad);
});
