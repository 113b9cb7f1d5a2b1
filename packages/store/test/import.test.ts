import test from 'ava';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore, shortKey } from '@rktnetes/store';
import { buildAci, bzip2, files, gzip, keyOf, manifest, tempDir, xz } from './helpers';

async function basic(name = 'example.com/hello', labels: Record<string, string> = { version: '1.0', os: 'linux' }) {
  return buildAci(manifest(name, { labels }), files({ 'bin/hello': '#!/bin/sh\necho hi\n', 'etc/os-release': 'ID=test\n' }));
}

test('imports plain, gzip, bzip2 and xz images under the key of the uncompressed tar', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const aci = await basic();
  const key = keyOf(aci);
  for (const [kind, data] of [
    ['plain', aci],
    ['gzip', gzip(aci)],
    ['bzip2', bzip2(aci)],
    ['xz', xz(aci)],
  ] as const) {
    const file = join(dir, `img.${kind}`);
    writeFileSync(file, data);
    const info = await store.importImage(file);
    t.is(info.key, key, kind);
  }
  const info = store.getImage(key);
  t.is(info.name, 'example.com/hello');
  t.deepEqual(info.labels, [
    { name: 'version', value: '1.0' },
    { name: 'os', value: 'linux' },
  ]);
  t.is(info.size, aci.length);
  t.true(info.importTime instanceof Date);
  t.is(store.listImages().length, 1);
});

test('imports from a stream and exports the same bytes', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const aci = await basic();
  const info = await store.importImage(Readable.from([gzip(aci)]), { name: 'hello.aci' });
  t.is(info.key, keyOf(aci));
  const out = await store.exportImage(shortKey(info.key));
  const h = createHash('sha512');
  for await (const c of out) h.update(c as Buffer);
  t.is(`sha512-${h.digest('hex')}`, info.key);
});

test('resolves keys, prefixes, names, versions and labels', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const v1 = await store.importImage(Readable.from([await basic('example.com/app', { version: '1' })]));
  const v2 = await store.importImage(Readable.from([await basic('example.com/app', { version: '2', arch: 'amd64' })]));
  t.is(store.resolveImage(v1.key), v1.key);
  t.is(store.resolveImage(shortKey(v1.key)), v1.key);
  t.is(store.resolveImage(v1.key.slice(0, 7 + 64)), v1.key, 'rkt-length key');
  t.is(store.resolveImage(v1.key.toUpperCase().replace('SHA512-', 'sha512-')), v1.key);
  t.is(store.resolveImage('example.com/app:1'), v1.key);
  t.is(store.resolveImage('example.com/app', { version: '2' }), v2.key);
  t.is(store.resolveImage('example.com/app', [{ name: 'arch', value: 'amd64' }]), v2.key);
  t.is(store.resolveImage('example.com/app'), v2.key, 'newest import wins');
  t.is(store.resolveImage(v1.key.slice(0, 9)) !== undefined, true);
  t.throws(() => store.resolveImage('example.com/app:3'), { code: 'store.not-found' } as never);
  t.throws(() => store.resolveImage('example.com/nope'), { code: 'store.not-found' } as never);
  t.throws(() => store.resolveImage('sha512-zz'), { code: 'store.invalid-key' } as never);
  t.throws(() => store.resolveImage('sha512-a'), { code: 'store.invalid-key' } as never);
  t.throws(() => store.resolveImage(`sha512-${'0'.repeat(128)}`), { code: 'store.not-found' } as never);
  t.throws(() => store.resolveImage('example.com/app:1', { version: '2' }), { code: 'store.invalid-ref' } as never);
});

test('an image marked latest wins over a newer import when no version is asked for', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const a = await store.importImage(Readable.from([await basic('example.com/l', { version: '1' })]), { latest: true });
  await store.importImage(Readable.from([await basic('example.com/l', { version: '2' })]));
  t.is(store.resolveImage('example.com/l'), a.key);
  t.not(store.resolveImage('example.com/l:2'), a.key);
});

test('a prefix shared by two images is ambiguous', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const seen = new Map<string, string>();
  for (let i = 0; i < 400; i++) {
    const info = await store.importImage(Readable.from([await basic('example.com/many', { n: String(i) })]));
    const p = info.key.slice(0, 9);
    const other = seen.get(p);
    if (other) {
      const err = t.throws(() => store.resolveImage(p), { code: 'store.ambiguous' } as never);
      t.regex(err?.message ?? '', /ambiguous/);
      // one more digit tells them apart unless they share it too
      let n = 10;
      while (other.slice(0, n) === info.key.slice(0, n)) n++;
      t.is(store.resolveImage(info.key.slice(0, n)), info.key);
      return;
    }
    seen.set(p, info.key);
  }
  t.fail('no two keys shared a 2-digit prefix');
});

test('re-importing an image keeps one row; remove deletes row and blob', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const aci = await basic();
  const a = await store.importImage(Readable.from([aci]));
  const b = await store.importImage(Readable.from([gzip(aci)]), { latest: true });
  t.is(a.key, b.key);
  t.is(a.importTime.getTime(), b.importTime.getTime());
  t.true(b.latest);
  t.is(store.listImages().length, 1);
  t.is(await store.removeImage(a.key), a.key);
  t.is(store.listImages().length, 0);
  await t.throwsAsync(store.removeImage(a.key), { code: 'store.not-found' } as never);
  const report = await store.fsck();
  t.true(report.ok);
  t.deepEqual(report.garbage, []);
});

test('manifest, files, list filters and remotes', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const a = await store.importImage(Readable.from([await basic('example.com/a', { version: '1' })]), {
    remote: { url: 'https://example.com/a.aci', etag: '"x"', cacheMaxAge: 60 },
  });
  await store.importImage(Readable.from([await basic('example.com/b', { version: '1' })]));
  t.is(store.getImageManifest(a.key).name, 'example.com/a');
  t.is(JSON.parse(store.getImageManifestJSON(a.key)).name, 'example.com/a');
  t.is((await store.readImageFile(a.key, '/etc/os-release')).toString(), 'ID=test\n');
  t.is((await store.readImageFile(a.key, 'rootfs/bin/hello')).toString(), '#!/bin/sh\necho hi\n');
  t.is(JSON.parse((await store.readImageFile(a.key, 'manifest')).toString()).name, 'example.com/a');
  await t.throwsAsync(store.readImageFile(a.key, '/nope'), { code: 'store.not-found' } as never);
  t.deepEqual(
    store.listImages({ name: 'example.com/b' }).map((i) => i.name),
    ['example.com/b'],
  );
  t.is(store.listImages({ keyPrefix: a.key.slice(0, 20) }).length, 1);
  t.is(store.listImages({ labels: { version: '1' } }).length, 2);
  const r = store.getRemote('https://example.com/a.aci');
  t.is(r?.blobKey, a.key);
  t.is(r?.etag, '"x"');
  t.is(r?.cacheMaxAge, 60);
  store.setRemote({ url: 'https://example.com/a2.aci', downloadTime: new Date(5), blobKey: a.key });
  t.deepEqual(store.listRemotes().map((x) => x.url), ['https://example.com/a.aci', 'https://example.com/a2.aci']);
  t.throws(() => store.setRemote({ url: 'u', downloadTime: new Date(), blobKey: `sha512-${'1'.repeat(128)}` }), { code: 'store.not-found' } as never);
  await store.removeImage(a.key);
  t.is(store.listRemotes().length, 0, 'remotes go with their image');
});
