import test from 'ava';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import {
  formatIntFile,
  parseIntFile,
  readFileTolerant,
  readFileTolerantSync,
  readIntFile,
  writeFileAtomic,
  writeFileAtomicSync,
} from '@rktnetes/common';
import { tempDir } from './helpers';

test('writeFileAtomic writes the content with the exact mode and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'pod');
  const old = process.umask(0o077);
  try {
    await writeFileAtomic(f, '{"acKind":"PodManifest"}', 0o640);
  } finally {
    process.umask(old);
  }
  t.is(await readFile(f, 'utf8'), '{"acKind":"PodManifest"}');
  t.is((await stat(f)).mode & 0o777, 0o640);
  t.deepEqual(await readdir(dir), ['pod']);
});

test('writeFileAtomic replaces an existing file in one step', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'status');
  await writeFile(f, 'old content that is longer');
  const before = (await stat(f)).ino;
  await writeFileAtomic(f, new TextEncoder().encode('42\n'));
  t.is(await readFile(f, 'utf8'), '42\n');
  t.not((await stat(f)).ino, before, 'a new inode was renamed over the old one');
  t.deepEqual(await readdir(dir), ['status']);
});

test('writeFileAtomic failures name the path and clean up', async (t) => {
  const dir = await tempDir(t);
  const e = await t.throwsAsync(writeFileAtomic(join(dir, 'missing-dir', 'f'), 'x'));
  t.true(hasCode(e, 'file.write'));
  t.regex((e as Error).message, /missing-dir\/f/);
  await mkdir(join(dir, 'target'));
  t.true(hasCode(await t.throwsAsync(writeFileAtomic(join(dir, 'target'), 'x')), 'file.write'));
  t.deepEqual(await readdir(dir), ['target']);
});

test('writeFileAtomicSync behaves the same', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'pid');
  writeFileAtomicSync(f, '1234\n', 0o600);
  t.is(await readFile(f, 'utf8'), '1234\n');
  t.is((await stat(f)).mode & 0o777, 0o600);
  t.true(hasCode(t.throws(() => writeFileAtomicSync(join(dir, 'no', 'f'), 'x')), 'file.write'));
  t.deepEqual(await readdir(dir), ['pid']);
});

test('tolerant readers return undefined for absent files', async (t) => {
  const dir = await tempDir(t);
  t.is(await readFileTolerant(join(dir, 'absent')), undefined);
  t.is(await readFileTolerant(join(dir, 'absent', 'below')), undefined);
  t.is(readFileTolerantSync(join(dir, 'absent')), undefined);
  await writeFile(join(dir, 'f'), 'x');
  t.is(await readFileTolerant(join(dir, 'f')), 'x');
  t.is(readFileTolerantSync(join(dir, 'f')), 'x');
  t.is(await readFileTolerant(join(dir, 'f', 'below')), undefined);
  t.true(hasCode(await t.throwsAsync(readFileTolerant(dir)), 'file.read'));
});

test('integer files are read like rkt reads them', async (t) => {
  t.is(parseIntFile('42\n', 's'), 42);
  t.is(parseIntFile('  7', 's'), 7);
  t.is(parseIntFile('-1\n', 's'), -1);
  t.is(parseIntFile('12 trailing', 's'), 12);
  t.true(hasCode(t.throws(() => parseIntFile('', 'status')), 'file.invalid-int'));
  t.true(hasCode(t.throws(() => parseIntFile('abc', 'status')), 'file.invalid-int'));
  t.is(formatIntFile(42), '42\n');
  t.throws(() => formatIntFile(1.5));
  const dir = await tempDir(t);
  await writeFile(join(dir, 'n'), '99\n');
  t.is(await readIntFile(join(dir, 'n')), 99);
  t.is(await readIntFile(join(dir, 'none')), undefined);
});
