import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountsUnder, privilegedTest, removeTree, runCommandOk, tmpDir, withTmpDir } from '@rktnetes/testkit';

const rootTest = privilegedTest(test);

test('tmpDir with t is removed at teardown', async (t) => {
  const teardowns: Array<() => unknown> = [];
  const dir = await tmpDir('unit', { teardown: (fn) => teardowns.push(fn) });
  t.regex(dir, /rktnetes-unit-/);
  await writeFile(join(dir, 'f'), 'x');
  t.is(teardowns.length, 1);
  await teardowns[0]?.();
  t.false(existsSync(dir));
});

test('withTmpDir removes its directory after success and failure', async (t) => {
  let seen = '';
  t.is(
    await withTmpDir(async (dir) => {
      seen = dir;
      await mkdir(join(dir, 'a/b'), { recursive: true });
      return 42;
    }),
    42,
  );
  t.false(existsSync(seen));
  await t.throwsAsync(
    withTmpDir((dir) => {
      seen = dir;
      throw new Error('boom');
    }),
    { message: 'boom' },
  );
  t.false(existsSync(seen));
});

test('removeTree of a missing directory is a no-op', async (t) => {
  await t.notThrowsAsync(removeTree('/nonexistent/rktnetes-nothing'));
});

rootTest('removeTree unmounts a leaked mount instead of recursing into it and reports it', async (t) => {
  const outside = await tmpDir('precious', t);
  await writeFile(join(outside, 'keep'), 'do not delete');
  const dir = await tmpDir('leaky');
  await mkdir(join(dir, 'mnt'));
  await runCommandOk('mount', ['--bind', outside, join(dir, 'mnt')]);
  t.deepEqual(mountsUnder(dir), [join(dir, 'mnt')]);
  await t.throwsAsync(removeTree(dir), { message: /still had mounts/ });
  t.true(existsSync(join(outside, 'keep')), 'the bind-mounted source survived');
  t.deepEqual(mountsUnder(dir), []);
  t.false(existsSync(dir));
});
