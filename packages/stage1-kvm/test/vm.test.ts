/**
 * The kvm flavor for real: pods booted in qemu (TCG here; KVM where usable), driven the way
 * stage0 drives them. Root, the guest kernel (scripts/kvm-assets.sh), qemu and gcc are needed;
 * otherwise every test is skipped with the reason. Serial: each boot takes a few seconds of CPU.
 */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileTolerantSync } from '@rktnetes/common';
import { ANNOTATION_APP_MASKED_PATHS, ANNOTATION_APP_READONLY_PATHS, ANNOTATION_APP_SECCOMP_PROFILE, formatPathList } from '@rktnetes/stage1-abi';
import { capabilityMask } from '@rktnetes/stage1-kvm';
import { busyboxImage, leakCheck, mountsUnder, testIf, tmpDir } from '@rktnetes/testkit';
import {
  ensureKvmAci,
  lockHeld,
  makePod,
  processesMentioning,
  readPpid,
  runEntrypoint,
  startEntrypoint,
  waitFor,
  vmSkipReason,
  type TestPod,
} from './helpers';

const reason = vmSkipReason();
const vmTest = testIf(test, reason === undefined, reason ?? '');

let aci = '';
test.before(async () => {
  if (reason === undefined) aci = await ensureKvmAci();
});

const shApp = (script: string, runtime: Record<string, unknown> = {}) => ({
  name: 'app',
  image: undefined as unknown as Buffer,
  runtime: { app: { exec: ['/bin/sh', '-c', script], user: '0', group: '0' }, ...runtime },
});

async function podWith(t: Parameters<typeof makePod>[0], script: string, runtime: Record<string, unknown> = {}, extra: Parameters<typeof makePod>[3] = {}): Promise<TestPod> {
  const image = await busyboxImage();
  return makePod(t, aci, [{ ...shApp(script, runtime), image }], extra);
}

/** A shell command printing `<who> NoNewPrivs:<n> Seccomp:<n>` as the process sees itself. */
const secStatus = (who: string) => `awk '/^(NoNewPrivs|Seccomp):/ { s = s " " $1 $2 } END { print "${who}" s }' /proc/self/status`;

/** Asserts that nothing of the pod is left: no process mentioning it, no network namespace, the lock free. */
async function assertGone(t: { deepEqual(a: unknown, b: unknown, m?: string): void; false(v: boolean, m?: string): void }, pod: TestPod): Promise<void> {
  await waitFor('the pod processes to end', () => (processesMentioning(pod.uuid).length === 0 ? true : undefined), 10_000).catch(() => undefined);
  // a killed process loses its command line (its memory) before its descriptors: the lock goes a moment later
  await waitFor('the pod lock to be released', () => (lockHeld(pod.dir) ? undefined : true), 2_000).catch(() => undefined);
  t.deepEqual(processesMentioning(pod.uuid), [], 'no process of the pod is left');
  t.false(existsSync(`/run/netns/rkt-${pod.uuid}`), 'no network namespace of the pod is left');
  t.false(lockHeld(pod.dir), 'the pod lock is released');
}

vmTest.serial('run: the app output reaches stdout and stderr, and its exit status is run\'s', async (t) => {
  const pod = await podWith(t, 'echo hello from the vm; echo to stderr >&2; hostname; exit 7');
  const leaks = await leakCheck({ match: pod.uuid, iptables: false });
  const r = await runEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  t.is(r.code, 7, r.stderr);
  t.is(r.stdout, `hello from the vm\nrkt-${pod.uuid}\n`);
  t.regex(r.stderr, /to stderr/);
  t.is(readFileSync(join(pod.stage1Rootfs, 'rkt/status/app'), 'utf8'), '7\n');
  t.is(readFileSync(join(pod.dir, 'kvm/exit'), 'utf8'), '7\n');
  const log = readFileSync(join(pod.stage1Rootfs, 'rkt/log/app'), 'utf8').trim().split('\n');
  for (const line of log) t.regex(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F /);
  // records of one stream keep their order; the two streams are read from separate pipes
  t.deepEqual(log.map((l) => l.split(' ').slice(1).join(' ')).sort(), ['stderr F to stderr', 'stdout F hello from the vm', `stdout F rkt-${pod.uuid}`]);
  t.true(log.findIndex((l) => l.endsWith('hello from the vm')) < log.findIndex((l) => l.endsWith(pod.uuid)));
  t.truthy(readPpid(pod), 'ppid is written');
  t.log(`first output after ${r.firstOutputMs?.toFixed(0)} ms`);
  await assertGone(t, pod);
  t.deepEqual(await leaks(), []);
});

vmTest.serial('run: volumes written in the guest are visible on the host; read-only volumes stay so; gc unmounts them', async (t) => {
  const host = await tmpDir('kvm-vol', t);
  mkdirSync(join(host, 'rw'));
  mkdirSync(join(host, 'ro'));
  writeFileSync(join(host, 'ro', 'given'), 'from the host\n');
  writeFileSync(join(host, 'single.conf'), 'one file\n');
  const script = [
    'echo written in the guest > /data/out',
    'cat /input/given',
    'touch /input/nope 2>/dev/null && echo ro-writable || echo ro-refused',
    'cat /etc/single.conf',
    'echo shared > /scratch/file && cat /scratch/file',
    secStatus('app'),
    'test -c /proc/kcore || echo kcore-visible',
    'exit 0',
  ].join('; ');
  const pod = await podWith(
    t,
    script,
    {
      mounts: [
        { volume: 'data', path: '/data' },
        { volume: 'input', path: '/input' },
        { volume: 'single', path: '/etc/single.conf' },
        { volume: 'scratch', path: '/scratch' },
      ],
    },
    {
      volumes: [
        { name: 'data', kind: 'host', source: join(host, 'rw') },
        { name: 'input', kind: 'host', source: join(host, 'ro'), readOnly: true },
        { name: 'single', kind: 'host', source: join(host, 'single.conf'), readOnly: true },
        { name: 'scratch', kind: 'empty' },
      ],
    },
  );
  const r = await runEntrypoint(pod, 'run', ['--net=none', '--disable-seccomp', '--disable-paths', pod.uuid]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'from the host\nro-refused\none file\nshared\napp NoNewPrivs:0 Seccomp:0\nkcore-visible\n', '--disable-seccomp, --disable-paths (--insecure-options=seccomp,paths): no filter, nothing masked');
  t.false(existsSync(join(pod.dir, 'kvm/seccomp')));
  t.is(readFileSync(join(host, 'rw', 'out'), 'utf8'), 'written in the guest\n');
  t.is(readFileSync(join(pod.dir, 'sharedVolumes', 'scratch', 'file'), 'utf8'), 'shared\n');
  t.false(existsSync(join(host, 'ro', 'nope')));
  t.true(mountsUnder(pod.dir).length > 0, 'host volumes stay mounted until gc');
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid], { lock: false });
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(mountsUnder(pod.dir), []);
  await assertGone(t, pod);
});

vmTest.serial('stop: asks the guest to stop its apps, which see SIGTERM', async (t) => {
  const pod = await podWith(t, "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 1; done");
  const run = startEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  await waitFor('the app to start', () => (run.stdout().includes('ready') ? true : undefined));
  const s = await runEntrypoint(pod, 'stop', [pod.uuid], { lock: false });
  t.is(s.code, 0, s.stderr);
  const r = await run.done;
  t.is(r.code, 3, r.stderr);
  t.is(r.stdout, 'ready\ngot TERM\n');
  t.is(readFileTolerantSync(join(pod.stage1Rootfs, 'rkt/status/app')), '3\n');
  await assertGone(t, pod);
});

vmTest.serial('stop: a request made while the guest still boots is not lost', async (t) => {
  const pod = await podWith(t, 'sleep 30');
  const run = startEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  await waitFor('ppid', () => readPpid(pod));
  const s = await runEntrypoint(pod, 'stop', [pod.uuid], { lock: false });
  t.is(s.code, 0, s.stderr);
  const started = Date.now();
  const r = await run.done;
  t.is(r.code, 143, r.stderr);
  t.true(Date.now() - started < 15_000, 'the app was stopped, not waited for');
  await assertGone(t, pod);
});

vmTest.serial('stop --force: kills the VM at once', async (t) => {
  const pod = await podWith(t, "trap '' TERM; echo ready; while :; do sleep 1; done");
  const run = startEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  await waitFor('the app to start', () => (run.stdout().includes('ready') ? true : undefined));
  const s = await runEntrypoint(pod, 'stop', ['--force', pod.uuid], { lock: false });
  t.is(s.code, 0, s.stderr);
  const r = await run.done;
  t.is(r.signal, 'SIGKILL');
  t.is(readFileTolerantSync(join(pod.stage1Rootfs, 'rkt/status/app')), undefined, 'no status: the app never exited');
  await assertGone(t, pod);
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid], { lock: false });
  t.is(gc.code, 0, gc.stderr);
});

vmTest.serial('enter: runs a command in the app inside the running VM', async (t) => {
  const pod = await podWith(t, 'echo ready; sleep 60', { app: { exec: ['/bin/sh', '-c', 'echo ready; sleep 60'], user: '0', group: '0', environment: [{ name: 'GREETING', value: 'hi' }] } });
  const run = startEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  await waitFor('the app to start', () => (run.stdout().includes('ready') ? true : undefined));
  const ppid = readPpid(pod)!;
  const e = await runEntrypoint(pod, 'enter', [`--pid=${ppid}`, '--appname=app', '--', '/bin/sh', '-c', `echo $GREETING from $(hostname); cat; ${secStatus('enter')}; echo err >&2; exit 5`], {
    lock: false,
    input: 'stdin reaches the command\n',
  });
  t.is(e.code, 5, e.stderr);
  t.is(e.stdout, `hi from rkt-${pod.uuid}\nstdin reaches the command\nenter NoNewPrivs:0 Seccomp:2\n`, 'the command gets the app\'s seccomp filter');
  t.is(e.stderr, 'err\n');
  await runEntrypoint(pod, 'stop', [pod.uuid], { lock: false });
  const r = await run.done;
  t.is(r.code, 143, 'sleep killed by SIGTERM');
  await assertGone(t, pod);
});

vmTest.serial('masked and read-only paths as with coreos, and enter runs a command exactly as its app runs', async (t) => {
  const image = await busyboxImage();
  // the mount options of the mount at a path, as the process sees it (none: not a mount point)
  const mountOpts = (who: string, path: string) => `awk -v w="${who} ${path}" '$5 == "${path}" { o = " " $6 } END { print w o }' /proc/self/mountinfo`;
  const waitForStop = `trap 'exit 0' TERM; while :; do sleep 1; done`;
  const main = [
    'test -c /proc/kcore && echo main kcore-masked',
    'echo main sys-fs-entries $(ls -A /sys/fs | wc -l)',
    mountOpts('main', '/proc/sysrq-trigger'),
    'echo main ready',
    waitForStop,
  ].join('; ');
  const custom = [
    'test -c /proc/kcore || echo custom kcore-visible',
    'echo custom version-bytes $(wc -c < /proc/version)',
    'echo custom sys-kernel-entries $(ls -A /sys/kernel | wc -l)',
    'echo custom etc $(touch /etc/new 2>&1 | grep -o "Read-only file system")',
    mountOpts('custom', '/proc/sysrq-trigger'),
    'echo custom ready',
    waitForStop,
  ].join('; ');
  const pod = await makePod(t, aci, [
    { name: 'main', image, runtime: { app: { exec: ['/bin/sh', '-c', main], user: 'user', group: 'user', supplementaryGIDs: [1001] } } },
    {
      name: 'custom',
      image,
      runtime: {
        app: { exec: ['/bin/sh', '-c', custom], user: '0', group: '0', isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'] } }] },
        annotations: [
          { name: ANNOTATION_APP_MASKED_PATHS, value: formatPathList(['/proc/version', '/does/not/exist', '/sys/kernel']) },
          { name: ANNOTATION_APP_READONLY_PATHS, value: formatPathList(['/etc']) },
        ],
      },
    },
  ]);
  const run = startEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  await waitFor('the apps to start', () => (run.stdout().includes('main ready') && run.stdout().includes('custom ready') ? true : undefined), 60_000);
  const lines = run.stdout().trim().split('\n');
  const of = (who: string) => lines.filter((l) => l.startsWith(`${who} `) && !l.endsWith(' ready'));
  const mainLines = of('main');
  t.deepEqual(mainLines.slice(0, 2), ['main kcore-masked', 'main sys-fs-entries 0'], 'default masks: a file gets /dev/null, a directory an empty tmpfs');
  t.regex(mainLines[2] ?? '', /^main \/proc\/sysrq-trigger ro,/, 'default read-only paths');
  t.deepEqual(of('custom'), [
    'custom kcore-visible',
    'custom version-bytes 0',
    'custom sys-kernel-entries 0',
    'custom etc Read-only file system',
    'custom /proc/sysrq-trigger',
  ], 'the annotations replace the defaults; a missing path is skipped');

  const ppid = readPpid(pod)!;
  const probe = `id -u; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t ' ' '; test -c /proc/kcore && echo kcore-masked; wc -c < /proc/version`;
  const enter = (app: string) => runEntrypoint(pod, 'enter', [`--pid=${ppid}`, `--appname=${app}`, '--', '/bin/sh', '-c', probe], { lock: false });
  const hex = (n: bigint) => n.toString(16).padStart(16, '0');
  const defaultBnd = hex(capabilityMask({ exec: ['x'], user: '0', group: '0' }, false)!);
  const em = await enter('main');
  t.is(em.code, 0, em.stderr);
  const versionBytes = em.stdout.trim().split('\n').at(-1)!;
  t.not(versionBytes, '0', '/proc/version is only masked in custom');
  t.is(em.stdout, `1000\n1000 1001\nCapEff: 0000000000000000\nCapBnd: ${defaultBnd}\nNoNewPrivs: 1\nSeccomp: 2\nkcore-masked\n${versionBytes}\n`, 'the app\'s ids, groups, capabilities, no_new_privs, filter and masks');
  const ec = await enter('custom');
  t.is(ec.code, 0, ec.stderr);
  t.is(ec.stdout, '0\n0\nCapEff: 0000000000000401\nCapBnd: 0000000000000401\nNoNewPrivs: 0\nSeccomp: 2\n0\n', 'root with the retained capabilities only');

  const s = await runEntrypoint(pod, 'stop', [pod.uuid], { lock: false });
  t.is(s.code, 0, s.stderr);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  await assertGone(t, pod);
});

vmTest.serial('run --interactive: the host stdin reaches the app, and its end is the app\'s end of file', async (t) => {
  const pod = await podWith(t, 'cat; echo done');
  const r = await runEntrypoint(pod, 'run', ['--net=none', '--interactive', pod.uuid], { input: 'line one\nline two\n' });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'line one\nline two\ndone\n');
  await assertGone(t, pod);
});

vmTest.serial('run: output to a regular file moves the caller\'s offset (later writes append)', async (t) => {
  const pod = await podWith(t, 'echo from the app; exit 0');
  const out = join(pod.dataDir, 'out.txt');
  const script = `{ echo before; exec 9<"$1"; flock -x -n 9 || exit 251; RKT_LOCK_FD=9 "$2" --net=none "$3"; echo "status $?"; echo after; } > "${out}" 2>&1`;
  const { runCommand } = await import('@rktnetes/testkit');
  const r = await runCommand('sh', ['-c', script, 'sh', pod.dir, join(pod.stage1Rootfs, 'run'), pod.uuid], { cwd: pod.dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  t.is(r.code, 0, r.stderr);
  t.is(readFileSync(out, 'utf8'), 'before\nfrom the app\nstatus 0\nafter\n');
  await assertGone(t, pod);
});

vmTest.serial('a pod of three apps: users, read-only root, seccomp filters; the first failure stops the others and is the pod\'s status', async (t) => {
  const image = await busyboxImage();
  // the filters are the ones stage1-coreos would install: a profile annotation (writer), a
  // remove set as `--seccomp mode=remove,errno=EACCES,mkdir,mkdirat` makes it (waiter), rkt's
  // default whitelist (early); no_new_privs by rkt's rule, or as the isolator says (early: off,
  // so its filter is installed before its uid changes)
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 }] };
  const writer = `id -u > /shared/who; echo "writer runs as $(id -u):$(id -g)"; echo "writer chmod: $(chmod 600 /shared/who 2>&1 | grep -o 'No space left on device')"; ${secStatus('writer')}; sleep 1; exit 4`;
  const waiter = `touch /rootfile 2>/dev/null && echo root-writable || echo root-read-only; echo "waiter mkdir: $(mkdir /dev/shm/x 2>&1 | grep -o 'Permission denied')"; ${secStatus('waiter')}; trap 'echo waiter stopped; exit 0' TERM; while :; do sleep 1; done`;
  const early = `${secStatus('early')}; mkdir /dev/shm/y && echo early mkdir ok`;
  const pod = await makePod(
    t,
    aci,
    [
      {
        name: 'writer',
        image,
        runtime: {
          app: { exec: ['/bin/sh', '-c', writer], user: 'user', group: '1000' },
          mounts: [{ volume: 'shared', path: '/shared' }],
          annotations: [{ name: ANNOTATION_APP_SECCOMP_PROFILE, value: JSON.stringify(profile) }],
        },
      },
      {
        name: 'waiter',
        image,
        runtime: {
          app: { exec: ['/bin/sh', '-c', waiter], user: '0', group: '0', isolators: [{ name: 'os/linux/seccomp-remove-set', value: { set: ['mkdir', 'mkdirat'], errno: 'EACCES' } }] },
          readOnlyRootFS: true,
        },
      },
      { name: 'early', image, runtime: { app: { exec: ['/bin/sh', '-c', early], user: 'user', group: 'user', isolators: [{ name: 'os/linux/no-new-privileges', value: false }] } } },
    ],
    { volumes: [{ name: 'shared', kind: 'empty', uid: 1000, gid: 1000, mode: '0700' }] },
  );
  const r = await runEntrypoint(pod, 'run', ['--net=none', pod.uuid]);
  t.is(r.code, 4, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n').sort(), [
    'early NoNewPrivs:0 Seccomp:2',
    'early mkdir ok',
    'root-read-only',
    'waiter NoNewPrivs:0 Seccomp:2',
    'waiter mkdir: Permission denied',
    'waiter stopped',
    'writer NoNewPrivs:1 Seccomp:2',
    'writer chmod: No space left on device',
    'writer runs as 1000:1000',
  ]);
  t.is(readFileSync(join(pod.stage1Rootfs, 'rkt/status/writer'), 'utf8'), '4\n');
  t.is(readFileSync(join(pod.stage1Rootfs, 'rkt/status/waiter'), 'utf8'), '0\n');
  t.is(readFileSync(join(pod.stage1Rootfs, 'rkt/status/early'), 'utf8'), '0\n');
  const who = join(pod.dir, 'sharedVolumes', 'shared', 'who');
  t.is(readFileSync(who, 'utf8'), '1000\n');
  t.is(statSync(who).uid, 1000, 'files the app creates belong to its user on the host');
  await assertGone(t, pod);
});

vmTest.serial('run: refuses host networking, and none with other networks', async (t) => {
  const pod = await podWith(t, 'exit 0');
  const host = await runEntrypoint(pod, 'run', ['--net=host', pod.uuid]);
  t.is(host.code, 254);
  t.regex(host.stderr, /cannot use the host network/);
  const mixed = await runEntrypoint(pod, 'run', ['--net=none,default', pod.uuid]);
  t.is(mixed.code, 254);
  t.regex(mixed.stderr, /--net=none cannot be combined with other networks/);
  t.false(existsSync(`/run/netns/rkt-${pod.uuid}`), 'no network namespace was made');
});
