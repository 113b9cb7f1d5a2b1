import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import {
  appStatusPathIn,
  childPidOf,
  formatNetInfo,
  parseNetInfo,
  readAppStatus,
  readNetInfo,
  readPodPid,
  writeAppStatus,
  writeNetInfo,
  writePodPid,
  type NetInfo,
} from '@rktnetes/common';
import { tempDir } from './helpers';

test('pid and ppid files', async (t) => {
  const pod = await tempDir(t);
  t.is(await readPodPid(pod), undefined);
  await writePodPid(pod, 4321, 'ppid');
  t.is(await readFile(join(pod, 'ppid'), 'utf8'), '4321\n');
  t.deepEqual(await readPodPid(pod), { kind: 'ppid', pid: 4321 });
  await writePodPid(pod, 1234);
  t.deepEqual(await readPodPid(pod), { kind: 'pid', pid: 1234 }, 'pid wins over ppid');
});

test('the child of a ppid comes from /proc/<p>/task/<p>/children', async (t) => {
  const proc = await tempDir(t);
  await mkdir(join(proc, '10', 'task', '10'), { recursive: true });
  await writeFile(join(proc, '10', 'task', '10', 'children'), '');
  t.is(await childPidOf(10, proc), undefined);
  await writeFile(join(proc, '10', 'task', '10', 'children'), '11 ');
  t.is(await childPidOf(10, proc), 11);
  await writeFile(join(proc, '10', 'task', '10', 'children'), '11 12 ');
  t.true(hasCode(await t.throwsAsync(childPidOf(10, proc)), 'pod.pid.too-many-children'));
  t.is(await childPidOf(99, proc), undefined);
});

test('app status files hold the decimal status', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'rkt', 'status'), { recursive: true });
  t.is(await readAppStatus(root, 'redis'), undefined);
  await writeAppStatus(root, 'redis', 42);
  t.is(await readFile(appStatusPathIn(root, 'redis'), 'utf8'), '42\n');
  t.is(await readAppStatus(root, 'redis'), 42);
  await writeFile(appStatusPathIn(root, 'etcd'), '0');
  t.is(await readAppStatus(root, 'etcd'), 0, 'no trailing newline is fine');
});

const net: NetInfo = {
  netName: 'default',
  netConf: 'net/99-default.conf',
  pluginPath: 'stage1/rootfs/usr/lib/rkt/plugins/net/ptp',
  ifName: 'eth0',
  ip: '172.16.28.83',
  args: '',
  mask: '255.255.255.0',
};

test('net-info.json round trip and tolerance', async (t) => {
  const pod = await tempDir(t);
  t.deepEqual(await readNetInfo(pod), [], 'absent file: host networking');
  await writeNetInfo(pod, [net]);
  t.deepEqual(await readNetInfo(pod), [net]);
  t.deepEqual(parseNetInfo(formatNetInfo([net])), [net]);
  t.deepEqual(parseNetInfo('null'), []);
  t.deepEqual(parseNetInfo('[{"netName":"x","ip":null}]'), [{ netName: 'x', netConf: '', pluginPath: '', ifName: '', ip: '', args: '', mask: '' }]);
  for (const bad of ['{', '{}', '[1]', '[{"ip":5}]']) t.true(hasCode(t.throws(() => parseNetInfo(bad)), 'net-info.invalid'), bad);
});
