/**
 * scripts/stage1-manifest.mjs, the build-time half of the kit (plain JavaScript, loaded the way
 * the flavors' build scripts load it).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseImageManifest } from '@rktnetes/schema';
import { STAGE1_ENTRYPOINTS, stage1EntrypointFromManifest } from '@rktnetes/stage1-abi';
import * as kit from '../scripts/stage1-manifest.mjs';

const FLY_DIR = fileURLToPath(new URL('../../stage1-fly', import.meta.url));

test('stage1Manifest writes the labels, an annotation per entrypoint and the interface version last', (t) => {
  const m = kit.stage1Manifest({ name: 'coreos.com/rkt/stage1-test', version: '1.2.3', entrypoints: ['run', 'enter', 'gc', 'stop'], interfaceVersion: '6', arch: 'amd64' });
  // the order of the keys is the order of the image's manifest file
  t.deepEqual(Object.keys(m), ['acKind', 'acVersion', 'name', 'labels', 'annotations']);
  const { labels, annotations, ...rest } = m;
  t.deepEqual(rest, { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'coreos.com/rkt/stage1-test' });
  t.deepEqual(labels.map((l) => `${l.name}=${l.value}`), ['version=1.2.3', 'arch=amd64', 'os=linux']);
  t.deepEqual(
    annotations.map((a) => `${a.name}=${a.value}`),
    ['run=/run', 'enter=/enter', 'gc=/gc', 'stop=/stop', 'interface-version=6'].map((a) => `coreos.com/rkt/stage1/${a}`),
  );
});

test('the manifest is valid and stage0 finds every entrypoint in it, app/* ones at their file', (t) => {
  const names = ['run', 'enter', 'gc', 'stop', 'app/add', 'app/start', 'app/stop', 'app/rm', 'attach'] as const;
  const m = parseImageManifest(kit.stage1Manifest({ name: 'coreos.com/rkt/stage1-test', version: '0.1.0', entrypoints: names, interfaceVersion: '5' }));
  for (const n of names) t.is(stage1EntrypointFromManifest(m, n), `/${n.replace('/', '_')}`, n);
  t.true(m.annotations!.every((a) => a.name.startsWith(kit.STAGE1_ANNOTATION_PREFIX)));
  t.is(`${kit.STAGE1_ANNOTATION_PREFIX}run`, STAGE1_ENTRYPOINTS.run);
});

test('the arch label is the appc name of the machine by default', (t) => {
  t.is(kit.appcArch('x64'), 'amd64');
  t.is(kit.appcArch('arm64'), 'aarch64');
  t.is(kit.appcArch('s390x'), 's390x');
  const m = kit.stage1Manifest({ name: 'coreos.com/rkt/stage1-test', version: '0', entrypoints: [], interfaceVersion: '1' });
  t.is(m.labels.find((l) => l.name === 'arch')?.value, kit.appcArch(process.arch));
});

test('entrypointFile names the link of an entrypoint', (t) => {
  t.is(kit.entrypointFile('run'), 'run');
  t.is(kit.entrypointFile('app/add'), 'app_add');
});

test('stage1ProgramEntries: the bundle, its companions, a link per entrypoint and koffi', (t) => {
  const entries = kit.stage1ProgramEntries({ program: 'stage1-test', entrypoints: ['run', 'app/rm'], pkgDir: FLY_DIR });
  const byPath = new Map(entries.map((e) => [e.path, e]));
  t.deepEqual(byPath.get('stage1-test.mjs'), { path: 'stage1-test.mjs', source: 'dist/stage1-test.mjs', mode: 0o755 });
  t.is(byPath.get('stage1-test.cjs')?.source, 'dist/stage1-test.cjs');
  t.is(byPath.get('stage1-test.cjs.cache')?.source, 'dist/stage1-test.cjs.cache');
  t.deepEqual(byPath.get('run'), { path: 'run', type: 'symlink', target: 'stage1-test.mjs' });
  t.deepEqual(byPath.get('app_rm'), { path: 'app_rm', type: 'symlink', target: 'stage1-test.mjs' });
  const koffi = entries.filter((e) => e.path.startsWith('node_modules/koffi/'));
  t.deepEqual(koffi.map((e) => e.path).sort(), [
    `node_modules/koffi/build/koffi/${process.platform}_${process.arch}/koffi.node`,
    'node_modules/koffi/index.js',
    'node_modules/koffi/LICENSE.txt',
    'node_modules/koffi/package.json',
  ].sort());
  for (const e of koffi) {
    t.true(existsSync(e.source!), e.source);
    t.is(e.mode, e.path.endsWith('.node') ? 0o755 : 0o644);
  }
  t.is(entries.length, 3 + 2 + 4);
});

test('stage1ProgramEntries ships given content as the executable', (t) => {
  const [exe] = kit.stage1ProgramEntries({ program: 'stage1-test', entrypoints: [], content: '#!/usr/bin/env node\n', pkgDir: FLY_DIR });
  t.deepEqual(exe, { path: 'stage1-test.mjs', content: '#!/usr/bin/env node\n', mode: 0o755 });
});
