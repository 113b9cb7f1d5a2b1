import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '@rktnetes/testkit';
import { canonicalDockerURL, parseDockerReference, stripDockerScheme } from '../src/fetch/docker-reference';
import { parseLocalRef } from '../src/fetch/oci-layout';
import { parseChallenge } from '../src/fetch/registry-client';
import { loadRegistryMirrors, mirrorsFor } from '../src/fetch/registry-config';

const HEX = 'a'.repeat(64);

test('short names go to Docker Hub, library/ for one component', (t) => {
  t.deepEqual(parseDockerReference('busybox'), { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' });
  t.deepEqual(parseDockerReference('busybox:1.36'), { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: '1.36' });
  t.deepEqual(parseDockerReference('user/app'), { registry: 'registry-1.docker.io', repository: 'user/app', tag: 'latest' });
  t.deepEqual(parseDockerReference('docker.io/library/busybox:latest'), parseDockerReference('busybox'));
  t.deepEqual(parseDockerReference('index.docker.io/busybox'), parseDockerReference('busybox'));
  t.is(canonicalDockerURL(parseDockerReference('busybox')), 'docker://registry-1.docker.io/library/busybox:latest');
});

test('registries are recognised by a dot, a port or localhost', (t) => {
  t.deepEqual(parseDockerReference('127.0.0.1:5000/team/app:v2'), { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v2' });
  t.deepEqual(parseDockerReference('localhost/app'), { registry: 'localhost', repository: 'app', tag: 'latest' });
  t.deepEqual(parseDockerReference('registry.k8s.io/pause:3.9'), { registry: 'registry.k8s.io', repository: 'pause', tag: '3.9' });
  t.deepEqual(parseDockerReference(`quay.io/app@sha256:${HEX}`), { registry: 'quay.io', repository: 'app', digest: `sha256:${HEX}` });
  t.deepEqual(parseDockerReference(`quay.io/app:v1@sha256:${HEX}`), { registry: 'quay.io', repository: 'app', tag: 'v1', digest: `sha256:${HEX}` });
  t.is(canonicalDockerURL(parseDockerReference(`quay.io/app@sha256:${HEX}`)), `docker://quay.io/app@sha256:${HEX}`);
});

test('malformed references are usage errors naming the problem', (t) => {
  for (const bad of ['', 'Busybox', 'app:', 'app@sha256:12', 'a//b', 'app:-x', 'host:99999999/app']) {
    const e = t.throws(() => parseDockerReference(bad), { code: 'fetch.invalid-ref' }, bad);
    t.regex(e?.message ?? '', /^invalid docker image reference/);
  }
});

test('scheme forms', (t) => {
  t.is(stripDockerScheme('docker://busybox'), 'busybox');
  t.is(stripDockerScheme('docker:busybox'), 'busybox');
  t.deepEqual(parseLocalRef('oci:/tmp/layout:v1'), { path: '/tmp/layout', ref: 'v1' });
  t.deepEqual(parseLocalRef('oci:///tmp/layout'), { path: '/tmp/layout' });
  t.deepEqual(parseLocalRef('docker-archive:/tmp/a.tar:busybox:1'), { path: '/tmp/a.tar', ref: 'busybox:1' });
});

test('authentication challenges', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull' },
  });
  t.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
});

test('mirrors: later config dirs override per registry; Docker Hub under any name', async (t) => {
  const sys = await tmpDir('mirrors-sys', t);
  const local = await tmpDir('mirrors-local', t);
  for (const [dir, mirrors] of [
    [sys, { 'docker.io': ['https://hub-mirror.example'], 'gcr.io': ['https://gcr-mirror.example'] }],
    [local, { 'gcr.io': ['http://127.0.0.1:5000', 'https://second.example/prefix'] }],
  ] as const) {
    mkdirSync(join(dir, 'registries.d'));
    writeFileSync(join(dir, 'registries.d', 'm.json'), JSON.stringify({ rktKind: 'dockerRegistries', rktVersion: 'v1', mirrors }));
  }
  writeFileSync(join(local, 'registries.d', 'other.json'), JSON.stringify({ rktKind: 'somethingElse', rktVersion: 'v1' }));
  const m = loadRegistryMirrors([sys, local]);
  t.deepEqual(mirrorsFor(m, 'registry-1.docker.io').map(String), ['https://hub-mirror.example/']);
  t.deepEqual(mirrorsFor(m, 'gcr.io').map(String), ['http://127.0.0.1:5000/', 'https://second.example/prefix']);
  t.deepEqual(mirrorsFor(m, 'quay.io'), []);
  writeFileSync(join(local, 'registries.d', 'bad.json'), JSON.stringify({ rktKind: 'dockerRegistries', rktVersion: 'v1', mirrors: { 'x.io': ['ftp://x'] } }));
  t.throws(() => loadRegistryMirrors([local]), { code: 'config.invalid', message: /must be an http or https URL/ });
});
