/**
 * `rkt run/prepare --private-users`: the flag, and the mapping picked for the pod (written to
 * `private-users-prepared`, which start passes on as `--private-users=<shift>:<count>`). The
 * pods themselves: packages/stage1-coreos/test/private-users.test.ts.
 */
import test from 'ava';
import { formatPrivateUsers } from '@rktnetes/stage1-abi';
import { parsePodArgs } from '../src/pod/args';
import { PRIVATE_USERS_COUNT, randomPrivateUsers } from '../src/pod/prepare';
import { DEFAULT_GLOBALS } from './helpers/fixtures';

const base = DEFAULT_GLOBALS;

test('--private-users is a boolean pod flag of run and prepare, off by default', (t) => {
  t.false(parsePodArgs(['img'], base, 'run').pod.privateUsers);
  t.true(parsePodArgs(['--private-users', 'img'], base, 'run').pod.privateUsers);
  t.true(parsePodArgs(['--private-users=true', 'img'], base, 'prepare').pod.privateUsers);
  t.false(parsePodArgs(['--private-users=false', 'img'], base, 'run').pod.privateUsers);
});

test('the mapping: 65536 ids from a multiple of 65536 in 65536..0x7fff0000, as rkt picks it', (t) => {
  t.deepEqual(randomPrivateUsers(() => 0), { shift: 0x10000, count: PRIVATE_USERS_COUNT });
  t.deepEqual(randomPrivateUsers(() => 0.9999999), { shift: 0x7fff0000, count: 0x10000 });
  for (let i = 0; i < 100; i++) {
    const m = randomPrivateUsers();
    t.is(m.shift % 0x10000, 0);
    t.true(m.shift >= 0x10000 && m.shift + m.count <= 0x80000000);
    t.notThrows(() => formatPrivateUsers(m), 'a valid stage1 value');
  }
});
