import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCode } from '@rktnetes/errors';
import { tmpDir } from '@rktnetes/testkit';
import { readStage1Config } from '../src/stage1/config';
import { bundledStage1Path, DEFAULT_STAGE1_LOCATION, isTrustedStage1Location, stage1FlagSpecs, type Stage1Choice } from '../src/stage1/select';
import { FlagParser } from '../src/pod/flags';

const packagesDir = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

async function writeConfig(dir: string, sub: string, name: string, body: Record<string, unknown>): Promise<void> {
  await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, sub, name), JSON.stringify(body));
}

test('stage1.d: name+version and location override separately, later directories win', async (t) => {
  const root = await tmpDir('s1cfg', t);
  const [sys, local] = [join(root, 'sys'), join(root, 'local')];
  await writeConfig(sys, 'stage1.d', 'coreos.json', { rktKind: 'stage1', rktVersion: 'v1', name: 'coreos.com/rkt/stage1-coreos', version: '1.0.0', location: '/usr/libexec/s1.aci' });
  await writeConfig(local, 'stage1.d', 'loc.json', { rktKind: 'stage1', rktVersion: 'v1', location: 'https://example.com/s1.aci' });
  await writeConfig(local, 'paths.d', 'paths.json', { rktKind: 'paths', rktVersion: 'v1', 'stage1-images': '/opt/s1' });
  t.deepEqual(readStage1Config([sys, local, '']), {
    name: 'coreos.com/rkt/stage1-coreos',
    version: '1.0.0',
    location: 'https://example.com/s1.aci',
    stage1ImagesDir: '/opt/s1',
  });
  await writeConfig(local, 'stage1.d', 'nv.json', { rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/s1', version: '2.0.0' });
  t.like(readStage1Config([sys, local]), { name: 'example.com/s1', version: '2.0.0' });
  t.deepEqual(readStage1Config([join(root, 'missing')]), {});
});

test('stage1.d errors: half a name/version pair, relative locations, two files setting one field, wrong kind', async (t) => {
  const cases: Array<[Record<string, unknown>[], RegExp]> = [
    [[{ rktKind: 'stage1', rktVersion: 'v1', name: 'x' }], /version is missing/],
    [[{ rktKind: 'stage1', rktVersion: 'v1', version: '1' }], /name is missing/],
    [[{ rktKind: 'stage1', rktVersion: 'v1', location: 'rel/s1.aci' }], /relative path/],
    [[{ rktKind: 'stage1', rktVersion: 'v1', location: 'ftp://x/s1.aci' }], /invalid scheme "ftp"/],
    [[{ rktKind: 'stage1', rktVersion: 'v1', location: '/a.aci' }, { rktKind: 'stage1', rktVersion: 'v1', location: '/b.aci' }], /already specified/],
    [[{ rktKind: 'paths', rktVersion: 'v1' }], /kind "stage1"/],
    [[{ rktVersion: 'v1' }], /no rktKind/],
    [[{ rktKind: 'stage1', rktVersion: 'v9' }], /version "v9"/],
  ];
  for (const [files, re] of cases) {
    const dir = await tmpDir('s1bad', t);
    for (const [i, f] of files.entries()) await writeConfig(dir, 'stage1.d', `${i}.json`, f);
    const e = t.throws(() => readStage1Config([dir]), { message: re }, JSON.stringify(files));
    t.true(hasCode(e, 'config.invalid'));
  }
});

test('stage1 images of this build are found next to the stage0 package and trusted', (t) => {
  t.is(bundledStage1Path('stage1-fly.aci'), join(packagesDir, 'stage1-fly', 'dist', 'stage1-fly.aci'));
  t.is(bundledStage1Path('../evil.aci'), undefined);
  t.is(bundledStage1Path('stage1-fly.tar'), undefined);
  t.true(isTrustedStage1Location(join(packagesDir, 'stage1-coreos', 'dist', 'stage1-coreos.aci')));
  t.true(isTrustedStage1Location(DEFAULT_STAGE1_LOCATION));
  t.true(isTrustedStage1Location('/usr/lib/rkt/stage1-images/stage1-kvm.aci'));
  t.false(isTrustedStage1Location('/tmp/stage1-fly.aci'));
  t.false(isTrustedStage1Location(join(packagesDir, 'stage1-fly', 'stage1-fly.aci')));
});

test('the --stage1-* flags are mutually exclusive', (t) => {
  const target: { choice?: Stage1Choice } = {};
  const p = new FlagParser(stage1FlagSpecs(target));
  p.parse(['--stage1-from-dir=stage1-fly.aci']);
  t.deepEqual(target.choice, { kind: 'from-dir', location: 'stage1-fly.aci' });
  t.throws(() => p.parse(['--stage1-hash', 'sha512-aa']), { message: 'flags --stage1-hash and --stage1-from-dir are mutually exclusive' });
  t.throws(() => p.parse(['--stage1-from-dir=x.aci']), { message: '--stage1-from-dir already used' });
});
