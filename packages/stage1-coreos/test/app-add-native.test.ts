/**
 * The native app/add (src/run-native/add.c): the same apps added natively and through the Node
 * implementation (`RKTNETES_STAGE1_RUN=node`) to two mutable pods must leave the same spec, env
 * file, seccomp program, cgroups and hosts file, give the same exit statuses and stderr lines,
 * and once started the apps must see the same isolation; what the native program does not
 * handle goes to the Node implementation, which then does the job or reports what it reports.
 * Privileged: real pods as root.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podManifestPath } from '@rktnetes/common';
import { parsePodManifest, serializePodManifest } from '@rktnetes/schema';
import { assertNoLeaks, hasBusybox, isRoot, leakCheck, testIf, tmpDir } from '@rktnetes/testkit';
import { comparableStderr, crossing, podApps, stageApp, startMutablePod, type Ran, type Way } from './helpers/app-native';
import { runEntrypoint, waitFor, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

/** What the app prints once started: how it sees its identity, filesystem and confinement. */
const PROBE = [
  'id',
  'hostname',
  'pwd',
  'env | sort',
  'grep -E "^(Cap|Seccomp|NoNewPrivs)" /proc/self/status',
  'ls /dev /dev/pts /dev/shm',
  'cat /etc/hosts /etc/hostname',
  'cat /etc/resolv.conf 2>&1; (echo x >> /etc/resolv.conf) 2>&1',
  'cat /proc/self/cgroup | sed "s/rkt-[0-9a-f-]*/rkt-UUID/"',
  "awk '{print $5, $6}' /proc/self/mountinfo | sort",
  '(touch /probe-rw && echo rw) 2>&1 || echo ro',
  'cat /proc/kcore 2>&1 | head -c 80; echo',
  '[ $$ = 1 ] && echo pid-1 || echo not-pid-1',
].join('; ');

type Image = Parameters<typeof stageApp>[2];
type RuntimeAppInput = Parameters<typeof stageApp>[1];

/** One app added to the pod, with the argv and environment of its app_add. */
interface Add {
  ra: RuntimeAppInput;
  image: Image;
  args?: (uuid: string) => string[];
  env?: Record<string, string>;
  /** start it and compare what it prints */
  start?: boolean;
  /** stage it (default), or leave the manifest as it is */
  stage?: boolean;
  /** run before the app_add; what it returns after it */
  around?: (pod: TestPod) => () => void;
}

const addArgv = (app: string, debug = true) => (uuid: string) => [`--debug=${debug}`, `--uuid=${uuid}`, `--app=${app}`];

/** What an add left, comparable between two pods. */
interface Outcome {
  app: string;
  code: number;
  stderr: string[];
  spec?: string;
  env?: string;
  seccomp?: string;
  cgroups: string[];
  hosts: string;
  /** PID 1's `list` after the add: app:state:status */
  apps: string[];
  /** what the app printed once started (timestamps left out) */
  output?: string[];
}

const list = podApps;

const norm = (pod: TestPod, s: string) => s.replaceAll(pod.dir, '<pod>').replaceAll(pod.uuid, '<uuid>');
const readOr = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);

/** The app's cgroups: each pod cgroup's child for the app, with its v1 device list. */
function appCgroups(pod: TestPod, app: string): string[] {
  const rc = JSON.parse(readFileSync(join(pod.dir, 'runtime-config'), 'utf8')) as { cgroups: string[] };
  return rc.cgroups.map((d) => {
    const dir = join(d, app);
    if (!existsSync(dir)) return `${norm(pod, dir)}: missing`;
    const devices = readOr(join(dir, 'devices.list'));
    return `${norm(pod, dir)}${devices === undefined ? '' : `: ${devices.trim().split('\n').join(',')}`}`;
  });
}

/** Comparable stderr: the choice lines dropped (helpers), the graft's pid of PID 1 replaced. */
const stderrOf = (pod: TestPod, r: Ran) =>
  comparableStderr(pod, r.stderr)
    .filter((l) => !/^stage1: app_add: (native|node fallback \(.*\))$/.test(l))
    .map((l) => l.replace(/^stage1: graft: graft \d+ /, 'stage1: graft: graft <pid1> '));

async function outcome(pod: TestPod, app: string, r: Ran, start: boolean): Promise<Outcome> {
  const s1 = pod.stage1Root;
  const spec = readOr(join(s1, 'rkt/spec', app));
  const env = readOr(join(s1, 'rkt/env', app));
  const bpf = join(s1, 'rkt/seccomp', `${app}.bpf`);
  const o: Outcome = {
    app,
    code: r.code,
    stderr: stderrOf(pod, r),
    ...(spec !== undefined ? { spec: norm(pod, spec) } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(existsSync(bpf) ? { seccomp: createHash('sha256').update(readFileSync(bpf)).digest('hex') } : {}),
    cgroups: appCgroups(pod, app),
    hosts: norm(pod, readFileSync(join(s1, 'etc/hosts-fallback'), 'utf8')),
    apps: await list(pod),
  };
  if (start && r.code === 0) {
    const s = await crossing(pod, 'app_start', ['--debug=false', `--app=${app}`]);
    if (s.code !== 0) throw new Error(`app_start ${app}: ${s.stderr}`);
    await waitFor(`${app} exits`, () => (existsSync(join(s1, 'rkt/status', app)) ? true : undefined));
    o.output = readFileSync(join(s1, 'rkt/log', app), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => norm(pod, l.replace(/^\S+ /, '')));
  }
  return o;
}

/** Adds `adds` one by one to a fresh mutable pod run with `runArgs`, the `way` given. */
async function scenario(t: ExecutionContext, way: Way, runArgs: string[], adds: (logDir: string) => Add[], podAnnotations: RuntimeAppInput['annotations'] = []): Promise<{ out: Outcome[]; runs: Ran[]; pod: TestPod; logDir: string }> {
  const mp = await startMutablePod(t, runArgs);
  const { pod } = mp;
  if (podAnnotations?.length) {
    // as the CRI's sandboxes have them (run read them already; app/add does not)
    const m = parsePodManifest(readFileSync(podManifestPath(pod.dir)));
    m.annotations = [...(m.annotations ?? []), ...podAnnotations];
    writeFileSync(podManifestPath(pod.dir), serializePodManifest(m));
  }
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const logDir = await tmpDir('s1coreos-add', t);
  const out: Outcome[] = [];
  const runs: Ran[] = [];
  for (const a of adds(logDir)) {
    if (a.stage !== false) await stageApp(pod, a.ra, a.image);
    const after = a.around?.(pod);
    const r = await crossing(pod, 'app_add', (a.args ?? addArgv(a.ra.name))(pod.uuid), { way, ...(a.env ? { env: a.env } : {}) });
    after?.();
    runs.push(r);
    const o = await outcome(pod, a.ra.name, r, a.start ?? false);
    out.push({ ...o, stderr: o.stderr.map((l) => l.replaceAll(logDir, '<logs>')), ...(o.spec ? { spec: o.spec.replaceAll(logDir, '<logs>') } : {}) });
  }
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await mp.run.done).code, 0);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
  return { out, runs, pod, logDir };
}

async function bothWays(t: ExecutionContext, runArgs: string[], adds: (logDir: string) => Add[], podAnnotations?: RuntimeAppInput['annotations']) {
  const native = await scenario(t, 'native', runArgs, adds, podAnnotations);
  const node = await scenario(t, 'node', runArgs, adds, podAnnotations);
  t.is(native.out.length, node.out.length);
  for (let i = 0; i < node.out.length; i++) t.deepEqual(native.out[i], node.out[i], `add ${i}: ${node.out[i]!.app}`);
  return { native, node };
}

const probe = (over: Record<string, unknown> = {}): Image => ({ exec: ['/bin/sh', '-c', PROBE], app: over });

it('common apps: the same spec, files, cgroups and isolation natively and through Node', async (t) => {
  const { native, node } = await bothWays(t, ['--net=none', '--hostname=mutant'], (logs) => [
    {
      ra: {
        name: 'probe',
        annotations: [
          { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
          { name: 'rktnetes.io/stage2/stdin-once', value: 'true' },
          { name: 'rktnetes.io/stage2/log-path', value: join(logs, 'deep/er/probe.log') },
        ],
      },
      image: probe(),
      start: true,
    },
    {
      ra: { name: 'user', readOnlyRootFS: true, annotations: [{ name: 'coreos.com/rkt/stage2/stderr', value: 'null' }] },
      image: probe({ user: 'user', group: 'extra', supplementaryGIDs: [5, 1000], workingDirectory: '/tmp', environment: [{ name: 'FOO', value: 'a b\\c' }, { name: 'PATH', value: '/bin' }] }),
      args: (uuid) => ['-debug', '--uuid', uuid, '--app', 'user', '--disable-seccomp=true'],
      start: true,
    },
    { ra: { name: 'quiet' }, image: probe(), args: addArgv('quiet', false), start: true },
    // the same app again: PID 1 refuses it (after the files were written, both ways)
    { ra: { name: 'quiet' }, image: probe(), args: addArgv('quiet', false), stage: false },
  ]);
  const at = (i: number) => native.out[i]!;
  t.is(at(0).code, 0, at(0).stderr.join('\n'));
  t.true(at(0).apps.includes('probe:created:-1'), at(0).apps.join(' '));
  t.deepEqual(at(0).output?.[0], 'stdout F uid=0(root) gid=0(root) groups=0(root)');
  t.regex(at(0).spec ?? '', /\nstdin stream\nstdout log\nstderr log\nstdin-once 1\nextlog \/rkt\/log-ext\/probe\/probe.log\nend\n$/);
  t.true(existsSync(join(native.pod.stage1Root, 'rkt/log-ext/probe')));
  t.deepEqual(at(0).stderr, ['stage1: graft: graft <pid1> <pod>/stage1/rootfs/opt/stage2/probe/rootfs /opt/stage2/probe/rootfs <logs>/deep/er /rkt/log-ext/probe', 'stage1: app probe added']);
  t.true(at(1).output?.includes('stdout F ro'), at(1).output?.join('\n'));
  t.true(at(1).output?.includes('stdout F uid=1000(user) gid=1001(extra) groups=5,1000(user),1001(extra)'), at(1).output?.join('\n'));
  t.is(at(1).seccomp, undefined);
  t.is(at(2).code, 0);
  t.is(at(3).code, 254);
  t.is(at(3).stderr.length, 1, at(3).stderr.join('\n'));
  // the native program did the adds itself
  for (let i = 0; i < 3; i++) t.notRegex(native.runs[i]!.stderr, /node fallback/, native.runs[i]!.stderr);
  t.regex(native.runs[0]!.stderr, /^stage1: app_add: native$/m);
  t.regex(node.runs[0]!.stderr, /^stage1: app_add: node fallback \(RKTNETES_STAGE1_RUN=node\)$/m);
  // the log went to the extra file too, through the grafted directory
  t.regex(readFileSync(join(native.logDir, 'deep/er/probe.log'), 'utf8'), /^\S+ stdout F uid=0\(root\)/m);
});

it('a pod run with --disable-paths and --disable-capabilities-restriction, host network: the same both ways', async (t) => {
  const { native } = await bothWays(t, ['--net=host', '--disable-paths', '--disable-capabilities-restriction=1'], () => [
    { ra: { name: 'wide', annotations: [{ name: 'coreos.com/rkt/stage2/stdout', value: 'stream' }] }, image: probe(), start: true },
  ]);
  t.is(native.out[0]!.code, 0, native.out[0]!.stderr.join('\n'));
  t.notRegex(native.out[0]!.spec ?? '', /\nmask /);
  t.regex(native.runs[0]!.stderr, /^stage1: app_add: native$/m);
});

/** What the native program leaves to Node: Node then adds the app, or reports what is wrong. */
interface Fallback {
  title: string;
  reason: RegExp;
  add: Add;
  code: number;
}

const FALLBACK: Fallback[] = [
  { title: 'an invalid stdio mode (Node reports it)', reason: /stdio mode bogus/, add: { ra: { name: 'bogus', annotations: [{ name: 'coreos.com/rkt/stage2/stdout', value: 'bogus' }] }, image: probe() }, code: 254 },
  { title: 'a tty on stdin only (Node reports it)', reason: /tty/, add: { ra: { name: 'halftty', annotations: [{ name: 'coreos.com/rkt/stage2/stdin', value: 'tty' }] }, image: probe() }, code: 254 },
  { title: 'a relative log path (Node reports it)', reason: /log path/, add: { ra: { name: 'rel', annotations: [{ name: 'rktnetes.io/stage2/log-path', value: 'x.log' }] }, image: probe() }, code: 254 },
  { title: 'an app not in the manifest (Node reports it)', reason: /not in the pod manifest/, add: { ra: { name: 'ghost' }, image: probe(), stage: false }, code: 254 },
  { title: 'a user missing from the image (Node reports it)', reason: /not found/, add: { ra: { name: 'nouser' }, image: probe({ user: 'ghost' }) }, code: 254 },
  { title: '--private-users (Node reports it)', reason: /--private-users/, add: { ra: { name: 'pu' }, image: probe(), args: (u) => ['--debug', `--uuid=${u}`, '--app=pu', '--private-users=65536:65536'] }, code: 254 },
  { title: 'a missing --uuid (Node reports it)', reason: /missing --uuid/, add: { ra: { name: 'nouuid' }, image: probe(), args: () => ['--debug', '--app=nouuid'] }, code: 254 },
  { title: 'an unknown flag (Node reports it)', reason: /unknown flag/, add: { ra: { name: 'flag' }, image: probe(), args: (u) => ['--debug', `--uuid=${u}`, '--app=flag', '--bogus'] }, code: 254 },
  // in the image: the pod's later apps are not concerned
  { title: 'an isolator', reason: /isolators/, add: { ra: { name: 'iso' }, image: probe({ isolators: [{ name: 'resource/memory', value: { limit: '64M' } }] }) }, code: 0 },
  { title: 'a seccomp filter of its own', reason: /isolators \(os\/linux\/seccomp-retain-set\)/, add: { ra: { name: 'filter' }, image: probe({ isolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all', 'read'] } }] }) }, code: 0 },
  { title: 'an image created at no valid time (Node reports it)', reason: /annotation created/, add: { ra: { name: 'created' }, image: { ...probe(), annotations: { created: '2024-13-01T00:00:00Z' } } }, code: 254 },
  { title: 'an invalid pid namespace (Node reports it)', reason: /pid namespace/, add: { ra: { name: 'pidns', annotations: [{ name: 'rktnetes.io/stage2/pid-namespace', value: 'host' }] }, image: probe() }, code: 254 },
  { title: 'a rktnetes.io annotation it does not apply', reason: /annotation rktnetes\.io\/stage2\/masked-paths/, add: { ra: { name: 'masked', annotations: [{ name: 'rktnetes.io/stage2/masked-paths', value: '["/proc/kcore"]' }] }, image: probe() }, code: 0 },
];

it('what the native app/add does not handle: Node adds the app or reports it, both ways alike', async (t) => {
  const { native, node } = await bothWays(t, ['--net=none'], () => FALLBACK.map((c) => c.add));
  FALLBACK.forEach((c, i) => {
    const r = native.runs[i]!;
    t.is(native.out[i]!.code, c.code, `${c.title}: ${r.stderr}`);
    t.regex(/^stage1: app_add: node fallback \((.*)\)$/m.exec(r.stderr)?.[1] ?? '', c.reason, `${c.title}: ${r.stderr}`);
    t.notRegex(r.stderr, /^stage1: app_add: native$/m);
    t.is(node.out[i]!.code, c.code);
  });
});

/** The isolators and annotations the CRI gives a container by default (no seccomp profile, no_new_privs unset, its own pid namespace). */
const CRI_ISOLATORS = [
  { name: 'os/linux/no-new-privileges', value: false },
  { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } },
];

it('CRI containers (seccomp unconfined, no_new_privs, own pid namespace, a sandbox annotation): the same both ways', async (t) => {
  const app = (over: Record<string, unknown>) => ({ exec: ['/bin/sh', '-c', PROBE], user: '0', group: '0', ...over });
  const { native } = await bothWays(
    t,
    ['--net=none'],
    (logs) => [
      {
        ra: {
          name: 'cri',
          app: app({ user: '1000', group: '1000', isolators: CRI_ISOLATORS }),
          annotations: [
            { name: 'rktnetes.io/stage2/pid-namespace', value: 'private' },
            { name: 'rktnetes.io/stage2/log-path', value: join(logs, 'cri/0.log') },
          ],
        },
        image: probe(),
        start: true,
      },
      { ra: { name: 'nnp', app: app({ isolators: [{ name: 'os/linux/no-new-privileges', value: true }] }) }, image: probe(), start: true },
      // an earlier app's rktnetes.io annotations are not the later ones' business
      { ra: { name: 'masked', annotations: [{ name: 'rktnetes.io/stage2/masked-paths', value: '["/proc/kcore"]' }] }, image: probe() },
      // an image converted from Docker: `created` (checked as the schema checks it)
      { ra: { name: 'later', annotations: [{ name: 'rktnetes.io/stage2/pid-namespace', value: 'pod' }] }, image: { ...probe(), annotations: { created: '2024-02-29T23:59:60.5+01:00' } }, start: true },
    ],
    [{ name: 'rktnetes.io/cri/sandbox-id', value: 'abc' }],
  );
  const at = (i: number) => native.out[i]!;
  for (const i of [0, 1, 3]) {
    t.is(at(i).code, 0, at(i).stderr.join('\n'));
    t.regex(native.runs[i]!.stderr, /^stage1: app_add: native$/m, native.runs[i]!.stderr);
  }
  t.regex(native.runs[2]!.stderr, /^stage1: app_add: node fallback \(pod manifest: annotation rktnetes\.io\/stage2\/masked-paths\)$/m);
  t.is(at(0).seccomp, undefined);
  t.regex(at(0).spec ?? '', /\nnnp 0\npidns private\nenv /);
  t.true(at(0).output?.includes('stdout F pid-1'), at(0).output?.join('\n'));
  t.true(at(0).output?.includes('stdout F NoNewPrivs:\t0'), at(0).output?.join('\n'));
  t.true(at(1).output?.includes('stdout F NoNewPrivs:\t1'), at(1).output?.join('\n'));
  t.true(at(1).output?.includes('stdout F Seccomp:\t2'), at(1).output?.join('\n'));
  t.true(at(3).output?.includes('stdout F not-pid-1'), at(3).output?.join('\n'));
});

it('pods run with --dns-conf-mode resolv=host or resolv=stage0, as the CRI runs sandboxes: the same both ways', async (t) => {
  const stage0Resolv = (pod: TestPod) => {
    writeFileSync(join(pod.stage1Root, 'etc/rkt-resolv.conf'), 'nameserver 192.0.2.53\nsearch example.com\n');
    return () => {};
  };
  const host = await bothWays(t, ['--net=none', '--dns-conf-mode=resolv=host'], () => [{ ra: { name: 'host' }, image: probe(), start: true }]);
  t.regex(host.native.runs[0]!.stderr, /^stage1: app_add: native$/m);
  t.true(host.native.out[0]!.output?.some((l) => /Read-only file system/.test(l)), host.native.out[0]!.output?.join('\n'));
  const stage0 = await bothWays(t, ['--net=none', '--dns-conf-mode=hosts=default,resolv=stage0'], () => [
    // stage0 wrote none: a warning, the app keeps its own
    { ra: { name: 'none' }, image: probe(), start: true },
    { ra: { name: 'some' }, image: probe(), start: true, around: stage0Resolv },
  ]);
  t.deepEqual(stage0.native.out[0]!.stderr, [`stage1: warning: --dns-conf-mode=resolv=stage0 but stage0 wrote no <pod>/stage1/rootfs/etc/rkt-resolv.conf, apps keep their own /etc/resolv.conf`, 'stage1: graft: graft <pid1> <pod>/stage1/rootfs/opt/stage2/none/rootfs /opt/stage2/none/rootfs', 'stage1: app none added']);
  t.true(stage0.native.out[1]!.output?.includes('stdout F nameserver 192.0.2.53'), stage0.native.out[1]!.output?.join('\n'));
  for (const r of stage0.native.runs) t.regex(r.stderr, /^stage1: app_add: native$/m);
  const hosts = await scenario(t, 'native', ['--net=none', '--dns-conf-mode=resolv=host,hosts=host'], () => [{ ra: { name: 'hosts' }, image: probe() }]);
  t.is(hosts.out[0]!.code, 0);
  t.regex(hosts.runs[0]!.stderr, /^stage1: app_add: node fallback \(a pod run with --dns-conf-mode=hosts=host\)$/m);
});

it('a graft that fails (no such PID 1): the same error both ways', async (t) => {
  // the pid file as stage0 reads it for RKT_STAGE1_ENTERPID, restored for stop and gc
  const around = (pod: TestPod) => {
    const path = join(pod.dir, 'pid');
    const saved = readFileSync(path);
    writeFileSync(path, '999999999\n');
    return () => writeFileSync(path, saved);
  };
  const { native } = await bothWays(t, ['--net=none'], () => [{ ra: { name: 'nopid' }, image: probe(), around, args: addArgv('nopid', false) }]);
  t.is(native.out[0]!.code, 254);
  t.regex(native.out[0]!.stderr.join('\n'), /^stage1: cannot attach the mounts of the app in the pod: /m);
  t.is(native.runs[0]!.stderr.split('\n').filter(Boolean).length, 1, native.runs[0]!.stderr);
});

it('app_add of an app the pod has already is refused both ways, and leaves that app as it was', async (t) => {
  const { pod } = await startMutablePod(t);
  await stageApp(pod, { name: 'twice' }, { exec: ['/bin/sleep', '3600'] });
  const first = await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, '--app=twice']);
  t.is(first.code, 0, first.stderr);
  const spec = readFileSync(join(pod.stage1Root, 'rkt/spec/twice'), 'utf8');
  for (const way of ['native', 'node'] as const) {
    const again = await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, '--app=twice'], { way });
    t.is(again.code, 254, `${way}: ${again.stderr}`);
    t.is(again.stderr.trim(), `stage1: app twice is already in pod ${pod.uuid}`, way);
    t.is(readFileSync(join(pod.stage1Root, 'rkt/spec/twice'), 'utf8'), spec, `${way}: the spec is untouched`);
  }
});
