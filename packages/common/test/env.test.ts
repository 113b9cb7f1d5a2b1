import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  DEFAULT_PATH,
  ENV_LOCK_FD,
  ENV_SELINUX_CONTEXT,
  ENV_SELINUX_MOUNT_CONTEXT,
  ENV_STAGE1_ENTERAPP,
  ENV_STAGE1_ENTERCMD,
  ENV_STAGE1_ENTERPID,
  composeAppEnv,
  formatEnvFile,
  isExperimentEnabled,
  parseEnvFile,
  parseGoBool,
} from '@rktnetes/common';

test('environment variable names are rkt names', (t) => {
  t.is(ENV_LOCK_FD, 'RKT_LOCK_FD');
  t.is(ENV_SELINUX_CONTEXT, 'RKT_SELINUX_CONTEXT');
  t.is(ENV_SELINUX_MOUNT_CONTEXT, 'RKT_SELINUX_MOUNT_CONTEXT');
  t.is(ENV_STAGE1_ENTERCMD, 'RKT_STAGE1_ENTERCMD');
  t.is(ENV_STAGE1_ENTERPID, 'RKT_STAGE1_ENTERPID');
  t.is(ENV_STAGE1_ENTERAPP, 'RKT_STAGE1_ENTERAPP');
});

test('env files are NAME=value lines, newline terminated', (t) => {
  const env = [
    ['PATH', DEFAULT_PATH],
    ['EMPTY', ''],
    ['EQ', 'a=b=c'],
    ['SPACE', ' x y '],
  ] as const;
  const text = formatEnvFile(env);
  t.is(text, `PATH=${DEFAULT_PATH}\nEMPTY=\nEQ=a=b=c\nSPACE= x y \n`);
  t.deepEqual(parseEnvFile(text), env.map(([n, v]) => [n, v]));
  t.deepEqual(parseEnvFile('A=1\n\nB=2'), [['A', '1'], ['B', '2']]);
});

test('what an env file cannot hold is rejected', (t) => {
  t.true(hasCode(t.throws(() => formatEnvFile([['A', 'line1\nline2']])), 'env-file.invalid'));
  t.true(hasCode(t.throws(() => formatEnvFile([['A=B', 'x']])), 'env-file.invalid'));
  t.true(hasCode(t.throws(() => formatEnvFile([['', 'x']])), 'env-file.invalid'));
  t.true(hasCode(t.throws(() => parseEnvFile('NOEQUALS\n')), 'env-file.invalid'));
  t.true(hasCode(t.throws(() => parseEnvFile('=value\n')), 'env-file.invalid'));
});

test('composeAppEnv fills in the appc defaults the app lacks', (t) => {
  t.deepEqual(composeAppEnv([['HOME', '/home/app'], ['X', '1']]), [
    ['PATH', DEFAULT_PATH],
    ['SHELL', '/bin/sh'],
    ['USER', 'root'],
    ['LOGNAME', 'root'],
    ['HOME', '/home/app'],
    ['X', '1'],
  ]);
});

test('Go booleans and experiments', (t) => {
  for (const v of ['1', 't', 'T', 'TRUE', 'true', 'True']) t.true(parseGoBool(v));
  for (const v of ['0', 'f', 'F', 'FALSE', 'false', 'False']) t.false(parseGoBool(v));
  t.is(parseGoBool('yes'), undefined);
  t.true(isExperimentEnabled('app', { RKT_EXPERIMENT_APP: 'true' }));
  t.false(isExperimentEnabled('app', { RKT_EXPERIMENT_APP: 'yes' }));
  t.false(isExperimentEnabled('nope', { RKT_EXPERIMENT_NOPE: '1' }));
});
