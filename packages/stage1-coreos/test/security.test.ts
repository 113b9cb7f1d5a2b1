/**
 * The per-app security settings of the rktnetes extensions, seen from inside real pods: a
 * seccomp profile annotation (errno, argument conditions), no filter, no_new_privs only when
 * asked, and masked / read-only path lists that replace the defaults and are resolved inside
 * the app's root. Privileged: each pod is followed by gc and a leak check.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATION_APP_MASKED_PATHS, ANNOTATION_APP_READONLY_PATHS, ANNOTATION_APP_SECCOMP_PROFILE, formatPathList } from '@rktnetes/stage1-abi';
import { hasBusybox, isRoot, parseProbeOutput, testIf } from '@rktnetes/testkit';
import { preparePod, runAndGc, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');
const annotations = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
const sh = (script: string) => ({ exec: ['/bin/sh', '-c', script] });

/** The stdout an app of the pod logged (`rkt/log/<app>`, CRI format). */
function logged(pod: TestPod, app: string): string {
  return readFileSync(join(pod.stage1Root, 'rkt/log', app), 'utf8')
    .split('\n')
    .filter((l) => / stdout [FP] /.test(l))
    .map((l) => l.replace(/^\S+ stdout [FP] /, ''))
    .join('\n');
}

it('a seccomp profile annotation: its errno, argument conditions, and it wins over the isolators', async (t) => {
  const profile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      // chmod to 0400 only; chmod(2) has the mode in argument 1, fchmodat(2) in argument 2
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0o400, op: 'SCMP_CMP_EQ' }] },
      { names: ['fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO', args: [{ index: 2, value: 0o400, op: 'SCMP_CMP_EQ' }] },
    ],
  };
  const script = 'touch /tmp/f; chmod 400 /tmp/f 2>&1; echo r1=$?; chmod 644 /tmp/f; echo r2=$?; mkdir /tmp/d 2>&1; echo r3=$?; grep Seccomp: /proc/self/status; busybox unshare -U true && echo unshare-ok';
  const pod = await preparePod(t, [
    {
      name: 'sh',
      // the image's retain set would kill the shell at its first call; the annotation replaces it
      image: { ...sh(script), app: { isolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } }] } },
      runtime: { annotations: annotations({ [ANNOTATION_APP_SECCOMP_PROFILE]: JSON.stringify(profile) }) },
    },
  ]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Operation not permitted\nr1=1\n/);
  t.regex(r.stdout, /\nr2=0\n/);
  t.regex(r.stdout, /Permission denied\nr3=1\n/);
  t.regex(r.stdout, /Seccomp:\s+2/);
  t.regex(r.stdout, /unshare-ok/, 'what the profile does not name is allowed, unlike with the default filter');
});

it('no filter with @appc.io/all; no_new_privs as the isolator says, and without one rkt\'s rule', async (t) => {
  const nnp = (value: boolean) => ({ name: 'os/linux/no-new-privileges', value });
  const unconfined = { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } };
  const pod = await preparePod(t, [
    { name: 'unconfined', image: { app: { user: '1000', group: '1000', isolators: [unconfined] } } },
    { name: 'nnp-false', image: { app: { user: '1000', group: '1000', isolators: [nnp(false)] } } },
    { name: 'nnp-true', image: { app: { user: '0', group: '0', isolators: [nnp(true), unconfined] } } },
    { name: 'rkt-rule', image: { app: { user: '1000', group: '1000' } } },
  ]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0, r.stderr);
  const probe = (app: string) => parseProbeOutput(logged(pod, app));
  t.like(probe('unconfined'), { uid: 1000, seccomp: 0, noNewPrivs: false });
  t.like(probe('nnp-false'), { uid: 1000, seccomp: 2, noNewPrivs: false }, 'the filter is installed before the uid change');
  t.like(probe('nnp-true'), { uid: 0, seccomp: 0, noNewPrivs: true });
  t.like(probe('rkt-rule'), { uid: 1000, seccomp: 2, noNewPrivs: true }, 'a non-root app with a filter and no isolator: rkt sets no_new_privs');
});

it('masked and read-only path annotations replace the defaults and are resolved inside the app', async (t) => {
  const script = [
    'echo secret=$(cat /etc/secret)',
    'echo data=$(ls /data | wc -l)',
    'touch /data/x 2>/dev/null || echo data-ro',
    'touch /tmp/x 2>&1',
    'touch /var/x && echo var-rw',
    'grep -q " /proc/keys " /proc/self/mountinfo || echo keys-unmasked',
    'grep -q " /proc/sys " /proc/self/mountinfo || echo proc-sys-unmounted',
  ].join('; ');
  const pod = await preparePod(t, [
    {
      name: 'sh',
      image: {
        ...sh(script),
        extraFiles: {
          'etc/secret': { type: 'file', content: 's3cret' },
          // an absolute symlink: seen from the init it would point into the stage1's root
          escape: { type: 'symlink', target: '/etc/secret' },
          'data/file': { type: 'file', content: 'x' },
          'var/.keep': { type: 'file', content: '' },
        },
      },
      runtime: {
        annotations: annotations({
          [ANNOTATION_APP_MASKED_PATHS]: formatPathList(['/escape', '/data', '/does/not/exist']),
          [ANNOTATION_APP_READONLY_PATHS]: formatPathList(['/tmp']),
        }),
      },
    },
  ]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  t.true(out.includes('secret='), 'the symlink target inside the app is masked');
  t.true(out.includes('data=0'), 'a masked directory is empty');
  t.true(out.includes('data-ro'));
  t.true(out.includes('touch: /tmp/x: Read-only file system'), r.stdout);
  t.true(out.includes('var-rw'));
  t.true(out.includes('keys-unmasked'), 'the default masks are replaced');
  t.true(out.includes('proc-sys-unmounted'), 'the default read-only paths are replaced');
});

it('a broken profile or path list fails the pod with the app named', async (t) => {
  const bad = await preparePod(t, [{ name: 'probe', runtime: { annotations: annotations({ [ANNOTATION_APP_SECCOMP_PROFILE]: '{"defaultAction":"SCMP_ACT_NOTIFY"}' }) } }]);
  const r = await runAndGc(t, bad);
  t.is(r.code, 254);
  t.regex(r.stderr, /seccomp profile of app probe: defaultAction: SCMP_ACT_NOTIFY is not supported/);
  const paths = await preparePod(t, [{ name: 'probe', runtime: { annotations: annotations({ [ANNOTATION_APP_MASKED_PATHS]: '["relative"]' }) } }]);
  const p = await runAndGc(t, paths);
  t.is(p.code, 254);
  t.regex(p.stderr, /annotation rktnetes\.io\/stage2\/masked-paths: "relative" is not an absolute path/);
});
