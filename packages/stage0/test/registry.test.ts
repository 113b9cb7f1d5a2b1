/**
 * `rkt fetch docker://...` against Debian's docker-registry on loopback, with images pushed by
 * skopeo from OCI layouts built at test time. Build first: cd packages/stage0 && node ../../tools/build.mjs
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAnnotation, getLabel } from '@rktnetes/schema';
import { openStore, type Store } from '@rktnetes/store';
import { canCompress, hasTool, isRoot, tmpDir, type FileTree } from '@rktnetes/testkit';
import { pushImage, rktEnv, startProxy, startRegistry, writeConfig, type Rkt } from './registry-fixture';

const ready = hasTool('docker-registry') && hasTool('skopeo') && canCompress('zstd');
const rtest = ready ? test : test.skip;

/** Three layers (gzip, zstd, none) with whiteouts and an opaque directory. */
const STACK = [
  {
    files: {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n',
      'etc/group': 'root:x:0:\nweb:x:33:\n',
      'bin/app': { type: 'file', content: 'app v1', mode: 0o755 },
      'data/keep': 'keep',
      'data/gone': 'gone',
      'data/sub/deep': 'deep',
      'cache/a': 'old a',
      'cache/b': 'old b',
    } as FileTree,
    compression: 'gzip' as const,
  },
  {
    files: { 'data/gone': { type: 'whiteout' }, 'data/sub': { type: 'whiteout' }, 'bin/app': { type: 'file', content: 'app v2', mode: 0o755 } } as FileTree,
    compression: 'zstd' as const,
  },
  { files: { cache: { type: 'opaque' }, 'cache/c': 'new c', 'data/sub/again': 'again' } as FileTree, compression: 'none' as const },
];

const CONFIG = { Entrypoint: ['/bin/app'], Cmd: ['--port', '80'], User: 'web', Env: ['PATH=/bin'], ExposedPorts: ['80/tcp'], WorkingDir: '/data' };

function withStore<T>(rkt: Rkt, fn: (s: Store) => T): T {
  const s = openStore(rkt.dir);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const n of readdirSync(abs).sort()) {
      const p = join(abs, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(p)}`);
      else out.push(`${r} ${(st.mode & 0o777).toString(8)} ${readFileSync(p, 'utf8')}`);
    }
  };
  walk(dir, '');
  return out;
}

const EXPECTED = ['bin/', 'bin/app 755 app v2', 'cache/', 'cache/c 644 new c', 'data/', 'data/keep 644 keep', 'data/sub/', 'data/sub/again 644 again', 'etc/', 'etc/group 644 root:x:0:\nweb:x:33:\n', 'etc/passwd 644 root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n'];

rtest('fetches a layered image with whiteouts and opaque dirs; overlay and flattened views agree', async (t) => {
  const reg = await startRegistry(t);
  await pushImage(t, reg, 'stack:v1', { layers: STACK, config: CONFIG });
  const rkt = await rktEnv(t);
  const r = await rkt.run('--insecure-options=image,http', 'fetch', `docker://${reg.host}/stack:v1`);
  t.is(r.code, 0, r.stderr);
  const key = r.stdout.trim();
  t.regex(key, /^sha512-[0-9a-f]{32}$/);
  const { info, manifest, layered, flat } = await (async () => {
    const s = openStore(rkt.dir);
    try {
      const info = s.getImage(key);
      return { info, manifest: s.getImageManifest(key), layered: await s.render(key), flat: await s.render(key, { flatten: true }) };
    } finally {
      s.close();
    }
  })();
  t.is(info.format, 'oci');
  t.is(info.name, `127.0.0.1-${reg.port}/stack`);
  t.is(getLabel(manifest.labels, 'version'), 'v1');
  t.deepEqual(manifest.app?.exec, ['/bin/app', '--port', '80']);
  t.is(manifest.app?.user, '33');
  t.is(manifest.app?.group, '33');
  t.deepEqual(manifest.app?.ports, [{ name: '80-tcp', protocol: 'tcp', port: 80 }]);
  t.is(getAnnotation(manifest.annotations, 'appc.io/docker/originalname'), `${reg.host}/stack:v1`);
  t.is(layered.lowerDirs.length, 3);
  t.deepEqual(tree(flat.rootfs), EXPECTED);
  if (isRoot()) {
    const work = await tmpDir('overlay', t);
    for (const d of ['merged', 'upper', 'work']) mkdirSync(join(work, d));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${layered.lowerDirs.join(':')},upperdir=${work}/upper,workdir=${work}/work`, `${work}/merged`]);
    try {
      t.deepEqual(tree(join(work, 'merged')), EXPECTED);
    } finally {
      execFileSync('umount', [`${work}/merged`]);
    }
  }
});

rtest('Docker schema 2 manifest lists and OCI indexes: the host platform is picked', async (t) => {
  const reg = await startRegistry(t);
  const platforms = [
    { architecture: 'arm64', layers: [{ arch: 'arm64' }] },
    { architecture: 'amd64', layers: [{ arch: 'amd64' }] },
  ];
  await pushImage(t, reg, 'multi:docker', { layers: [], platforms }, { all: true, dockerFormat: true });
  await pushImage(t, reg, 'multi:oci', { layers: [], platforms }, { all: true });
  const rkt = await rktEnv(t);
  for (const tag of ['docker', 'oci']) {
    const r = await rkt.run('--insecure-options=image,http', 'fetch', `docker://${reg.host}/multi:${tag}`);
    t.is(r.code, 0, r.stderr);
    const file = await (async () => {
      const s = openStore(rkt.dir);
      try {
        return (await s.readImageFile(r.stdout.trim(), '/arch')).toString();
      } finally {
        s.close();
      }
    })();
    t.is(file, 'amd64', tag);
  }
  // both share the amd64 layer
  t.is(withStore(rkt, (s) => s.listLayers().length), 1);
});

rtest('an index without the host platform fails listing what it has', async (t) => {
  const reg = await startRegistry(t);
  await pushImage(t, reg, 'foreign:1', { layers: [], platforms: [{ architecture: 'arm64', layers: [{ a: 'a' }] }, { architecture: 's390x', layers: [{ s: 's' }] }] }, { all: true });
  const rkt = await rktEnv(t);
  const r = await rkt.run('--insecure-options=image,http', 'fetch', `docker://${reg.host}/foreign:1`);
  t.is(r.code, 254);
  t.is(r.stderr.trim().split('\n').pop(), `rkt: image docker://${reg.host}/foreign:1 has no linux/amd64 variant; available: linux/arm64, linux/s390x`);
});

rtest('a blob whose content does not match its digest is rejected', async (t) => {
  const reg = await startRegistry(t);
  const built = await pushImage(t, reg, 'bad:1', { layers: [{ files: { big: 'x'.repeat(100_000) }, compression: 'none' }] });
  const layer = built.manifests[0]?.layers[0];
  const data = reg.blobData(layer?.digest ?? '');
  const bytes = readFileSync(data);
  bytes.write('y', 2000);
  writeFileSync(data, bytes);
  const rkt = await rktEnv(t);
  const r = await rkt.run('--insecure-options=image,http', 'fetch', `docker://${reg.host}/bad:1`);
  t.is(r.code, 254);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('warning'));
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0] ?? '', /digest/);
  t.deepEqual(
    withStore(rkt, (s) => [s.listImages().length, s.listLayers().length]),
    [0, 0],
  );
});

rtest('a re-fetch of an unchanged image transfers no layer; layers are shared between images', async (t) => {
  const reg = await startRegistry(t);
  const base = { files: { 'etc/os-release': 'base' }, compression: 'gzip' as const };
  await pushImage(t, reg, 'app:1', { layers: [base, { files: { app: 'one' } }] });
  const proxy = await startProxy(t, reg);
  const rkt = await rktEnv(t);
  const url = `docker://${proxy.host}/app:1`;
  const first = await rkt.run('--insecure-options=image,http', 'fetch', url);
  t.is(first.code, 0, first.stderr);
  t.is(proxy.blobRequests().length, 3, 'config and two layers');
  proxy.reset();
  const again = await rkt.run('--insecure-options=image,http', 'fetch', url);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, first.stdout);
  t.deepEqual(
    proxy.requests.map((r) => `${r.method} ${r.path}`),
    ['HEAD /v2/app/manifests/1'],
  );
  // pull policy new: no request at all
  proxy.reset();
  const cached = await rkt.run('--insecure-options=image,http', 'fetch', '--pull-policy=new', url);
  t.is(cached.stdout, first.stdout);
  t.deepEqual(proxy.requests, []);
  // a new version of the tag sharing the base: only the new layer and config are read
  await pushImage(t, reg, 'app:1', { layers: [base, { files: { app: 'two' } }] });
  proxy.reset();
  const second = await rkt.run('--insecure-options=image,http', 'fetch', url);
  t.is(second.code, 0, second.stderr);
  t.not(second.stdout, first.stdout);
  t.is(proxy.blobRequests().length, 2, 'config and the new layer');
  t.deepEqual(
    withStore(rkt, (s) => [s.listImages().length, s.listLayers().length]),
    [2, 3],
  );
});

rtest('refuses unsigned images and plain http unless told', async (t) => {
  const reg = await startRegistry(t);
  await pushImage(t, reg, 'plain:1', { layers: [{ a: 'a' }] });
  const rkt = await rktEnv(t);
  const unsigned = await rkt.run('--insecure-options=http', 'fetch', `docker://${reg.host}/plain:1`);
  t.is(unsigned.code, 254);
  t.is(unsigned.stderr.trim(), `rkt: image docker://${reg.host}/plain:1: signature verification for docker images is not supported; use --insecure-options=image`);
  const http = await rkt.run('--insecure-options=image', 'fetch', `docker://${reg.host}/plain:1`);
  t.is(http.code, 254);
  t.regex(http.stderr, /use --insecure-options=http/);
  const missing = await rkt.run('--insecure-options=image,http', 'fetch', `docker://${reg.host}/nothere:1`);
  t.is(missing.code, 254);
  t.regex(missing.stderr, /not found in registry .*MANIFEST_UNKNOWN/);
});

rtest('a registry mirror serves images of another registry under their original name', async (t) => {
  const reg = await startRegistry(t);
  await pushImage(t, reg, 'pause:3.9', { layers: [{ pause: 'pause' }], config: { Entrypoint: ['/pause'] } });
  const rkt = await rktEnv(t);
  writeConfig(rkt, 'registries.d/mirrors.json', { rktKind: 'dockerRegistries', rktVersion: 'v1', mirrors: { 'registry.k8s.io': [`http://${reg.host}`] } });
  const r = await rkt.run('--insecure-options=image', 'fetch', 'docker://registry.k8s.io/pause:3.9');
  t.is(r.code, 0, r.stderr);
  const info = withStore(rkt, (s) => s.getImage(r.stdout.trim()));
  t.is(info.name, 'registry.k8s.io/pause');
  t.is(getLabel(info.labels, 'version'), '3.9');
  t.truthy(withStore(rkt, (s) => s.getRemote('docker://registry.k8s.io/pause:3.9')));
});

test('docker images are removed and garbage-collected with their layers', async (t) => {
  if (!ready) return t.pass('docker-registry, skopeo or zstd missing');
  const reg = await startRegistry(t);
  await pushImage(t, reg, 'gcme:1', { layers: [{ a: 'a' }, { b: 'b' }] });
  const rkt = await rktEnv(t);
  const r = await rkt.run('--insecure-options=image,http', 'fetch', `docker://${reg.host}/gcme:1`);
  t.is(r.code, 0, r.stderr);
  const layerDirs = withStore(rkt, (s) => s.imageLayers(r.stdout.trim()).map((l) => l.path));
  t.true(layerDirs.every((d) => existsSync(d)));
  const rm = await rkt.run('image', 'rm', r.stdout.trim());
  t.is(rm.code, 0, rm.stderr);
  t.true(layerDirs.every((d) => !existsSync(d)));
  t.deepEqual(
    withStore(rkt, (s) => s.listLayers()),
    [],
  );
});
