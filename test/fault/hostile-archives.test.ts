/**
 * Hostile archives through `rkt fetch`: path traversal, symlink and hard link escapes (chains,
 * symlinked parents), device nodes, decompression bombs, truncated and corrupt archives and
 * malformed ACI structure. Every archive is built here, from inline descriptions; nothing
 * binary is committed. Each must be refused with status 254 and one line naming the file and
 * the reason, with nothing written anywhere, the store unchanged and the bystander pods intact
 * (see helpers/corpus.ts). Also: what hostile-looking images may do (setuid files, stacked
 * images) cannot reach the host, and the store's decompression limits.
 */
import test from 'ava';
import { lstatSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DEFAULT_IMPORT_LIMITS, openStore } from '@rktnetes/store';
import { buildAci, busyboxManifest, canCompress, tmpDir, type AciOptions, type RawTarEntry } from '@rktnetes/testkit';
import { bombAci, type BombCompression } from './helpers/bomb';
import { createHarness, runCorpus, type Harness, type HostileCase } from './helpers/corpus';
import { waitForBundles } from './helpers/env';

const manifest = (id: string) => busyboxManifest({ name: `example.com/hostile-${id}` });

/** A case fetching the ACI built by `build` as `inputs/<id>.aci`; `reason` is matched after the file name. */
function fetchCase(id: string, name: string, build: (h: Harness) => Partial<AciOptions> | Promise<Buffer>, reason: RegExp): HostileCase {
  const file = `${id}.aci`;
  return {
    name: `${id}: ${name}`,
    async prepare(h) {
      const spec = await build(h);
      const data = Buffer.isBuffer(spec) ? spec : await buildAci({ manifest: manifest(id), ...spec });
      return ['fetch', '--insecure-options=image', h.env.input(file, data)];
    },
    expect: new RegExp(`${file.replace(/[.]/g, '\\.')}\\b.*(${reason.source})`, 'i'),
  };
}

const raw = (...entries: RawTarEntry[]) => ({ raw: entries });
const file = (name: string, content = 'x'): RawTarEntry => ({ name, content });
const symlink = (name: string, linkname: string): RawTarEntry => ({ name, type: 'symlink', linkname });
const link = (name: string, linkname: string): RawTarEntry => ({ name, type: 'link', linkname });
const DOTDOT = /\.\.|outside|escape/;
const BELOW_SYMLINK = /symlink|outside/;

const traversal: HostileCase[] = [
  fetchCase('t01', '.. below rootfs', (h) => raw(file(`rootfs/../../${h.token}`)), DOTDOT),
  fetchCase('t02', '.. at the top', (h) => raw(file(`../${h.token}`)), DOTDOT),
  fetchCase('t03', 'absolute entry into /tmp', (h) => raw(file(`/tmp/${h.token}`)), /absolute|outside|unsafe|top-level|\//),
  fetchCase('t04', 'absolute entry into the workspace', (h) => raw(file(`${h.env.outside}/${h.token}`)), /absolute|outside|unsafe|top-level|\//),
  fetchCase('t05', 'deep .. chain', (h) => raw(file(`rootfs/a/b/../../../../${h.token}`)), DOTDOT),
  fetchCase('t06', 'PAX path record renaming an entry out', (h) => raw({ name: 'rootfs/benign', content: 'x', pax: { path: `rootfs/../../${h.token}` } }), DOTDOT),
  fetchCase('t07', 'long (PAX) name with ..', (h) => raw(file(`rootfs/${'x'.repeat(150)}/../../../${h.token}`)), DOTDOT),
  fetchCase('t08', './ prefix hiding ..', (h) => raw(file(`./rootfs/../../${h.token}`)), DOTDOT),
  fetchCase('t09', '. and .. mixed', (h) => raw(file(`rootfs/./a/./../../../${h.token}`)), DOTDOT),
  fetchCase('t10', 'directory entry climbing out', (h) => raw({ name: `rootfs/../../${h.token}/`, type: 'directory' }), DOTDOT),
];

const symlinks: HostileCase[] = [
  fetchCase('s01', 'relative symlink climbing out', (h) => raw(symlink('rootfs/l', `../../${h.token}`)), /outside|escape|\.\./),
  fetchCase('s02', 'file written below a symlink to ..', (h) => raw(symlink('rootfs/up', '..'), file(`rootfs/up/${h.token}`)), BELOW_SYMLINK),
  fetchCase('s03', 'file written below an absolute symlink to /tmp', (h) => raw(symlink('rootfs/p', '/tmp'), file(`rootfs/p/${h.token}`)), BELOW_SYMLINK),
  fetchCase('s04', 'file written below a symlink to the workspace', (h) => raw(symlink('rootfs/p', h.env.outside), file(`rootfs/p/${h.token}`)), BELOW_SYMLINK),
  fetchCase('s05', 'chain of symlinks climbing out', () => raw(symlink('rootfs/a', 'b'), symlink('rootfs/b', 'c'), symlink('rootfs/c', '../../..')), /outside|escape/),
  fetchCase('s06', 'symlink in a subdirectory climbing out', (h) => raw({ name: 'rootfs/d/', type: 'directory' }, symlink('rootfs/d/e', `../../../${h.token}`)), /outside|escape/),
  fetchCase('s07', 'climbing through a symlink to .', () => raw(symlink('rootfs/a', '.'), symlink('rootfs/b', 'a/../..')), /outside|escape/),
  fetchCase('s08', 'absolute target with ..', () => raw(symlink('rootfs/a', '/../../etc')), /outside|escape/),
  fetchCase('s09', 'symlinked parent defined after its child', (h) => raw(file(`rootfs/p/${h.token}`), symlink('rootfs/p', '/tmp')), /duplicate|symlink|below|exists|already/),
  fetchCase('s10', 'symlink made escaping by a later one', () => raw(symlink('rootfs/x/y', '../z/..'), symlink('rootfs/z', '../..')), /outside|escape/),
  fetchCase('s11', 'very long climbing target', () => raw(symlink('rootfs/l', '../'.repeat(1500) + 'etc')), /outside|escape/),
  fetchCase('s12', 'hard link below a symlinked parent', () => raw(symlink('rootfs/d', '/'), link('rootfs/h', 'rootfs/d/etc/shadow')), /symlink|outside|through the non-directory/),
  fetchCase('s13', 'directory entry below a symlink', (h) => raw(symlink('rootfs/d', '/tmp'), { name: `rootfs/d/${h.token}/`, type: 'directory' }), BELOW_SYMLINK),
];

const hardlinks: HostileCase[] = [
  fetchCase('l01', 'hard link to an absolute host path', () => raw(link('rootfs/h', '/etc/passwd')), /absolute|outside|hard link/),
  fetchCase('l02', 'hard link with ..', () => raw(link('rootfs/h', 'rootfs/../../etc/passwd')), /\.\.|outside|hard link/),
  fetchCase('l03', 'hard link to the manifest', () => raw(link('rootfs/h', 'manifest')), /outside|hard link|rootfs/),
  fetchCase('l04', 'hard link through a symlink', () => raw(symlink('rootfs/l', '/etc'), link('rootfs/h', 'rootfs/l/passwd')), /symlink|outside|hard link/),
  fetchCase('l05', 'hard link to a later entry', () => raw(link('rootfs/h', 'rootfs/later'), file('rootfs/later')), /earlier|hard link/),
  fetchCase('l06', 'hard link to a directory', () => raw({ name: 'rootfs/d/', type: 'directory' }, link('rootfs/h', 'rootfs/d')), /earlier file|hard link/),
  fetchCase('l07', 'hard link to nothing', () => raw(link('rootfs/h', 'rootfs/missing')), /earlier|hard link/),
  fetchCase('l08', 'hard link to a symlink pointing out', () => raw(symlink('rootfs/s', '../../../etc/shadow'), link('rootfs/h', 'rootfs/s')), /outside|escape|hard link/),
];

const devices: HostileCase[] = [
  fetchCase('d01', 'character device /dev/mem', () => raw({ name: 'rootfs/mem', type: 'character-device', devmajor: 1, devminor: 1 }), /device/),
  fetchCase('d02', 'block device sda', () => raw({ name: 'rootfs/sda', type: 'block-device', devmajor: 8, devminor: 0 }), /device/),
  fetchCase('d03', 'device hidden deep in the tree', () => raw({ name: 'rootfs/usr/lib/kmem', type: 'character-device', devmajor: 1, devminor: 2 }), /device/),
  fetchCase('d04', 'setuid device node', () => raw({ name: 'rootfs/tty', type: 'character-device', devmajor: 5, devminor: 0, mode: 0o4777 }), /device/),
];

const BOMB = 256 << 20;
const bombs: HostileCase[] = (['gzip', 'bzip2', 'xz'] as BombCompression[])
  .filter((c) => canCompress(c))
  .map((c, i) => fetchCase(`b0${i + 1}`, `${c} bomb (256 MiB of zeros)`, (h) => bombAci({ manifest: manifest(`b0${i + 1}`), size: BOMB, compression: c }), /decompression bomb|expands/))
  .concat([fetchCase('b04', 'gzip bomb with the manifest after it', () => bombAci({ manifest: manifest('b04'), size: BOMB, compression: 'gzip', manifestLast: true }), /decompression bomb|expands/)]);

const tarOf = (id: string, extra: Partial<AciOptions> = {}) => buildAci({ manifest: manifest(id), files: { 'bin/app': 'x'.repeat(20_000) }, ...extra });
const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  const i = at < 0 ? c.length + at : at;
  c[i] = c[i]! ^ 0xff;
  return c;
};
const CORRUPT = /corrupt|truncat|not a valid|not a tar|decompress|invalid|unexpected end|checksum|empty/;

const corrupt: HostileCase[] = [
  fetchCase('c01', 'gzip cut in the middle', () => tarOf('c01', { compression: 'gzip', truncateAt: 300 }), CORRUPT),
  ...(canCompress('bzip2') ? [fetchCase('c02', 'bzip2 cut in the middle', () => tarOf('c02', { compression: 'bzip2', truncateAt: 100 }), CORRUPT)] : []),
  ...(canCompress('xz') ? [fetchCase('c03', 'xz cut in the middle', () => tarOf('c03', { compression: 'xz', truncateAt: 100 }), CORRUPT)] : []),
  fetchCase('c04', 'tar cut inside a file', () => tarOf('c04', { truncateTarAt: 4096 }), CORRUPT),
  fetchCase('c05', 'tar cut at an entry boundary (no end marker)', async () => (await tarOf('c05')).subarray(0, -1024), CORRUPT),
  fetchCase('c06', 'gzip with a broken CRC', async () => flip(await tarOf('c06', { compression: 'gzip' }), -6), CORRUPT),
  fetchCase('c07', 'tar header with a bad checksum', async () => flip(await tarOf('c07'), 1024 + 10), CORRUPT),
  fetchCase('c08', 'random bytes', () => Promise.resolve(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))), CORRUPT),
  fetchCase('c09', 'empty file', () => Promise.resolve(Buffer.alloc(0)), CORRUPT),
  fetchCase('c10', 'gzip of plain text', async () => (await import('node:zlib')).gzipSync('just some text, not a tar archive\n'.repeat(40)), CORRUPT),
  fetchCase('c11', 'gzip inside gzip', async () => (await import('node:zlib')).gzipSync(await tarOf('c11', { compression: 'gzip' })), CORRUPT),
  fetchCase('c12', 'gzip header then garbage', () => Promise.resolve(Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(2000, 0x55)])), CORRUPT),
  fetchCase('c13', 'only zero blocks', () => Promise.resolve(Buffer.alloc(10240)), /manifest|corrupt|empty|invalid/),
];

const structure: HostileCase[] = [
  fetchCase('i01', 'no manifest', () => buildAci({ manifest: null, files: { a: 'x' } }), /manifest/),
  fetchCase('i02', 'two manifests', () => raw(file('manifest', JSON.stringify(manifest('i02x')))), /manifest|duplicate/),
  fetchCase('i03', 'manifest is a directory', () => buildAci({ manifest: null, rawBefore: [{ name: 'manifest/', type: 'directory' }], files: { a: 'x' } }), /manifest/),
  fetchCase('i04', 'manifest larger than 1 MiB', () => buildAci({ manifest: JSON.stringify({ ...manifest('i04'), annotations: [{ name: 'pad', value: 'x'.repeat(1_100_000) }] }) }), /manifest.*larger|larger/),
  fetchCase('i05', 'manifest of binary garbage', () => buildAci({ manifest: Buffer.from([0, 1, 2, 0xff, 0xfe, 0x7b]) }), /manifest/),
  fetchCase('i06', 'extra top-level entry', (h) => raw(file(h.token)), /top-level|unexpected|invalid|outside/),
  fetchCase('i07', 'rootfs is a file', () => buildAci({ manifest: manifest('i07'), rootfsEntry: false, raw: [file('rootfs', 'not a directory')] }), /rootfs|directory/),
  fetchCase('i08', 'file below a file', () => raw(file('rootfs/f'), file('rootfs/f/x')), /below|not a directory|non-directory/),
  fetchCase('i09', 'file and directory of the same name', () => raw(file('rootfs/dup'), { name: 'rootfs/dup/', type: 'directory' }), /duplicate|dup/),
  fetchCase('i10', 'manifest of the wrong kind', () => buildAci({ manifest: { ...manifest('i10'), acKind: 'PodManifest' } }), /manifest|acKind/),
];

let harness: Harness | undefined;
test.before(async () => {
  if (await waitForBundles(['coreos', 'fly'])) harness = await createHarness('archives');
});
test.after.always(() => harness?.env.dispose());

const groups: Array<[string, HostileCase[], number?]> = [
  ['path traversal', traversal],
  ['symlink escapes', symlinks],
  ['hard link escapes', hardlinks],
  ['device nodes', devices],
  ['decompression bombs', bombs, 2],
  ['truncated and corrupt archives', corrupt],
  ['malformed ACI structure', structure],
];
for (const [title, cases, concurrency] of groups) {
  test.serial(`hostile archives, ${title} (${cases.length}): refused in one line, nothing written, store and bystanders unchanged`, async (t) => {
    if (!harness) return t.fail('packages/stage0/dist/rkt.mjs is not built');
    t.timeout(120_000);
    await runCorpus(t, harness, title, cases, concurrency ? { concurrency } : {});
  });
}

test('the store refuses a stream past its size limit and keeps nothing of it', async (t) => {
  const dir = await tmpDir('fault-limits', t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const bomb = await bombAci({ manifest: manifest('limit'), size: 16 << 20, compression: 'gzip' });
  const err = await t.throwsAsync(store.importImage(Readable.from([bomb]), { name: 'limit-test', limits: { maxSize: 8 << 20 } }));
  t.is((err as { code?: string }).code, 'image.too-large');
  t.regex(err!.message, /^image "limit-test" is larger than 8 MiB uncompressed$/);
  t.deepEqual(store.listImages(), []);
  t.deepEqual(readdirSync(join(dir, 'cas', 'tmp')), []);
  // below the ratio floor any ratio is fine: small images compress very well
  const small = await bombAci({ manifest: manifest('small'), size: 4 << 20, compression: 'gzip' });
  t.true(small.length * DEFAULT_IMPORT_LIMITS.maxRatio < 4 << 20);
  t.is((await store.importImage(Readable.from([small]))).name, 'example.com/hostile-small');
});

test('setuid files are kept in images but no other user can reach the rendered trees', async (t) => {
  const dir = await tmpDir('fault-setuid', t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const aci = await buildAci({ manifest: manifest('setuid'), files: { 'bin/su': { type: 'file', content: '#!/bin/sh\n', mode: 0o4755 }, 'bin/sg': { type: 'file', content: 'x', mode: 0o2755 } } });
  const info = await store.importImage(Readable.from([aci]), { name: 'setuid' });
  const r = await store.render(info.key);
  t.is(lstatSync(join(r.rootfs, 'bin/su')).mode & 0o7777, 0o4755);
  // rkt keeps cas/tree at 2700: a host user must not be able to run the image's setuid programs
  t.is(lstatSync(join(dir, 'cas', 'tree')).mode & 0o077, 0, 'cas/tree is private to its owner');
  t.is(lstatSync(join(dir, 'cas', 'layer')).mode & 0o077, 0, 'cas/layer is private to its owner');
});

test('a store created with open tree permissions is tightened on open', async (t) => {
  const dir = await tmpDir('fault-setuid-old', t);
  mkdirSync(join(dir, 'cas', 'tree'), { recursive: true, mode: 0o755 });
  openStore(dir).close();
  t.is(lstatSync(join(dir, 'cas', 'tree')).mode & 0o777, 0o700);
});

test('stacked images cannot read host files through a hard link to an upper symlink', async (t) => {
  const dir = await tmpDir('fault-stack', t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  // the dependency hard-links h to f; the image on top replaces f with a symlink to a host file
  const dep = await buildAci({ manifest: manifest('stack-dep'), files: { f: 'dependency content', h: { type: 'hardlink', target: 'f' } } });
  const depKey = (await store.importImage(Readable.from([dep]), { name: 'dep' })).key;
  const top = await buildAci({
    manifest: { ...manifest('stack-top'), dependencies: [{ imageName: 'example.com/hostile-stack-dep', imageID: depKey }] },
    files: { f: { type: 'symlink', target: '/etc/shadow' } },
  });
  const r = await store.render((await store.importImage(Readable.from([top]), { name: 'top' })).key);
  const h = lstatSync(join(r.rootfs, 'h'));
  t.false(h.isFile() && h.size > 0 && !h.isSymbolicLink() && h.size !== 'dependency content'.length, 'h must not hold a host file');
  if (h.isSymbolicLink()) t.is(readlinkSync(join(r.rootfs, 'h')), '/etc/shadow');
});
