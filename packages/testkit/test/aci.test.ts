import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aciImageId, buildAci, canCompress, detectCompression, listTar, readTar, runCommandOk, tmpDir, writeAci, hasTool } from '@rktnetes/testkit';

const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/t' };
const files = {
  'bin/sh': { type: 'file', content: '#!x', mode: 0o755 },
  'bin/ls': { type: 'symlink', target: 'busybox' },
  'etc/': { type: 'dir' },
  'bin/x': { type: 'hardlink', target: 'bin/sh' },
  'dev/null': { type: 'char', major: 1, minor: 3 },
} as const;

test('an ACI holds manifest and rootfs entries in order', async (t) => {
  const entries = await readTar(await buildAci({ manifest, files }));
  t.deepEqual(
    entries.map((e) => e.name),
    ['manifest', 'rootfs/', 'rootfs/bin/', 'rootfs/bin/sh', 'rootfs/bin/ls', 'rootfs/etc/', 'rootfs/bin/x', 'rootfs/dev/', 'rootfs/dev/null'],
  );
  t.deepEqual(JSON.parse(entries[0]?.content.toString() ?? ''), manifest);
  t.is(entries.find((e) => e.name === 'rootfs/bin/x')?.linkname, 'rootfs/bin/sh');
  t.true(entries.every((e) => e.uid === 0 && e.gid === 0));
});

test('ACIs are deterministic and the image id is the sha512 of the tar', async (t) => {
  const a = await buildAci({ manifest, files });
  const b = await buildAci({ manifest, files });
  t.deepEqual(a, b);
  t.is(aciImageId(a), `sha512-${createHash('sha512').update(a).digest('hex')}`);
  t.is(aciImageId(await buildAci({ manifest, files, compression: 'gzip' })), aciImageId(a));
  t.is(aciImageId(a, 64).length, 'sha512-'.length + 64);
});

test('a verbatim manifest and a missing manifest', async (t) => {
  const broken = await readTar(await buildAci({ manifest: '{not json', files: {} }));
  t.is(broken[0]?.content.toString(), '{not json');
  t.deepEqual(await listTar(await buildAci({ manifest: null, files: { a: 'x' } })), ['rootfs/', 'rootfs/a']);
  t.deepEqual(await listTar(await buildAci({ manifest, rootfsEntry: false, files: { a: 'x' } })), ['manifest', 'rootfs/a']);
});

test('hostile raw entries: traversal, absolute paths, entries below a symlinked dir', async (t) => {
  const aci = await buildAci({
    manifest,
    files: { etcl: { type: 'symlink', target: '/etc' } },
    rawBefore: [{ name: 'extra-top-level', content: 'x' }],
    raw: [
      { name: 'rootfs/../../evil', content: 'x' },
      { name: '/etc/evil', content: 'y' },
      { name: 'rootfs/etcl/passwd', content: 'z' },
      { name: 'rootfs/abs', type: 'symlink', linkname: '/etc' },
      { name: 'rootfs/hl', type: 'link', linkname: '/etc/shadow' },
    ],
  });
  t.deepEqual(await listTar(aci), [
    'extra-top-level',
    'manifest',
    'rootfs/',
    'rootfs/etcl',
    'rootfs/../../evil',
    '/etc/evil',
    'rootfs/etcl/passwd',
    'rootfs/abs',
    'rootfs/hl',
  ]);
});

test('truncateTarAt and truncateAt cut the archive', async (t) => {
  const full = await buildAci({ manifest, files: { big: 'x'.repeat(10000) } });
  const cut = await buildAci({ manifest, files: { big: 'x'.repeat(10000) }, truncateAt: 3000 });
  t.is(cut.length, 3000);
  t.deepEqual(cut, full.subarray(0, 3000));
  await t.throwsAsync(readTar(cut));
  const gz = await buildAci({ manifest, files: { big: 'x'.repeat(10000) }, truncateTarAt: 3000, compression: 'gzip' });
  t.is(detectCompression(gz), 'gzip');
  await t.throwsAsync(readTar(gz));
});

for (const [compression, tool, flag] of [
  ['gzip', 'gzip', '-z'],
  ['bzip2', 'bzip2', '-j'],
  ['xz', 'xz', '-J'],
] as const) {
  (canCompress(compression) && hasTool(tool) && hasTool('tar') ? test : test.skip)(
    `a ${compression} ACI decompresses with the system tools`,
    async (t) => {
      const dir = await tmpDir('aci', t);
      const path = join(dir, 'img.aci');
      const written = await writeAci(path, { manifest, files, compression });
      t.is(detectCompression(await readFile(path)), compression);
      const plain = await runCommandOk(tool, ['-d', '-c', path]);
      t.is(written.imageId, `sha512-${createHash('sha512').update(plain.stdoutBuffer).digest('hex')}`);
      const listed = await runCommandOk('tar', ['-t', flag, '-f', path]);
      t.deepEqual(listed.stdout.trim().split('\n'), (await listTar(await readFile(path))).map((n) => n));
    },
  );
}
