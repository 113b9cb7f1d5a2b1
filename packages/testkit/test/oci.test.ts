import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MEDIA_TYPES,
  REF_NAME_ANNOTATION,
  blobPath,
  buildDockerArchive,
  buildOciLayout,
  canCompress,
  decompress,
  listTar,
  readTar,
  sha256Digest,
  tmpDir,
  type Descriptor,
  type LayerSpec,
} from '@rktnetes/testkit';

async function readBlob(dir: string, d: Descriptor): Promise<Buffer> {
  const data = await readFile(blobPath(dir, d.digest));
  return data;
}

/** Walks index -> (index) -> manifest -> config/layers and checks every digest and size. */
async function verifyLayout(t: { is: (a: unknown, b: unknown, m?: string) => void }, dir: string): Promise<number> {
  let checked = 0;
  const check = async (d: Descriptor): Promise<Buffer> => {
    const data = await readBlob(dir, d);
    t.is(sha256Digest(data), d.digest, `digest of ${d.digest}`);
    t.is(data.length, d.size, `size of ${d.digest}`);
    checked++;
    return data;
  };
  const visit = async (d: Descriptor): Promise<void> => {
    const data = await check(d);
    if (d.mediaType === MEDIA_TYPES.index) {
      const idx = JSON.parse(data.toString());
      t.is(idx.mediaType, MEDIA_TYPES.index);
      for (const m of idx.manifests) await visit(m);
    } else if (d.mediaType === MEDIA_TYPES.manifest) {
      const m = JSON.parse(data.toString());
      t.is(m.schemaVersion, 2);
      t.is(m.mediaType, MEDIA_TYPES.manifest);
      t.is(m.config.mediaType, MEDIA_TYPES.config);
      const config = JSON.parse((await check(m.config)).toString());
      t.is(config.rootfs.diff_ids.length, m.layers.length);
      for (const [i, l] of m.layers.entries()) {
        const blob = await check(l);
        t.is(sha256Digest(decompress(blob)), config.rootfs.diff_ids[i], 'diff id');
      }
    }
  };
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  t.is(index.schemaVersion, 2);
  for (const d of index.manifests) await visit(d);
  return checked;
}

test('an OCI layout has oci-layout, index.json and blobs whose digests verify', async (t) => {
  const dir = await tmpDir('oci', t);
  const result = await buildOciLayout(dir, {
    layers: [{ 'bin/app': { type: 'file', content: 'v1', mode: 0o755 }, 'etc/conf': 'a' }, { 'etc/conf': { type: 'whiteout' }, 'var/': { type: 'opaque' } }],
    config: {
      Entrypoint: ['/bin/app'],
      Cmd: ['--flag'],
      Env: ['PATH=/bin', 'A=b'],
      User: '1000:1000',
      WorkingDir: '/srv',
      ExposedPorts: ['80/tcp'],
      Volumes: ['/data'],
      Labels: { l: 'v' },
    },
  });
  t.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  t.true((await verifyLayout(t, dir)) >= 4);
  t.is(result.index.length, 1);
  t.is(result.index[0]?.annotations?.[REF_NAME_ANNOTATION], 'latest');
  t.is(result.index[0]?.digest, result.manifests[0]?.digest);
  const m = result.manifests[0];
  t.is(m?.layers.length, 2);
  t.is(m?.layers[0]?.mediaType, MEDIA_TYPES.layerGzip);
  t.like(m?.configJson, {
    architecture: 'amd64',
    os: 'linux',
    config: {
      Entrypoint: ['/bin/app'],
      Cmd: ['--flag'],
      User: '1000:1000',
      WorkingDir: '/srv',
      ExposedPorts: { '80/tcp': {} },
      Volumes: { '/data': {} },
      Labels: { l: 'v' },
    },
  });
  const second = await readTar(await readFile(blobPath(dir, m?.layers[1]?.digest ?? '')));
  t.deepEqual(
    second.map((e) => e.name),
    ['etc/', 'etc/.wh.conf', 'var/', 'var/.wh..wh..opq'],
  );
  t.is((await readdir(join(dir, 'blobs', 'sha256'))).length, 4);
});

test('OCI layouts are deterministic', async (t) => {
  const a = await buildOciLayout(await tmpDir('oci', t), { layers: [{ f: 'x' }], config: { Cmd: ['/f'] } });
  const b = await buildOciLayout(await tmpDir('oci', t), { layers: [{ f: 'x' }], config: { Cmd: ['/f'] } });
  t.is(a.manifests[0]?.digest, b.manifests[0]?.digest);
});

test('per-layer compression and media types', async (t) => {
  const dir = await tmpDir('oci', t);
  const layers: LayerSpec[] = [
    { files: { a: 'a' }, compression: 'none' as const },
    { files: { b: 'b' }, compression: 'gzip' as const },
    ...(canCompress('zstd') ? [{ files: { c: 'c' }, compression: 'zstd' as const }] : []),
  ];
  const r = await buildOciLayout(dir, { layers, ref: 'v1' });
  await verifyLayout(t, dir);
  t.deepEqual(
    r.manifests[0]?.layers.map((l) => l.mediaType),
    [MEDIA_TYPES.layer, MEDIA_TYPES.layerGzip, ...(canCompress('zstd') ? [MEDIA_TYPES.layerZstd] : [])],
  );
  const first = r.manifests[0]?.layers[0];
  t.is(first?.digest, first?.diffId, 'an uncompressed layer has digest = diff id');
  t.is(r.index[0]?.annotations?.[REF_NAME_ANNOTATION], 'v1');
});

test('a multi-arch layout with a nested index', async (t) => {
  const dir = await tmpDir('oci', t);
  const r = await buildOciLayout(dir, {
    layers: [{ common: 'x' }],
    platforms: [
      { architecture: 'amd64' },
      { architecture: 'arm64', variant: 'v8', layers: [{ arm: 'y' }] },
    ],
  });
  await verifyLayout(t, dir);
  t.is(r.index.length, 1);
  t.is(r.index[0]?.mediaType, MEDIA_TYPES.index);
  t.is(r.nestedIndex?.digest, r.index[0]?.digest);
  const nested = JSON.parse((await readFile(blobPath(dir, r.nestedIndex?.digest ?? ''))).toString());
  t.deepEqual(
    nested.manifests.map((m: Descriptor) => m.platform),
    [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ],
  );
  t.is(r.manifests[1]?.configJson.architecture, 'arm64');
  t.is(r.manifests[1]?.configJson.variant, 'v8');
});

test('a multi-arch layout listing manifests directly', async (t) => {
  const dir = await tmpDir('oci', t);
  const r = await buildOciLayout(dir, {
    layers: [{ common: 'x' }],
    nestedIndex: false,
    ref: null,
    platforms: [{ architecture: 'amd64' }, { architecture: 'ppc64le' }],
  });
  await verifyLayout(t, dir);
  t.deepEqual(
    r.index.map((d) => [d.mediaType, d.platform?.architecture, d.annotations]),
    [
      [MEDIA_TYPES.manifest, 'amd64', undefined],
      [MEDIA_TYPES.manifest, 'ppc64le', undefined],
    ],
  );
});

test('a docker save archive', async (t) => {
  const dir = await tmpDir('docker', t);
  const path = join(dir, 'img.tar');
  const r = await buildDockerArchive(path, {
    layers: [{ 'bin/app': 'x' }, { 'bin/app': 'x' }],
    config: { Cmd: ['/bin/app'] },
    repoTags: ['example.com/app:1.0'],
  });
  const entries = await readTar(await readFile(path));
  const byName = new Map(entries.map((e) => [e.name, e]));
  const manifest = JSON.parse(byName.get('manifest.json')?.content.toString() ?? '');
  t.deepEqual(manifest, r.manifest);
  t.deepEqual(manifest[0].RepoTags, ['example.com/app:1.0']);
  t.is(manifest[0].Layers.length, 2);
  t.not(manifest[0].Layers[0], manifest[0].Layers[1], 'equal layers get distinct directories');
  const config = byName.get(r.configFile)?.content ?? Buffer.alloc(0);
  t.is(`sha256:${createHash('sha256').update(config).digest('hex')}`, r.configDigest);
  t.is(r.configFile, `${r.configDigest.slice(7)}.json`);
  const diffIds = JSON.parse(config.toString()).rootfs.diff_ids;
  for (const [i, l] of r.layers.entries()) {
    const layer = byName.get(l.file)?.content ?? Buffer.alloc(0);
    t.is(sha256Digest(layer), diffIds[i]);
    t.deepEqual(await listTar(layer), ['bin/', 'bin/app']);
  }
  const repos = JSON.parse(byName.get('repositories')?.content.toString() ?? '');
  t.deepEqual(Object.keys(repos), ['example.com/app']);
  t.is(repos['example.com/app']['1.0'], r.layers[1]?.file.split('/')[0]);
});
