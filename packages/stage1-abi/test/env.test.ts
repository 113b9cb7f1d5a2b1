import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { buildCrossingEnv, buildRunEnv, crossingEnvFromEnv, enterPrefix, lockFdFromEnv, parseEnterArgs, selinuxFromEnv } from '@rktnetes/stage1-abi';

test('run env: lock fd and SELinux labels, always set', (t) => {
  t.deepEqual(buildRunEnv({ lockFd: 3 }), { RKT_LOCK_FD: '3', RKT_SELINUX_CONTEXT: '', RKT_SELINUX_MOUNT_CONTEXT: '' });
  t.deepEqual(buildRunEnv({ lockFd: 5, selinuxContext: 'a', selinuxMountContext: 'b' }).RKT_SELINUX_MOUNT_CONTEXT, 'b');
  t.true(hasCode(t.throws(() => buildRunEnv({ lockFd: -1 })), 'stage1.lock-fd.invalid'));
  t.is(lockFdFromEnv(buildRunEnv({ lockFd: 7 })), 7);
  t.deepEqual(selinuxFromEnv({ RKT_SELINUX_CONTEXT: 'x' }), { context: 'x', mountContext: '' });
});

test('a missing or malformed lock fd is an error', (t) => {
  t.true(hasCode(t.throws(() => lockFdFromEnv({})), 'stage1.lock-fd.missing'));
  t.true(hasCode(t.throws(() => lockFdFromEnv({ RKT_LOCK_FD: '' })), 'stage1.lock-fd.missing'));
  for (const bad of ['x', '-3', '3.0', '99999999999']) t.true(hasCode(t.throws(() => lockFdFromEnv({ RKT_LOCK_FD: bad })), 'stage1.lock-fd.invalid'), bad);
});

test('crossing env: the whole environment of a crossing entrypoint', (t) => {
  const env = buildCrossingEnv({ enterCmd: '/pod/stage1/rootfs/enter', enterPid: 99 }, '/bin');
  t.deepEqual(env, { RKT_STAGE1_ENTERCMD: '/pod/stage1/rootfs/enter', RKT_STAGE1_ENTERPID: '99', PATH: '/bin' });
  t.is(buildCrossingEnv({ enterCmd: '/e', enterPid: 1 }, '').PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  const withApp = buildCrossingEnv({ enterCmd: '/e', enterPid: 1, enterApp: 'redis' }, '/bin');
  t.deepEqual(crossingEnvFromEnv(withApp), { enterCmd: '/e', enterPid: 1, enterApp: 'redis' });
  t.is(crossingEnvFromEnv({}), undefined);
  t.true(hasCode(t.throws(() => crossingEnvFromEnv({ RKT_STAGE1_ENTERCMD: '/e', RKT_STAGE1_ENTERPID: 'x' })), 'stage1.crossing-env.invalid'));
});

test('enterPrefix builds an enter argv our enter parser accepts', (t) => {
  const c = { enterCmd: '/e', enterPid: 12, enterApp: 'redis' };
  t.deepEqual(enterPrefix(c), ['/e', '--pid=12', '--']);
  const argv = [...enterPrefix(c, true), '/bin/true'];
  t.deepEqual(argv, ['/e', '--pid=12', '--appname=redis', '--', '/bin/true']);
  t.deepEqual(parseEnterArgs(argv.slice(1)), { pid: 12, appName: 'redis', command: ['/bin/true'], debug: false });
  t.deepEqual(enterPrefix(undefined), []);
});
