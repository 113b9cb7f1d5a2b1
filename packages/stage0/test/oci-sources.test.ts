/**
 * Local layered images: `oci:` layout directories, `oci-archive:` and `docker-archive:` tar
 * files, through the built CLI. Build first: cd packages/stage0 && node ../../tools/build.mjs
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { getLabel } from '@rktnetes/schema';
import { openStore, type Store } from '@rktnetes/store';
import { buildDockerArchive, buildOciLayout, tmpDir, type FileTree } from '@rktnetes/testkit';
import { rktEnv, type Rkt } from './registry-fixture';

const LAYERS: FileTree[] = [{ 'etc/os-release': 'ID=test\n', 'data/old': 'old' }, { 'data/old': { type: 'whiteout' }, 'bin/hello': { type: 'file', content: 'hello', mode: 0o755 } }];
const CONFIG = { Cmd: ['/bin/hello'], Env: ['A=1'] };

async function withStore<T>(rkt: Rkt, fn: (s: Store) => T | Promise<T>): Promise<T> {
  const s = openStore(rkt.dir);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

async function fetchOk(t: { is(a: unknown, b: unknown, m?: string): void }, rkt: Rkt, ref: string): Promise<string> {
  const r = await rkt.run('--insecure-options=image', 'fetch', ref);
  t.is(r.code, 0, r.stderr);
  return r.stdout.trim();
}

async function check(rkt: Rkt, key: string): Promise<{ name: string; version?: string; hello: string; gone: boolean; exec?: string[] }> {
  return withStore(rkt, async (s) => {
    const info = s.getImage(key);
    const m = s.getImageManifest(key);
    const gone = await s.readImageFile(key, '/data/old').then(
      () => false,
      () => true,
    );
    const version = getLabel(info.labels, 'version');
    return { name: info.name, ...(version ? { version } : {}), hello: (await s.readImageFile(key, '/bin/hello')).toString(), gone, ...(m.app?.exec ? { exec: m.app.exec } : {}) };
  });
}

test('oci: layout directories, by ref name; the same image from an oci-archive shares its layers', async (t) => {
  const dir = await tmpDir('oci-src', t);
  const layout = join(dir, 'layout');
  await buildOciLayout(layout, { layers: LAYERS, config: CONFIG, ref: 'v1' });
  const rkt = await rktEnv(t);
  const key = await fetchOk(t, rkt, `oci:${layout}:v1`);
  t.deepEqual(await check(rkt, key), { name: 'localhost/layout', version: 'v1', hello: 'hello', gone: true, exec: ['/bin/hello'] });
  // without a ref, the only image is taken; `oci://` + absolute path works too
  t.is(await fetchOk(t, rkt, `oci:${layout}`), key);
  t.is(await fetchOk(t, rkt, `oci://${layout}:v1`), key);
  const missing = await rkt.run('--insecure-options=image', 'fetch', `oci:${layout}:nope`);
  t.is(missing.code, 254);
  t.regex(missing.stderr, /no image named "nope" in .* \(it has: v1\)/);

  const archive = join(dir, 'layout.tar');
  execFileSync('tar', ['-cf', archive, '-C', layout, '.']);
  const key2 = await fetchOk(t, rkt, `oci-archive:${archive}:v1`);
  t.is(key2, key, 'same name, tag and content: the same image');
  t.is(await withStore(rkt, (s) => s.listLayers().length), 2);
});

test('oci: a multi-platform layout picks the host platform', async (t) => {
  const dir = await tmpDir('oci-multi', t);
  await buildOciLayout(dir, { layers: [], ref: 'multi', platforms: [{ architecture: 'arm64', layers: [{ 'bin/hello': 'arm' }] }, { architecture: 'amd64', layers: [{ 'bin/hello': 'hello' }] }] });
  const rkt = await rktEnv(t);
  const key = await fetchOk(t, rkt, `oci:${dir}:multi`);
  t.is((await check(rkt, key)).hello, 'hello');
});

test('docker-archive: docker save output, plain or gzip-compressed, named by its RepoTags', async (t) => {
  const dir = await tmpDir('docker-archive', t);
  const path = join(dir, 'app.tar');
  await buildDockerArchive(path, { layers: LAYERS, config: CONFIG, repoTags: ['example.com/team/app:2.0'] });
  const rkt = await rktEnv(t);
  const key = await fetchOk(t, rkt, `docker-archive:${path}`);
  t.deepEqual(await check(rkt, key), { name: 'example.com/team/app', version: '2.0', hello: 'hello', gone: true, exec: ['/bin/hello'] });
  const gz = join(dir, 'app.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(path)));
  t.is(await fetchOk(t, rkt, `docker-archive:${gz}:example.com/team/app:2.0`), key);
  t.is(await withStore(rkt, (s) => s.listLayers().length), 2);
});

test('docker-archive: several images need a ref; unsigned refused without --insecure-options=image', async (t) => {
  const dir = await tmpDir('docker-archive2', t);
  const one = join(dir, 'one.tar');
  const built = await buildDockerArchive(one, { layers: [{ a: 'a' }], repoTags: ['busybox:1'] });
  // a second image in the same archive: append its entries by rebuilding manifest.json
  const two = await buildDockerArchive(join(dir, 'two.tar'), { layers: [{ b: 'b' }], repoTags: ['busybox:2'] });
  const work = join(dir, 'x');
  execFileSync('mkdir', ['-p', work]);
  execFileSync('tar', ['-xf', one, '-C', work]);
  execFileSync('tar', ['-xf', join(dir, 'two.tar'), '-C', work]);
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([...built.manifest, ...two.manifest]));
  const both = join(dir, 'both.tar');
  execFileSync('tar', ['-cf', both, '-C', work, '.']);
  const rkt = await rktEnv(t);
  const ambiguous = await rkt.run('--insecure-options=image', 'fetch', `docker-archive:${both}`);
  t.is(ambiguous.code, 254);
  t.regex(ambiguous.stderr, /name one image of .* \(it has: busybox:1, busybox:2\)/);
  const key = await fetchOk(t, rkt, `docker-archive:${both}:busybox:2`);
  const info = await withStore(rkt, (s) => s.getImage(key));
  t.is(info.name, 'registry-1.docker.io/library/busybox');
  t.is(getLabel(info.labels, 'version'), '2');
  const unsigned = await rkt.run('fetch', `docker-archive:${both}:busybox:1`);
  t.is(unsigned.code, 254);
  t.regex(unsigned.stderr, /use --insecure-options=image/);
});
