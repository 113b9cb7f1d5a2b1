import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import {
  ANNOTATION_INTERFACE_VERSION,
  ANNOTATION_POD_MUTABLE,
  STAGE1_ENTRYPOINTS,
  STAGE1_INTERFACE_HISTORY,
  STAGE1_INTERFACE_VERSIONS,
  describeStage1,
  readStage1Annotations,
  requireStage1Entrypoint,
  stage1EntrypointFromManifest,
  stage1EntrypointPath,
  stage1InterfaceVersion,
  stage1SupportsMutable,
} from '@rktnetes/stage1-abi';

const ann = (pairs: Record<string, string>) => Object.entries(pairs).map(([name, value]) => ({ name, value }));

// the annotations a coreos-style stage1 declares (all entrypoints, version 6)
const coreos = {
  acKind: 'ImageManifest',
  name: 'example.com/stage1-coreos',
  annotations: ann({
    'coreos.com/rkt/stage1/run': '/init',
    'coreos.com/rkt/stage1/enter': '/enter',
    'coreos.com/rkt/stage1/gc': '/gc',
    'coreos.com/rkt/stage1/stop': '/stop',
    'coreos.com/rkt/stage1/app/add': '/app_add',
    'coreos.com/rkt/stage1/app/rm': '/app_rm',
    'coreos.com/rkt/stage1/app/start': '/app_start',
    'coreos.com/rkt/stage1/app/stop': '/app_stop',
    'coreos.com/rkt/stage1/attach': '/attach',
    'coreos.com/rkt/stage1/interface-version': '6',
  }),
};
// a fly-style stage1: no app entrypoints, version 5
const fly = ann({
  'coreos.com/rkt/stage1/run': '/run',
  'coreos.com/rkt/stage1/enter': '/enter',
  'coreos.com/rkt/stage1/gc': '/gc',
  'coreos.com/rkt/stage1/stop': '/stop',
  'coreos.com/rkt/stage1/interface-version': '5',
});

test('annotation names are rkt names', (t) => {
  t.is(STAGE1_ENTRYPOINTS.run, 'coreos.com/rkt/stage1/run');
  t.is(STAGE1_ENTRYPOINTS['app/add'], 'coreos.com/rkt/stage1/app/add');
  t.is(STAGE1_ENTRYPOINTS.attach, 'coreos.com/rkt/stage1/attach');
  t.is(ANNOTATION_INTERFACE_VERSION, 'coreos.com/rkt/stage1/interface-version');
  t.is(ANNOTATION_POD_MUTABLE, 'coreos.com/rkt/stage1/mutable');
  t.deepEqual(STAGE1_INTERFACE_HISTORY.map((h) => h.version), [...STAGE1_INTERFACE_VERSIONS]);
});

test('entrypoints are found by short or full name, in a manifest or a bare list', (t) => {
  t.is(stage1EntrypointFromManifest(coreos, 'run'), '/init');
  t.is(stage1EntrypointFromManifest(coreos, 'coreos.com/rkt/stage1/app/add'), '/app_add');
  t.is(stage1EntrypointFromManifest(fly, 'run'), '/run');
  t.is(stage1EntrypointFromManifest(fly, 'attach'), undefined);
  t.is(stage1EntrypointFromManifest({}, 'run'), undefined);
  t.is(requireStage1Entrypoint(fly, 'gc'), '/gc');
  const e = t.throws(() => requireStage1Entrypoint(fly, 'app/add'));
  t.true(hasCode(e, 'stage1.entrypoint.missing'));
  t.regex((e as Error).message, /does not implement the app\/add entrypoint/);
});

test('interface version: declared, default 1, invalid rejected', (t) => {
  t.is(stage1InterfaceVersion(coreos), 6);
  t.is(stage1InterfaceVersion(fly), 5);
  t.is(stage1InterfaceVersion(ann({ 'coreos.com/rkt/stage1/run': '/x' })), 1);
  for (const bad of ['', 'two', '0', '-1', '1.5', ' 2']) {
    t.true(hasCode(t.throws(() => stage1InterfaceVersion(ann({ [ANNOTATION_INTERFACE_VERSION]: bad }))), 'stage1.interface-version.invalid'), bad);
  }
});

test('mutable support means app/rm, app/start and app/stop are declared', (t) => {
  t.true(stage1SupportsMutable(coreos));
  t.false(stage1SupportsMutable(fly));
  t.deepEqual(describeStage1(fly), {
    interfaceVersion: 5,
    entrypoints: { run: '/run', enter: '/enter', gc: '/gc', stop: '/stop' },
    supportsMutable: false,
  });
});

test('entrypoint paths resolve inside <pod>/stage1/rootfs', (t) => {
  t.is(stage1EntrypointPath('/var/lib/rkt/pods/run/u', '/init'), '/var/lib/rkt/pods/run/u/stage1/rootfs/init');
  t.is(stage1EntrypointPath('.', '/usr/bin/../lib/x'), 'stage1/rootfs/usr/lib/x');
  t.is(stage1EntrypointPath('/p', '/../../bin/sh'), '/p/stage1/rootfs/bin/sh', 'dot-dots cannot climb out of the rootfs');
  for (const bad of ['init', '/', '/..', 'a/../b', '/x\0']) t.true(hasCode(t.throws(() => stage1EntrypointPath('/p', bad)), 'stage1.entrypoint.invalid'), bad);
});

test('readStage1Annotations reads <pod>/stage1/manifest', async (t) => {
  const pod = await mkdtemp(join(tmpdir(), 'rkt-abi-'));
  t.teardown(() => rm(pod, { recursive: true, force: true }));
  t.true(hasCode(await t.throwsAsync(readStage1Annotations(pod)), 'stage1.manifest.read'));
  await mkdir(join(pod, 'stage1'));
  await writeFile(join(pod, 'stage1', 'manifest'), JSON.stringify(coreos));
  const anns = await readStage1Annotations(pod);
  t.is(stage1EntrypointFromManifest(anns, 'enter'), '/enter');
  for (const bad of ['nope', '[]', '{"annotations":{}}', '{"annotations":[{"name":"a"}]}']) {
    await writeFile(join(pod, 'stage1', 'manifest'), bad);
    t.true(hasCode(await t.throwsAsync(readStage1Annotations(pod)), 'stage1.manifest.invalid'), bad);
  }
  await writeFile(join(pod, 'stage1', 'manifest'), '{"acKind":"ImageManifest"}');
  t.deepEqual(await readStage1Annotations(pod), []);
});
