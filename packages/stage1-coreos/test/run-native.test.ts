/**
 * The native run (src/run-native): for every pod it runs itself, it must leave exactly what the
 * Node run leaves (init spec, stage1 files, runtime-config, subcgroup, cgroups) and give the app
 * the same view of itself; every other pod must still run, through the Node run; errors must
 * read the same. Privileged: real pods as root, each followed by gc and a leak check.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoLeaks, hasBusybox, isRoot, leakCheck, parseProbeOutput, testIf, type ProbeReport } from '@rktnetes/testkit';
import { preparePod, readPid, runEntrypoint, waitFor, type TestApp, type TestPod } from './helpers/pod';
import { runAndGc, runParity, runPodWith, type PodSnapshot } from './helpers/run-native';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

/** What the app reports about itself, without what differs between two pods by nature. */
function isolation(p: ProbeReport, pod: TestPod) {
  return {
    uid: p.uid,
    euid: p.euid,
    gid: p.gid,
    groups: p.groups,
    caps: p.caps,
    noNewPrivs: p.noNewPrivs,
    seccomp: p.seccomp,
    hostname: p.hostname.replaceAll(pod.uuid, '<uuid>'),
    cwd: p.cwd,
    umask: p.umask,
    env: p.env,
    mounts: p.mounts.map((m) => `${m.target} ${m.fstype} ${m.options.filter((o) => !/^(size|nr_inodes|inode64)/.test(o)).join(',')}`),
    cgroups: p.cgroups,
  };
}

/** Compares the two snapshots field by field (clearer failures than one deepEqual). */
function same(t: { deepEqual(a: unknown, b: unknown, m?: string): unknown }, native: PodSnapshot, node: PodSnapshot): void {
  for (const k of Object.keys(node) as Array<keyof PodSnapshot>) t.deepEqual(native[k], node[k], `${k} differs`);
}

/** The pod manifest rewritten with every non-ASCII character and `/` as JSON escapes. */
function escapeManifest(pod: TestPod): void {
  const text = readFileSync(join(pod.dir, 'pod'), 'utf8');
  const escaped = text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replaceAll('/', '\\/');
  writeFileSync(join(pod.dir, 'pod'), `\n\t ${escaped}  \r\n`);
}

const PARITY: Array<{ title: string; apps: TestApp[]; args?: string[]; tweak?: (pod: TestPod) => void }> = [
  { title: 'one root app, --net=host', apps: [{ name: 'probe' }] },
  { title: 'one root app, --net=none', apps: [{ name: 'probe' }], args: ['--net=none'] },
  { title: 'non-root numeric user, supplementary gids', apps: [{ name: 'probe', image: { app: { user: '1000', group: '1000', supplementaryGIDs: [5, 1000, 1001] } } }], args: ['--net=none'] },
  { title: 'named user and group from the image', apps: [{ name: 'probe', image: { app: { user: 'user', group: 'extra' } } }], args: ['--net=none'] },
  {
    title: 'image environment, working directory, program found in PATH',
    apps: [{ name: 'probe', image: { exec: ['probe'], app: { workingDirectory: '/tmp', environment: [{ name: 'PATH', value: '/nowhere:/' }, { name: 'FOO', value: 'a b\\c' }, { name: 'HOME', value: '/h' }] } } }],
    args: ['--net=none'],
  },
  {
    title: 'the runtime app overrides the image app, read-only root',
    apps: [{ name: 'probe', runtime: { readOnlyRootFS: true, app: { exec: ['/probe'], user: 'nobody', group: '0', environment: [{ name: 'AC_APP_NAME', value: 'x' }] } } }],
    args: ['--net=none'],
  },
  {
    title: 'two apps',
    // the second reports after the first, so that the two reports do not interleave
    apps: [{ name: 'one' }, { name: 'two', image: { exec: ['/bin/sh', '-c', 'sleep 0.5; exec /probe'], app: { user: '1000', group: '1000' } } }],
    args: ['--net=none'],
  },
  { title: '--hostname and --ipc=parent', apps: [{ name: 'probe' }], args: ['--net=host', '--hostname=native-test', '--ipc=parent'] },
  { title: '--disable-capabilities-restriction', apps: [{ name: 'probe' }], args: ['--net=none', '--disable-capabilities-restriction'] },
  { title: '--disable-paths', apps: [{ name: 'probe' }], args: ['--net=none', '--disable-paths'] },
  { title: '--disable-seccomp, non-root', apps: [{ name: 'probe', image: { app: { user: '1000', group: '1000' } } }], args: ['--net=none', '--disable-seccomp=true'] },
  { title: 'Go flag forms: -net none, --debug=1', apps: [{ name: 'probe' }], args: ['-net', 'none', '--debug=1'] },
  {
    title: 'JSON escapes in the manifest: \\u, surrogate pairs, \\/, blanks around the document',
    apps: [{ name: 'probe', runtime: { app: { exec: ['/probe'], user: '0', group: '0', supplementaryGIDs: [7], environment: [{ name: 'UNI', value: 'café 😀 "q"\ttab\\' }] } } }],
    args: ['--net=none'],
    tweak: escapeManifest,
  },
];

for (const c of PARITY) {
  it(`parity: ${c.title}`, async (t) => {
    const { native, node } = await runParity(t, c.apps, c.args ?? ['--net=host'], c.tweak);
    t.regex(native.stderr, /^stage1: run: native$/m, native.stderr);
    t.regex(node.stderr, /^stage1: run: node fallback \(RKTNETES_STAGE1_RUN=node\)$/m, node.stderr);
    t.is(native.code, 0, native.stderr);
    same(t, native.snap, node.snap);
    // the probe's own report: every app prints one
    const reports = (r: typeof native) => r.stdout.split(/(?=^probe\.version=)/m).filter((s) => s.startsWith('probe.version=')).map((s) => isolation(parseProbeOutput(s), r.pod));
    const nat = reports(native).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const nod = reports(node).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    t.is(nat.length, c.apps.length);
    t.deepEqual(nat, nod);
  });
}

const FALLBACK: Array<{ title: string; reason: RegExp; apps: TestApp[]; args?: string[]; manifest?: Record<string, unknown>; env?: Record<string, string>; code?: number }> = [
  {
    title: 'a volume',
    reason: /volumes/,
    apps: [{ name: 'probe', runtime: { mounts: [{ volume: 'data', path: '/data' }] } }],
    manifest: { volumes: [{ name: 'data', kind: 'empty' }] },
  },
  { title: 'an isolator', reason: /isolators/, apps: [{ name: 'probe', image: { app: { isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } }] } } }] },
  { title: 'an event handler', reason: /eventHandlers/, apps: [{ name: 'probe', image: { app: { eventHandlers: [{ name: 'pre-start', exec: ['/bin/true'] }] } } }] },
  { title: 'a rktnetes.io annotation', reason: /annotation rktnetes\.io/, apps: [{ name: 'probe', runtime: { annotations: [{ name: 'rktnetes.io/stage2/masked-paths', value: '["/proc/kcore"]' }] } }] },
  { title: 'a pod isolator', reason: /isolators/, apps: [{ name: 'probe' }], manifest: { isolators: [{ name: 'os/unix/sysctl', value: { 'kernel.msgmax': '9000' } }] } },
  { title: '--dns-conf-mode', reason: /--dns-conf-mode/, apps: [{ name: 'probe' }], args: ['--net=host', '--dns-conf-mode=resolv=host,hosts=default'] },
  { title: 'a named user missing from the image (the Node run reports it)', reason: /not found/, apps: [{ name: 'probe', image: { app: { user: 'ghost' } } }], code: 254 },
  { title: 'RKT_SELINUX_CONTEXT', reason: /RKT_SELINUX_CONTEXT/, apps: [{ name: 'probe' }], env: { RKT_SELINUX_CONTEXT: 'system_u:system_r:svirt_lxc_net_t:s0' }, code: undefined },
  { title: 'a network other than none and host (the Node run reports it)', reason: /--net=nosuchnet/, apps: [{ name: 'probe' }], args: ['--net=nosuchnet'], code: 254 },
  { title: 'an unknown flag (the Node run reports it)', reason: /unknown flag/, apps: [{ name: 'probe' }], args: ['--net=host', '--no-such-flag'], code: 254 },
];

for (const c of FALLBACK) {
  it(`fallback: ${c.title}`, async (t) => {
    const pod = await preparePod(t, c.apps, c.manifest ?? {});
    const r = await runAndGc(t, pod, ['--debug', ...(c.args ?? ['--net=host'])], c.env);
    t.regex(r.stderr, /^stage1: run: node fallback \(.*\)$/m, r.stderr);
    const line = /^stage1: run: node fallback \((.*)\)$/m.exec(r.stderr)?.[1] ?? '';
    t.regex(line, c.reason);
    t.notRegex(r.stderr, /^stage1: run: native$/m);
    if (c.code !== undefined) t.is(r.code, c.code, r.stderr);
    else if (!('code' in c)) t.is(r.code, 0, r.stderr);
  });
}

const ODD_MANIFESTS: Array<{ title: string; reason: RegExp; edit: (text: string) => string }> = [
  { title: 'an unknown field', reason: /field extra/, edit: (m) => m.replace(/^\{/, '{"extra":1,') },
  { title: 'a duplicate key', reason: /duplicate key/, edit: (m) => m.replace(/^\{/, '{"acVersion":"0.0.1",') },
  { title: 'a byte-order mark', reason: /pod: /, edit: (m) => `\ufeff${m}` },
  { title: 'a pre-release acVersion', reason: /acVersion/, edit: (m) => m.replace(/"acVersion":"[^"]*"/, '"acVersion":"0.8.11-rc.1"') },
];

for (const c of ODD_MANIFESTS) {
  it(`fallback: a pod manifest with ${c.title} runs through the Node run`, async (t) => {
    const pod = await preparePod(t, [{ name: 'probe' }]);
    writeFileSync(join(pod.dir, 'pod'), c.edit(readFileSync(join(pod.dir, 'pod'), 'utf8')));
    const r = await runAndGc(t, pod, ['--debug', '--net=none']);
    t.regex(/^stage1: run: node fallback \((.*)\)$/m.exec(r.stderr)?.[1] ?? '', c.reason, r.stderr);
    t.is(r.code, 0, r.stderr);
  });
}

it('fallback: --interactive passes stdin to the app through the Node run', async (t) => {
  const pod = await preparePod(t, [{ name: 'cat', image: { exec: ['/bin/cat'] } }]);
  const r = await runAndGc(t, pod, ['--debug', '--net=host', '--interactive'], undefined, 'hello\n');
  t.regex(r.stderr, /^stage1: run: node fallback \(--interactive\)$/m, r.stderr);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello\n');
});

it('fallback: a mutable pod starts through the Node run, and stops', async (t) => {
  const pod = await preparePod(t, [], { annotations: [{ name: 'coreos.com/rkt/stage1/mutable', value: 'true' }] });
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const run = runPodWith(pod, ['--debug', '--net=none', '--mutable']);
  await waitFor('pid file', () => readPid(pod));
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  const r = await run;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^stage1: run: node fallback \(--mutable\)$/m);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
});

/** Runs the same broken pod natively and through Node: same error line, same status. */
async function sameError(t: ExecutionContext, breakPod: (pod: TestPod) => void): Promise<string> {
  const out: Array<{ code: number; stderr: string }> = [];
  for (const env of [{}, { RKTNETES_STAGE1_RUN: 'node' }] as Array<Record<string, string>>) {
    const pod = await preparePod(t, [{ name: 'probe' }]);
    breakPod(pod);
    const r = await runAndGc(t, pod, ['--net=none'], env);
    out.push({ code: r.code, stderr: r.stderr.replaceAll(pod.dir, '<pod>').replaceAll(pod.uuid, '<uuid>') });
  }
  t.deepEqual(out[0], out[1]);
  t.is(out[0]!.code, 254);
  t.is(out[0]!.stderr.split('\n').filter(Boolean).length, 1, out[0]!.stderr);
  return out[0]!.stderr;
}

it('errors: a broken pod manifest reads as the Node run reports it', async (t) => {
  const err = await sameError(t, (pod) => writeFileSync(join(pod.dir, 'pod'), '{"acKind": "PodManifest", '));
  t.regex(err, /^stage1: invalid pod manifest/);
});

it('errors: a missing app rootfs reads as the Node run reports it', async (t) => {
  const err = await sameError(t, (pod) => rmSync(join(pod.stage1Root, 'opt/stage2/probe/rootfs'), { recursive: true, force: true }));
  t.regex(err, /no root filesystem/);
});

it('errors: an invalid manifest field reads as the Node run reports it', async (t) => {
  await sameError(t, (pod) => {
    const m = JSON.parse(readFileSync(join(pod.dir, 'pod'), 'utf8'));
    m.apps[0].name = 'Bad_Name';
    writeFileSync(join(pod.dir, 'pod'), JSON.stringify(m));
  });
});

it('the native run leaves the stage1 files gc expects and nothing else of the pod', async (t) => {
  const { native } = await runParity(t, [{ name: 'probe' }], ['--net=none']);
  t.deepEqual(readdirSync(join(native.pod.stage1Root, 'rkt/seccomp')), ['probe.bpf']);
  t.true(native.snap.runtimeConfig.includes('"stage1":"coreos"'));
});
