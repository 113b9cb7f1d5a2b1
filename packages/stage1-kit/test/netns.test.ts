import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { addNetns, deleteNetns, httpGetIn, netnsPath, nsenterArgs, rktEnv, rktRulesIn, runInNetns, vethsIn } from '@rktnetes/stage1-kit/testing';
import { isRoot, testIf } from '@rktnetes/testkit';

test('rktEnv drops NODE_EXTRA_CA_CERTS and puts this node first in PATH', (t) => {
  const env = rktEnv({ NODE_EXTRA_CA_CERTS: '/x.pem', PATH: '/bin', HOME: '/root' });
  t.deepEqual(env, { PATH: `${dirname(process.execPath)}:/bin`, HOME: '/root' });
  t.is(rktEnv({}).PATH, `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`);
});

test('nsenterArgs and netnsPath', (t) => {
  t.is(netnsPath('rkt-x'), '/run/netns/rkt-x');
  t.deepEqual(nsenterArgs('/run/netns/rkt-x', 'ip', ['link']), ['--net=/run/netns/rkt-x', '--', 'ip', 'link']);
});

const root = testIf(test, isRoot() && existsSync('/usr/bin/nsenter') && existsSync('/usr/sbin/iptables'), 'needs root, nsenter and iptables');

root('a namespace: loopback up, its veths and rkt rules seen from inside, gone after delete', async (t) => {
  const name = `rkt-kit-${randomBytes(3).toString('hex')}`;
  t.teardown(() => deleteNetns(name));
  const path = await addNetns(name);
  t.is(path, netnsPath(name));
  t.regex((await runInNetns(path, 'ip', ['-o', 'link', 'show', 'lo'])).stdout, /UP/);
  t.deepEqual(await vethsIn(path), []);
  t.deepEqual(await rktRulesIn(path), []);
  t.is((await runInNetns(path, 'ip', ['link', 'add', 'kitv0', 'type', 'veth', 'peer', 'name', 'kitv1'])).code, 0);
  t.deepEqual((await vethsIn(path)).sort(), ['kitv0', 'kitv1']);
  t.is((await runInNetns(path, 'iptables', ['-w', '-t', 'nat', '-N', 'RKT-KIT'])).code, 0);
  t.deepEqual(await rktRulesIn(path), [{ table: 'nat', rule: '-N RKT-KIT' }]);
  t.is(await httpGetIn(path, 'http://127.0.0.1:1/', 500), undefined, 'nothing listens there');
  await deleteNetns(name);
  t.false(existsSync(path));
  await deleteNetns(name);
});
