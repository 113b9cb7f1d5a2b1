/**
 * The per-app security flags of `rkt run` and `rkt app add`: `--seccomp` (rkt's form and
 * `unconfined`, `default`, `profile=FILE`), `--no-new-privileges`, `--masked-paths`,
 * `--readonly-paths`, and what they put in the runtime app (isolators, rktnetes annotations).
 */
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { getAnnotation, imageManifest, type RuntimeApp } from '@rktnetes/schema';
import { ANNOTATION_APP_MASKED_PATHS, ANNOTATION_APP_READONLY_PATHS, ANNOTATION_APP_SECCOMP_PROFILE, parsePathList } from '@rktnetes/stage1-abi';
import { tmpDir } from '@rktnetes/testkit';
import { parseAddArgs } from '../src/app/args';
import { parsePathsFlag, parsePodArgs, parseSeccompFlag } from '../src/pod/args';
import { runtimeAppFor } from '../src/pod/manifest';
import { DEFAULT_GLOBALS } from './helpers/fixtures';

const base = DEFAULT_GLOBALS;
const KEY = `sha512-${'1'.repeat(128)}`;
const IMAGE_SECCOMP = { name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'] } };

/** The runtime app of `rkt app add UUID img <flags>` for an image with a seccomp isolator. */
function added(...flags: string[]): RuntimeApp {
  const { add } = parseAddArgs(['abc', 'img', ...flags], base);
  const manifest = imageManifest({ name: 'example.com/img', app: { exec: ['/bin/sh'], isolators: [IMAGE_SECCOMP] } });
  return runtimeAppFor({ cli: add.app, imageKey: KEY, manifest }, [], { setEnv: [], setEnvFile: [] });
}
const isolator = (ra: RuntimeApp, name: string) => ra.app?.isolators?.find((i) => i.name === name);

test('--seccomp values: rkt\'s mode form, unconfined, default, profile=FILE', (t) => {
  t.deepEqual(parseSeccompFlag('mode=retain,errno=EPERM,read'), {
    kind: 'isolator',
    isolator: { name: 'os/linux/seccomp-retain-set', value: { set: ['read'], errno: 'EPERM' } },
  });
  t.deepEqual(parseSeccompFlag('unconfined'), { kind: 'unconfined', isolator: { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } } });
  t.deepEqual(parseSeccompFlag('default'), { kind: 'default' });
  t.deepEqual(parseSeccompFlag('profile=/etc/seccomp/a,b=c.json'), { kind: 'profile', path: '/etc/seccomp/a,b=c.json' });
  for (const bad of ['profile=', 'read,write', 'mode=both,read']) t.true(hasCode(t.throws(() => parseSeccompFlag(bad)), 'cli.invalid-value'), bad);
});

test('--masked-paths and --readonly-paths: comma-separated absolute paths, repeatable, empty for none', (t) => {
  t.deepEqual(parsePathsFlag('/a,/b c', 'masked-paths'), ['/a', '/b c']);
  t.deepEqual(parsePathsFlag('', 'masked-paths'), []);
  t.true(hasCode(t.throws(() => parsePathsFlag('/a,b', 'masked-paths')), 'cli.invalid-value'));
  const { add } = parseAddArgs(['abc', 'img', '--masked-paths=/proc/kcore', '--masked-paths=/bin/ls,/data', '--readonly-paths='], base);
  t.deepEqual(add.app.maskedPaths, ['/proc/kcore', '/bin/ls', '/data']);
  t.deepEqual(add.app.readOnlyPaths, []);
  t.true(hasCode(t.throws(() => parseAddArgs(['abc', 'img', '--readonly-paths=tmp'], base)), 'cli.invalid-value'));
});

test('the runtime app: path lists as annotations, no_new_privs as an isolator either way', (t) => {
  const ra = added('--masked-paths=/bin/ls', '--readonly-paths=', '--no-new-privileges');
  t.deepEqual(parsePathList(getAnnotation(ra.annotations, ANNOTATION_APP_MASKED_PATHS)!, 'm'), ['/bin/ls']);
  t.is(getAnnotation(ra.annotations, ANNOTATION_APP_READONLY_PATHS), '[]');
  t.deepEqual(isolator(ra, 'os/linux/no-new-privileges')?.value, true);
  t.deepEqual(isolator(added('--no-new-privileges=false'), 'os/linux/no-new-privileges')?.value, false);
  const plain = added();
  t.is(plain.annotations, undefined, 'no flags, no annotations');
  t.is(isolator(plain, 'os/linux/no-new-privileges'), undefined);
  t.deepEqual(isolator(plain, 'os/linux/seccomp-remove-set')?.value, IMAGE_SECCOMP.value, "the image's seccomp isolator stays");
});

test('--seccomp=unconfined replaces the image isolators with @appc.io/all, default drops them', (t) => {
  const open = added('--seccomp=unconfined');
  t.is(isolator(open, 'os/linux/seccomp-remove-set'), undefined);
  t.deepEqual(isolator(open, 'os/linux/seccomp-retain-set')?.value, { set: ['@appc.io/all'] });
  const dflt = added('--seccomp=default');
  t.deepEqual(dflt.app?.isolators ?? [], []);
});

test('--seccomp=profile=FILE: the profile is read, checked and carried as an annotation', async (t) => {
  const dir = await tmpDir('seccomp-flag', t);
  const file = join(dir, 'block-chmod.json');
  await writeFile(file, '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [ { "names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO" } ]\n}\n');
  const ra = added(`--seccomp=profile=${file}`);
  t.is(getAnnotation(ra.annotations, ANNOTATION_APP_SECCOMP_PROFILE), '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod","fchmodat"],"action":"SCMP_ACT_ERRNO"}]}');
  t.deepEqual(isolator(ra, 'os/linux/seccomp-remove-set')?.value, IMAGE_SECCOMP.value, 'isolators stay for stage1s without the extension');

  const missing = t.throws(() => added(`--seccomp=profile=${join(dir, 'none.json')}`));
  t.true(hasCode(missing, 'cli.seccomp-profile'));
  t.regex(missing!.message, /cannot read seccomp profile .*none\.json/);
  await writeFile(join(dir, 'bad.json'), '{"defaultAction": "SCMP_ACT_NOTIFY"}');
  t.true(hasCode(t.throws(() => added(`--seccomp=profile=${join(dir, 'bad.json')}`)), 'stage1.seccomp.profile-invalid'));
});

test('rkt run takes the same flags per image', (t) => {
  const { pod } = parsePodArgs(['img1', '--no-new-privileges', '--masked-paths=/a', 'img2', '--seccomp=unconfined', '--readonly-paths=/b'], base, 'run');
  t.deepEqual(pod.apps[0]!.isolators, [{ name: 'os/linux/no-new-privileges', value: true }]);
  t.deepEqual(pod.apps[0]!.maskedPaths, ['/a']);
  t.is(pod.apps[1]!.seccomp, 'unconfined');
  t.deepEqual(pod.apps[1]!.readOnlyPaths, ['/b']);
  t.true(hasCode(t.throws(() => parsePodArgs(['--masked-paths=/a', 'img'], base, 'run')), 'cli.app-flag'), 'a per-app flag needs an image before it');
});
