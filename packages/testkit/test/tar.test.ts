import test from 'ava';
import { buildTar, readTar, listTar, treeToEntries, normalizeTreePath, FIXED_MTIME, compress, decompress, detectCompression, canCompress } from '@rktnetes/testkit';

test('normalizeTreePath drops leading, trailing and empty segments', (t) => {
  t.is(normalizeTreePath('/etc//passwd'), 'etc/passwd');
  t.is(normalizeTreePath('etc/'), 'etc');
  t.is(normalizeTreePath('./a/./b'), 'a/b');
});

test('treeToEntries writes parents first, once, and keeps declared directory attributes', (t) => {
  const entries = treeToEntries({
    'a/b/c': 'x',
    'a/': { type: 'dir', mode: 0o700 },
    'a/b/d': Buffer.from('y'),
  });
  t.deepEqual(
    entries.map((e) => e.name),
    ['a/', 'a/b/', 'a/b/c', 'a/b/d'],
  );
  t.is(entries[0]?.mode, 0o700);
  t.is(entries[1]?.mode, 0o755);
});

test('treeToEntries writes a declared symlink parent before the entries below it', (t) => {
  const entries = treeToEntries({ 'link/passwd': 'evil', link: { type: 'symlink', target: '/etc' } }, { prefix: 'rootfs/' });
  t.deepEqual(
    entries.map((e) => [e.name, e.type]),
    [
      ['rootfs/link', 'symlink'],
      ['rootfs/link/passwd', 'file'],
    ],
  );
});

test('treeToEntries writes whiteouts and opaque markers', (t) => {
  const entries = treeToEntries({ 'etc/old': { type: 'whiteout' }, top: { type: 'whiteout' }, 'var/': { type: 'opaque' }, 'var/new': 'n' });
  t.deepEqual(
    entries.map((e) => e.name),
    ['etc/', 'etc/.wh.old', '.wh.top', 'var/', 'var/.wh..wh..opq', 'var/new'],
  );
});

test('treeToEntries rejects an empty key', (t) => {
  t.throws(() => treeToEntries({ '/': 'x' }), { message: /names no path/ });
});

test('buildTar round-trips every node type and attribute', async (t) => {
  const longName = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const archive = await buildTar(
    treeToEntries({
      'bin/busybox': { type: 'file', content: 'BB', mode: 0o4755, uid: 1000, gid: 1001 },
      'bin/sh': { type: 'symlink', target: 'busybox' },
      'bin/ash': { type: 'hardlink', target: 'bin/busybox' },
      'dev/null': { type: 'char', major: 1, minor: 3 },
      'dev/loop0': { type: 'block', major: 7, minor: 0 },
      'run/fifo': { type: 'fifo' },
      secret: { type: 'file', content: 's', mode: 0 },
      xattr: { type: 'file', xattrs: { 'user.k': 'v' } },
      [longName]: 'long',
    }),
  );
  t.is(archive.length % 512, 0);
  const byName = new Map((await readTar(archive)).map((e) => [e.name, e]));
  const bb = byName.get('bin/busybox');
  t.is(bb?.type, 'file');
  t.is(bb?.mode, 0o4755);
  t.is(bb?.uid, 1000);
  t.is(bb?.gid, 1001);
  t.is(bb?.content.toString(), 'BB');
  t.is(bb?.mtime.getTime(), FIXED_MTIME.getTime());
  t.is(byName.get('bin/sh')?.linkname, 'busybox');
  t.is(byName.get('bin/ash')?.type, 'link');
  t.is(byName.get('bin/ash')?.linkname, 'bin/busybox');
  t.like(byName.get('dev/null'), { type: 'character-device', devmajor: 1, devminor: 3 });
  t.like(byName.get('dev/loop0'), { type: 'block-device', devmajor: 7, devminor: 0 });
  t.is(byName.get('run/fifo')?.type, 'fifo');
  t.is(byName.get('secret')?.mode, 0);
  t.is(byName.get('xattr')?.pax?.['SCHILY.xattr.user.k'], 'v');
  t.is(byName.get(longName)?.content.toString(), 'long');
});

test('buildTar is deterministic', async (t) => {
  const tree = { 'a/b': 'x', c: { type: 'symlink', target: 'a' } } as const;
  t.deepEqual(await buildTar(treeToEntries(tree)), await buildTar(treeToEntries(tree)));
});

test('raw entries keep hostile names verbatim', async (t) => {
  const names = await listTar(
    await buildTar([
      { name: '../evil', content: 'x' },
      { name: '/etc/shadow', content: 'y' },
      { name: 'dup', content: '1' },
      { name: 'dup', content: '2' },
    ]),
  );
  t.deepEqual(names, ['../evil', '/etc/shadow', 'dup', 'dup']);
});

test('readTar rejects a truncated archive', async (t) => {
  const archive = await buildTar([{ name: 'f', content: 'x'.repeat(4000) }]);
  await t.throwsAsync(readTar(archive.subarray(0, 1000)), { code: 'testkit.tar-read' });
});

for (const c of ['none', 'gzip', 'bzip2', 'xz', 'zstd'] as const) {
  (canCompress(c) ? test : test.skip)(`compress/decompress ${c} round-trips and is detected`, (t) => {
    const data = Buffer.from('hello '.repeat(1000));
    const packed = compress(data, c);
    t.is(detectCompression(packed), c);
    t.deepEqual(decompress(packed), data);
    t.deepEqual(compress(data, c), packed, 'deterministic');
  });
}
