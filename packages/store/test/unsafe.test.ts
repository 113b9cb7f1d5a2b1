import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore } from '@rktnetes/store';
import { buildAci, bzip2, files, gzip, listing, manifest, tempDir, xz, type TEntry } from './helpers';

const M = manifest('example.com/bad');
const base = files({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
const deep: TEntry[] = [
  { path: 'rootfs', type: 'dir' },
  { path: 'rootfs/a', type: 'dir' },
  { path: 'rootfs/a/b', type: 'dir' },
  { path: 'rootfs/a/b/c', type: 'dir' },
];

interface Case {
  title: string;
  code: string;
  aci: () => Promise<Buffer>;
  opts?: { allowDevices?: boolean };
}

const cases: Case[] = [
  { title: 'a ".." name', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: '../escape', content: 'x' }]) },
  { title: 'a ".." inside rootfs', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: 'rootfs/../../x', content: 'x' }]) },
  { title: 'an absolute name', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: '/etc/passwd', content: 'x' }]) },
  { title: 'a symlink climbing out', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: 'rootfs/up', type: 'symlink', target: '../..' }]) },
  {
    title: 'a relative symlink out of a subdirectory',
    code: 'image.unsafe-path',
    aci: () => buildAci(M, [...deep, { path: 'rootfs/a/b/x', type: 'symlink', target: '../../../../etc/shadow' }]),
  },
  {
    title: 'a file written through a symlinked directory',
    code: 'image.unsafe-path',
    aci: () => buildAci(M, [...base, { path: 'rootfs/host', type: 'symlink', target: '/etc' }, { path: 'rootfs/host/passwd', content: 'pwned' }]),
  },
  {
    title: 'a symlink escaping through an earlier symlink',
    code: 'image.unsafe-path',
    aci: () =>
      buildAci(M, [
        ...deep,
        { path: 'rootfs/a/b/c/up', type: 'symlink', target: '../../..' },
        { path: 'rootfs/z', type: 'symlink', target: 'a/b/c/up/..' },
      ]),
  },
  {
    title: 'a symlink made escaping by a later symlink',
    code: 'image.unsafe-path',
    aci: () =>
      buildAci(M, [
        ...deep,
        { path: 'rootfs/z', type: 'symlink', target: 'a/b/c/up/../etc' },
        { path: 'rootfs/a/b/c/up', type: 'symlink', target: '../../..' },
      ]),
  },
  {
    title: 'a symlink escaping through an absolute symlink',
    code: 'image.unsafe-path',
    aci: () => buildAci(M, [...base, { path: 'rootfs/root', type: 'symlink', target: '/' }, { path: 'rootfs/parent', type: 'symlink', target: 'root/..' }]),
  },
  { title: 'a hard link out of rootfs', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: 'rootfs/h', type: 'link', target: '../etc/passwd' }]) },
  { title: 'a hard link to an absolute path', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: 'rootfs/h', type: 'link', target: '/etc/passwd' }]) },
  { title: 'a hard link to the manifest', code: 'image.unsafe-path', aci: () => buildAci(M, [...base, { path: 'rootfs/h', type: 'link', target: 'manifest' }]) },
  {
    title: 'a hard link through a symlink',
    code: 'image.unsafe-path',
    aci: () => buildAci(M, [...base, { path: 'rootfs/s', type: 'symlink', target: '/etc' }, { path: 'rootfs/h', type: 'link', target: 'rootfs/s/passwd' }]),
  },
  { title: 'a hard link to nothing', code: 'image.invalid', aci: () => buildAci(M, [...base, { path: 'rootfs/h', type: 'link', target: 'rootfs/missing' }]) },
  { title: 'a device node', code: 'image.invalid', aci: () => buildAci(M, [...base, { path: 'rootfs/dev/sda', type: 'block', devmajor: 8, devminor: 0 }]) },
  { title: 'a character device', code: 'image.invalid', aci: () => buildAci(M, [...base, { path: 'rootfs/mem', type: 'char', devmajor: 1, devminor: 1 }]) },
  { title: 'no manifest', code: 'image.invalid', aci: () => buildAci(null, base) },
  { title: 'a manifest that is not JSON', code: 'image.invalid', aci: () => buildAci('{nope', base) },
  { title: 'a manifest of the wrong kind', code: 'image.invalid', aci: () => buildAci({ acKind: 'PodManifest', acVersion: '0.8.11', name: 'x' }, base) },
  { title: 'a bad image name', code: 'image.invalid', aci: () => buildAci(manifest('Not A Name'), base) },
  { title: 'two manifests', code: 'image.invalid', aci: () => buildAci(M, [...base, { path: './manifest', content: JSON.stringify(M) }]) },
  { title: 'a file outside rootfs', code: 'image.invalid', aci: () => buildAci(M, [...base, { path: 'extra', content: 'x' }]) },
  { title: 'a rootfs that is a file', code: 'image.invalid', aci: () => buildAci(M, [{ path: 'rootfs', content: 'x' }]) },
  {
    title: 'a symlink replaced by a directory',
    code: 'image.invalid',
    aci: () => buildAci(M, [...base, { path: 'rootfs/x', type: 'symlink', target: 'etc' }, { path: 'rootfs/x', type: 'dir' }]),
  },
  {
    title: 'a file below a file',
    code: 'image.invalid',
    aci: () => buildAci(M, [...base, { path: 'rootfs/etc/passwd/x', content: 'x' }]),
  },
  { title: 'an empty stream', code: 'image.corrupt', aci: async () => Buffer.alloc(0) },
  { title: 'random bytes', code: 'image.corrupt', aci: async () => Buffer.from('this is not a tar archive at all'.repeat(40)) },
  {
    title: 'a tar truncated inside a file',
    code: 'image.corrupt',
    aci: async () => {
      const full = await buildAci(M, [...base, { path: 'rootfs/big', content: 'x'.repeat(5000) }]);
      return full.subarray(0, full.length - 1024 - 2048);
    },
  },
  {
    title: 'a tar truncated at an entry boundary',
    code: 'image.corrupt',
    aci: async () => {
      const full = await buildAci(M, base);
      return full.subarray(0, full.length - 1024);
    },
  },
  {
    title: 'a tar with a damaged header',
    code: 'image.corrupt',
    aci: async () => {
      const full = Buffer.from(await buildAci(M, base));
      full[512 * 3 + 10] = 0x41;
      full[512 * 3 + 11] = 0x42;
      return full;
    },
  },
  {
    title: 'truncated gzip',
    code: 'image.corrupt',
    aci: async () => {
      const z = gzip(await buildAci(M, base));
      return z.subarray(0, z.length - 20);
    },
  },
  {
    title: 'truncated bzip2',
    code: 'image.corrupt',
    aci: async () => {
      const z = bzip2(await buildAci(M, base));
      return z.subarray(0, z.length - 20);
    },
  },
  {
    title: 'truncated xz',
    code: 'image.corrupt',
    aci: async () => {
      const z = xz(await buildAci(M, base));
      return z.subarray(0, z.length - 20);
    },
  },
];

for (const c of cases) {
  test(`rejects ${c.title} and leaves the store unchanged`, async (t) => {
    const dir = tempDir(t);
    const store = openStore(dir);
    t.teardown(() => store.close());
    // something already in the store, which must stay
    await store.importImage(Readable.from([await buildAci(manifest('example.com/good'), base)]));
    const file = join(dir, 'bad.aci');
    writeFileSync(file, await c.aci());
    const before = listing(join(dir, 'cas'));
    const err = await t.throwsAsync(store.importImage(file, { name: 'bad.aci', ...c.opts }));
    t.is((err as { code?: string }).code, c.code, err?.message);
    t.is((err as { kind?: string }).kind, 'user');
    t.regex(err?.message ?? '', /bad\.aci/);
    t.deepEqual(listing(join(dir, 'cas')), before);
    t.deepEqual(
      store.listImages().map((i) => i.name),
      ['example.com/good'],
    );
    t.true((await store.fsck()).ok);
  });
}

test('accepts absolute and in-tree relative symlinks, hard links, fifos and devices when allowed', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const aci = await buildAci(M, [
    ...deep,
    ...files({ 'usr/share/zoneinfo/UTC': 'TZif', 'lib/x/libc.so.6': 'elf' }).slice(1),
    { path: 'rootfs/etc', type: 'dir' },
    { path: 'rootfs/etc/localtime', type: 'symlink', target: '/usr/share/zoneinfo/UTC' },
    { path: 'rootfs/a/b/c/lib', type: 'symlink', target: '../../../lib/x/libc.so.6' },
    { path: 'rootfs/a/b/c/up', type: 'symlink', target: '../../..' },
    { path: 'rootfs/a/b/c/via', type: 'symlink', target: 'up/lib' },
    { path: 'rootfs/loop1', type: 'symlink', target: 'loop2' },
    { path: 'rootfs/loop2', type: 'symlink', target: 'loop1' },
    { path: 'rootfs/dotdot', type: 'symlink', target: '/../../etc' },
    { path: 'rootfs/libc', type: 'link', target: 'rootfs/lib/x/libc.so.6' },
    { path: './rootfs/fifo', type: 'fifo' },
    { path: 'rootfs/null', type: 'char', devmajor: 1, devminor: 3 },
  ]);
  await t.throwsAsync(store.importImage(Readable.from([aci]), { allowDevices: true }), { code: 'image.unsafe-path' } as never);
  const fixed = await buildAci(
    M,
    [
      ...deep,
      ...files({ 'usr/share/zoneinfo/UTC': 'TZif', 'lib/x/libc.so.6': 'elf' }).slice(1),
      { path: 'rootfs/etc', type: 'dir' },
      { path: 'rootfs/etc/localtime', type: 'symlink', target: '/usr/share/zoneinfo/UTC' },
      { path: 'rootfs/a/b/c/lib', type: 'symlink', target: '../../../lib/x/libc.so.6' },
      { path: 'rootfs/a/b/c/up', type: 'symlink', target: '../../..' },
      { path: 'rootfs/a/b/c/via', type: 'symlink', target: 'up/lib' },
      { path: 'rootfs/loop1', type: 'symlink', target: 'loop2' },
      { path: 'rootfs/loop2', type: 'symlink', target: 'loop1' },
      { path: 'rootfs/libc', type: 'link', target: 'rootfs/lib/x/libc.so.6' },
      { path: './rootfs/fifo', type: 'fifo' },
      { path: 'rootfs/null', type: 'char', devmajor: 1, devminor: 3 },
    ],
  );
  await t.throwsAsync(store.importImage(Readable.from([fixed])), { code: 'image.invalid' } as never);
  const info = await store.importImage(Readable.from([fixed]), { allowDevices: true });
  t.is(info.name, 'example.com/bad');
});
