import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { imageManifest, parsePodManifest, type ImageManifest } from '@rktnetes/schema';
import { tmpDir } from '@rktnetes/testkit';
import { formatHostsFile, formatResolvConf, mergeMounts, parseDnsOptions, parsePodArgs, parsePort, parseVolume } from '../src/pod/args';
import { FlagParser } from '../src/pod/flags';
import { generatePodManifest, imageNameToAppName, runtimeAppFor, type ResolvedApp } from '../src/pod/manifest';
import { DEFAULT_GLOBALS } from './helpers/fixtures';

const base = DEFAULT_GLOBALS;

const parse = (...args: string[]) => parsePodArgs(args, base, 'run').pod;
const key = (n: number) => `sha512-${String(n).repeat(128).slice(0, 128)}`;

function resolved(pod: ReturnType<typeof parse>, manifests: ImageManifest[]): ResolvedApp[] {
  return pod.apps.map((cli, i) => ({ cli, imageKey: key(i + 1), manifest: manifests[i]! }));
}

test('images, per-app flags and -- / --- app arguments are split like rkt', (t) => {
  const pod = parse('--volume=data,kind=host,source=/srv', '--mount', 'volume=data,target=/d', 'img1', '--exec=/bin/sh', '--', '-c', 'echo --name=x', '---', 'img2', '--name=two', '--', 'a', '---');
  t.is(pod.apps.length, 2);
  t.is(pod.apps[0]!.image, 'img1');
  t.is(pod.apps[0]!.exec, '/bin/sh');
  t.deepEqual(pod.apps[0]!.args, ['-c', 'echo --name=x']);
  t.is(pod.apps[0]!.name, undefined);
  t.is(pod.apps[1]!.name, 'two');
  t.deepEqual(pod.apps[1]!.args, ['a']);
  t.deepEqual(pod.mounts, [{ volume: 'data', path: '/d' }]);
  t.deepEqual(pod.volumes, [{ name: 'data', kind: 'host', source: '/srv' }]);
});

test('app arguments may run to the end without ---, and --- alone is ignored', (t) => {
  const pod = parse('img1', '---', 'img2', '--', '--exec', 'x', '---x');
  t.deepEqual(
    pod.apps.map((a) => a.image),
    ['img1', 'img2'],
  );
  t.deepEqual(pod.apps[1]!.args, ['--exec', 'x', '---x']);
});

test('pod-wide flags may follow images and global flags are accepted after the command', (t) => {
  const { pod, globals } = parsePodArgs(['img', '--set-env=A=1', '--debug', '--dir', '/data', '--insecure-options=image', '--net=host'], base, 'run');
  t.deepEqual(pod.setEnv, [['A', '1']]);
  t.true(globals.debug);
  t.is(globals.dir, '/data');
  t.is(globals['insecure-options'], 'image');
  t.deepEqual(pod.net, [{ name: 'host' }]);
});

test('--net alone means default and never swallows the image', (t) => {
  const pod = parse('--net', 'img');
  t.deepEqual(pod.net, [{ name: 'default' }]);
  t.is(pod.apps[0]!.image, 'img');
  t.is(parse('img').net, undefined);
});

test('usage errors: per-app flags before an image, repeated --exec, misplaced --, stage1 flags together', (t) => {
  const bad: Array<[string[], string]> = [
    [['--exec=/x', 'img'], 'cli.app-flag'],
    [['img', '--exec=/a', '--exec=/b'], 'cli.app-flag'],
    [['--', 'a'], 'cli.app-args'],
    [['img', '--', 'a', '---', '--', 'b'], 'cli.app-args'],
    [['--stage1-path=/a', '--stage1-name=b', 'img'], 'cli.stage1-flags'],
    [['--stage1-hash=a', '--stage1-hash=b', 'img'], 'cli.stage1-flags'],
    [['--mount', 'volume=nope,target=/x', 'img'], 'cli.dangling-mount'],
    [['--no-such-flag', 'img'], 'cli.unknown-flag'],
    [['img', '--caps-retain=CAP_KILL', '--caps-remove=CAP_KILL'], 'cli.app-flag'],
    [['img', '--memory=16m'], 'cli.invalid-value'],
    [['--store-only', '--no-store', 'img'], 'cli.invalid-value'],
    [['--set-env=A=1', '--set-env=A=2', 'img'], 'cli.invalid-value'],
    [['img', '--name'], 'cli.missing-value'],
  ];
  for (const [args, code] of bad) {
    const e = t.throws(() => parse(...args), undefined, args.join(' '));
    t.true(hasCode(e, code), `${args.join(' ')}: ${e?.message}`);
    t.is((e as { kind?: string }).kind, 'usage');
  }
  const e = t.throws(() => parse('--stage1-path=/a', '--stage1-url=http://x', 'img'));
  t.is(e?.message, 'flags --stage1-url and --stage1-path are mutually exclusive');
});

test('annotations and labels before the first image belong to the pod', (t) => {
  const pod = parse('--user-label=tier=web', '--annotation=example.com/a=1', 'img', '--user-label=app=x', '--annotation=example.com/b=2');
  t.deepEqual(pod.podUserLabels, { tier: 'web' });
  t.deepEqual(pod.podAnnotations, [['example.com/a', '1']]);
  t.deepEqual(pod.apps[0]!.userLabels, { app: 'x' });
  t.deepEqual(pod.apps[0]!.annotations, [['example.com/b', '2']]);
});

test('--volume, --mount and --port values', (t) => {
  t.deepEqual(parseVolume('v,kind=empty'), { name: 'v', kind: 'empty', mode: '0755', uid: 0, gid: 0 });
  t.deepEqual(parseVolume('v,kind=host,source=/x,readOnly=true,recursive=false'), { name: 'v', kind: 'host', source: '/x', readOnly: true, recursive: false });
  for (const bad of ['v', 'v,kind=host', 'v,kind=host,source=rel', 'V,kind=empty', 'v,kind=empty,source=/x', 'v,kind=host,source=/x,mode=0700', 'v,kind=x', 'v,kind=host,source=/x,foo=1']) {
    t.throws(() => parseVolume(bad), undefined, bad);
  }
  t.deepEqual(parsePort('http:8080'), { name: 'http', hostPort: 8080 });
  t.deepEqual(parsePort('http:127.0.0.1:8080'), { name: 'http', hostPort: 8080, hostIP: '127.0.0.1' });
  for (const bad of ['http', 'http:x', 'http:1.2.3:80', 'HTTP:80', 'http:99999']) t.throws(() => parsePort(bad), undefined, bad);
  t.deepEqual(
    mergeMounts(
      [
        { volume: 'a', path: '/x' },
        { volume: 'b', path: '/y' },
      ],
      [{ volume: 'c', path: '/x/' }],
    ),
    [
      { volume: 'c', path: '/x/' },
      { volume: 'b', path: '/y' },
    ],
  );
});

test('--set-env-file skips comments and blank lines and rejects duplicates', async (t) => {
  const dir = await tmpDir('envfile', t);
  const file = join(dir, 'env');
  await writeFile(file, '# comment\n; other\n\nA=1\nB=x=y\n');
  t.deepEqual(parse(`--set-env-file=${file}`, 'img').setEnvFile, [
    ['A', '1'],
    ['B', 'x=y'],
  ]);
  await writeFile(file, 'A=1\nA=2\n');
  t.throws(() => parse(`--set-env-file=${file}`, 'img'), { message: /already set/ });
  await writeFile(file, 'novalue\n');
  t.throws(() => parse(`--set-env-file=${file}`, 'img'), { message: /name=value/ });
});

test('environment precedence: inherited < image < --set-env-file < --set-env < --environment', (t) => {
  const pod = parse('--set-env=S=set', '--set-env=F=set', '--set-env=I=set', 'img', '--environment=S=app', '--environment=N=new');
  pod.setEnvFile.push(['F', 'file'], ['G', 'file']);
  const m = imageManifest({
    name: 'example.com/web-server',
    app: {
      environment: [
        { name: 'IMG', value: 'image' },
        { name: 'H', value: 'image' },
      ],
    },
  });
  const ra = runtimeAppFor(resolved(pod, [m])[0]!, pod.mounts, { inherit: { H: 'host', HOST_ONLY: 'host', 'BAD NAME': 'x' }, setEnv: pod.setEnv, setEnvFile: pod.setEnvFile });
  const env = Object.fromEntries((ra.app?.environment ?? []).map((e) => [e.name, e.value]));
  t.deepEqual(env, { IMG: 'image', H: 'image', HOST_ONLY: 'host', F: 'set', G: 'file', S: 'app', I: 'set', N: 'new' });
  t.is(ra.name, 'web-server');
});

test('the runtime app carries the overrides and isolators', (t) => {
  const pod = parse(
    '--volume=v,kind=empty',
    'img',
    '--exec=/bin/echo',
    '--user=1000',
    '--group=1001',
    '--supplementary-gids=5,6',
    '--working-dir=/tmp',
    '--readonly-rootfs=true',
    '--memory=64M',
    '--cpu=500m',
    '--caps-retain=CAP_NET_BIND_SERVICE,CAP_KILL',
    '--seccomp=mode=remove,errno=EPERM,reboot,swapon',
    '--mount=volume=v,target=/v',
    '--user-annotation=k=v',
    '--',
    'hello',
  );
  const m = imageManifest({ app: { isolators: [{ name: 'resource/memory', value: { limit: '1G' } }, { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_MKNOD'] } }] } });
  const pm = generatePodManifest(resolved(pod, [m]), pod, { setEnv: [], setEnvFile: [] });
  const ra = pm.apps[0]!;
  t.deepEqual(ra.app?.exec, ['/bin/echo', 'hello']);
  t.is(ra.app?.user, '1000');
  t.is(ra.app?.group, '1001');
  t.deepEqual(ra.app?.supplementaryGIDs, [5, 6]);
  t.is(ra.app?.workingDirectory, '/tmp');
  t.true(ra.readOnlyRootFS);
  t.deepEqual(ra.mounts, [{ volume: 'v', path: '/v' }]);
  t.deepEqual(ra.app?.userAnnotations, { k: 'v' });
  t.deepEqual(
    (ra.app?.isolators ?? []).map((i) => i.name),
    ['resource/memory', 'resource/cpu', 'os/linux/capabilities-retain-set', 'os/linux/seccomp-remove-set'],
  );
  t.deepEqual(ra.app?.isolators?.[0]?.value, { request: '64M', limit: '64M' });
  t.deepEqual(ra.app?.isolators?.[3]?.value, { set: ['reboot', 'swapon'], errno: 'EPERM' });
  t.deepEqual(pm.annotations, [{ name: 'coreos.com/rkt/stage1/mutable', value: 'false' }]);
  t.deepEqual(pm.volumes, [{ name: 'v', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
  t.notThrows(() => parsePodManifest(JSON.stringify(pm)));
});

test('pod manifest errors: duplicate app names, images without app and no --exec, unknown ports', (t) => {
  const m = imageManifest({ name: 'example.com/x' });
  const two = parse('a', 'b');
  t.throws(() => generatePodManifest(resolved(two, [m, m]), two, { setEnv: [], setEnvFile: [] }), { message: /multiple apps with name x/ });
  const noApp = imageManifest({ app: null });
  const one = parse('a');
  t.throws(() => generatePodManifest(resolved(one, [noApp]), one, { setEnv: [], setEnvFile: [] }), { message: /no app section/ });
  const withExec = parse('a', '--exec=/bin/true');
  t.deepEqual(generatePodManifest(resolved(withExec, [noApp]), withExec, { setEnv: [], setEnvFile: [] }).apps[0]!.app?.exec, ['/bin/true']);
  const port = parse('--port=web:8080', 'a');
  t.throws(() => generatePodManifest(resolved(port, [m]), port, { setEnv: [], setEnvFile: [] }), { message: /port "web"/ });
  const mp = imageManifest({ app: { ports: [{ name: 'web', protocol: 'tcp', port: 80 }] } });
  t.deepEqual(generatePodManifest(resolved(port, [mp]), port, { setEnv: [], setEnvFile: [] }).ports, [{ name: 'web', hostPort: 8080 }]);
});

test('app names are derived from the image name as rkt does', (t) => {
  t.is(imageNameToAppName('coreos.com/etcd'), 'etcd');
  t.is(imageNameToAppName('example.com/My_App.v2'), 'my-app-v2');
  t.is(imageNameToAppName('registry-1.docker.io/library/nginx'), 'nginx');
  t.throws(() => imageNameToAppName('example.com/___'));
});

test('DNS flags become a dns-conf-mode and the files stage0 writes', (t) => {
  const d = parseDnsOptions({ ...parse('img'), dns: ['8.8.8.8,1.1.1.1'], dnsSearch: ['example.com'], dnsOpt: ['ndots:2'], dnsDomain: 'x.org', hostsEntries: ['10.0.0.1=db,10.0.0.1=cache'] });
  t.deepEqual(d.mode, { resolv: 'stage0', hosts: 'stage0' });
  t.is(formatResolvConf(d), '# Generated by rkt run\n\nsearch example.com\nnameserver 8.8.8.8\nnameserver 1.1.1.1\noptions ndots:2\ndomain x.org\n');
  t.regex(formatHostsFile(d, undefined), /127\.0\.0\.1 localhost[\s\S]*10\.0\.0\.1 db cache\n$/);
  t.deepEqual(parseDnsOptions({ ...parse('img'), dns: ['host'], hostsEntries: ['host'] }).mode, { resolv: 'host', hosts: 'host' });
  t.throws(() => parseDnsOptions({ ...parse('img'), dns: ['host', '1.1.1.1'] }), { message: /no other --dns/ });
  t.throws(() => parseDnsOptions({ ...parse('img'), dns: ['none'], dnsSearch: ['x'] }), { message: /cannot call --dns-opt/ });
  t.throws(() => parseDnsOptions({ ...parse('img'), dns: ['not-an-ip'] }), { message: /invalid IP/ });
});

test('FlagParser follows pflag: bool values only after =, values as next argument, shorthands, --', (t) => {
  const seen: string[] = [];
  const p = new FlagParser([
    { name: 'b', kind: 'bool', set: (v) => seen.push(`b=${v}`) },
    { name: 'v', kind: 'value', short: 'x', set: (v) => seen.push(`v=${v}`) },
    { name: 'o', kind: 'optional', noOptValue: 'dflt', set: (v) => seen.push(`o=${v}`) },
  ]);
  t.deepEqual(p.parse(['--b', 'pos', '--b=false', '--v', 'one', '-x', 'two', '-xthree', '--o', '--o=set', '--', '--b']), ['pos', '--b']);
  t.deepEqual(seen, ['b=true', 'b=false', 'v=one', 'v=two', 'v=three', 'o=dflt', 'o=set']);
  t.deepEqual(p.parse(['a', '--b', 'c'], { stopAtPositional: true }), ['a', '--b', 'c']);
  t.throws(() => p.parse(['--b=maybe']), { message: /expected a boolean/ });
  t.throws(() => p.parse(['---b']), { message: /bad flag syntax/ });
});
