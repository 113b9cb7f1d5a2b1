import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { assertNoLeaks, hasTool, leakCheck, privilegedTest, runCommand, runCommandOk, tmpDir } from '@rktnetes/testkit';

const rootTest = privilegedTest(test);

test.serial('a child process left running is a leak until it exits', async (t) => {
  const check = await leakCheck({ mounts: false, netns: false, veth: false, iptables: false });
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const leaks = await check();
  t.deepEqual(leaks, [`process: ${child.pid} sleep`]);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  await assertNoLeaks(t, check);
});

test.serial('match scopes the reported leaks', async (t) => {
  const check = await leakCheck({ mounts: false, netns: false, veth: false, iptables: false, match: 'nothing-like-this' });
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  t.deepEqual(await check(), []);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
});

rootTest.serial('a mount left behind is a leak', async (t) => {
  const dir = await tmpDir('leakmnt', t);
  const check = await leakCheck({ match: dir });
  await runCommandOk('mount', ['-t', 'tmpfs', 'tmpfs', dir]);
  try {
    t.deepEqual(await check(), [`mount: ${dir} tmpfs tmpfs`]);
  } finally {
    await runCommandOk('umount', [dir]);
  }
  await assertNoLeaks(t, check);
});

(hasTool('ip') ? rootTest.serial : test.skip)('a named netns and a veth left behind are leaks', async (t) => {
  const tag = `tk${process.pid}`;
  const check = await leakCheck({ match: tag });
  await runCommandOk('ip', ['netns', 'add', `${tag}ns`]);
  await runCommandOk('ip', ['link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`]);
  try {
    const leaks = await check();
    t.true(leaks.includes(`netns: ${tag}ns`), leaks.join('\n'));
    t.true(leaks.includes(`veth: ${tag}a`));
    t.true(leaks.includes(`veth: ${tag}b`));
  } finally {
    await runCommand('ip', ['link', 'del', `${tag}a`]);
    await runCommand('ip', ['netns', 'del', `${tag}ns`]);
  }
  await assertNoLeaks(t, check);
});

rootTest.serial('a cgroup left behind under a watched root is a leak', async (t) => {
  const root = '/sys/fs/cgroup/pids';
  const name = `rktnetes-testkit-${process.pid}`;
  const check = await leakCheck({ cgroupRoots: [root], match: name, mounts: false });
  await mkdir(join(root, name));
  try {
    t.deepEqual(await check(), [`cgroup: ${join(root, name)}`]);
  } finally {
    await rmdir(join(root, name));
  }
  await assertNoLeaks(t, check);
});
