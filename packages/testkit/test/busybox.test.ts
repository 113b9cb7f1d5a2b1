import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUSYBOX_PATH,
  DEFAULT_APPLETS,
  busyboxImage,
  busyboxManifest,
  busyboxTree,
  hasBusybox,
  parseProbeOutput,
  privilegedTest,
  readTar,
  runCommand,
  runCommandOk,
  tmpDir,
  writeAci,
} from '@rktnetes/testkit';

const withBusybox = hasBusybox() ? test : test.skip;
const UNSHARE = '/usr/bin/unshare';
const CHROOT = '/usr/sbin/chroot';
const rootTest = hasBusybox() && existsSync(UNSHARE) && existsSync(CHROOT) ? privilegedTest(test) : test.skip;

withBusybox('every default applet exists in the installed busybox', async (t) => {
  const list = new Set((await runCommandOk(BUSYBOX_PATH, ['--list'])).stdout.split('\n'));
  t.deepEqual(
    DEFAULT_APPLETS.filter((a) => !list.has(a)),
    [],
  );
});

withBusybox('busyboxTree has busybox, applet links, users, groups and the probe', (t) => {
  const tree = busyboxTree({ extraApplets: ['vi'] });
  t.like(tree['bin/busybox'], { type: 'file', mode: 0o755 });
  t.deepEqual(tree['bin/sh'], { type: 'symlink', target: 'busybox' });
  t.deepEqual(tree['bin/vi'], { type: 'symlink', target: 'busybox' });
  t.like(tree.probe, { type: 'file', mode: 0o755 });
  const passwd = (tree['etc/passwd'] as { content: string }).content;
  t.regex(passwd, /^root:x:0:0:/m);
  t.regex(passwd, /^user:x:1000:1000:/m);
  t.regex((tree['etc/group'] as { content: string }).content, /^extra:x:1001:/m);
  t.like(tree['tmp/'], { type: 'dir', mode: 0o1777 });
  t.false('probe' in busyboxTree({ probe: false }));
  t.deepEqual(Object.keys(busyboxTree({ applets: ['sh'] })).filter((k) => k.startsWith('bin/')), ['bin/', 'bin/busybox', 'bin/sh']);
});

test('busyboxManifest is a valid appc ImageManifest with overrides merged', (t) => {
  const m = busyboxManifest({
    name: 'example.com/x',
    labels: { version: '1.2.3', arch: 'arm64' },
    annotations: { 'coreos.com/rkt/x': 'y' },
    app: { environment: [{ name: 'A', value: 'b' }], user: '1000' },
    manifest: { dependencies: [] },
  });
  t.deepEqual(m, {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/x',
    labels: [
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'arm64' },
      { name: 'version', value: '1.2.3' },
    ],
    app: { exec: ['/probe'], user: '1000', group: '0', environment: [{ name: 'A', value: 'b' }] },
    annotations: [{ name: 'coreos.com/rkt/x', value: 'y' }],
    dependencies: [],
  });
  t.false('app' in busyboxManifest({ app: null }));
  t.deepEqual((busyboxManifest({ exec: ['/bin/sh', '-c', 'true'] }).app as { exec: string[] }).exec, ['/bin/sh', '-c', 'true']);
});

withBusybox('busyboxImage writes the manifest, the rootfs and extra files', async (t) => {
  const aci = await busyboxImage({ exec: ['/bin/true'], extraFiles: { '/etc/hostname': 'x\n', 'etc/passwd': 'root:x:0:0::/:/bin/sh\n' } });
  const entries = await readTar(aci);
  const manifest = JSON.parse(entries.find((e) => e.name === 'manifest')?.content.toString() ?? '{}');
  t.like(manifest, { acKind: 'ImageManifest', acVersion: '0.8.11', app: { exec: ['/bin/true'], user: '0', group: '0' } });
  const names = entries.map((e) => e.name);
  for (const n of ['rootfs/bin/busybox', 'rootfs/bin/sh', 'rootfs/probe', 'rootfs/etc/group', 'rootfs/etc/hostname', 'rootfs/home/user/']) {
    t.true(names.includes(n), n);
  }
  t.is(names.filter((n) => n === 'rootfs/etc/passwd').length, 1);
  t.is(entries.find((e) => e.name === 'rootfs/etc/passwd')?.content.toString(), 'root:x:0:0::/:/bin/sh\n');
  t.is(entries.find((e) => e.name === 'rootfs/home/user/')?.uid, 1000);
});

rootTest('the probe reports from inside an extracted busybox rootfs', async (t) => {
  const dir = await tmpDir('bbroot', t);
  await writeAci(join(dir, 'img.aci'), { manifest: busyboxManifest(), files: busyboxTree() });
  await runCommandOk('tar', ['-x', '-f', join(dir, 'img.aci'), '-C', dir]);
  const rootfs = join(dir, 'rootfs');
  // new mount and pid namespaces: /proc is mounted inside and goes away with them
  const r = await runCommand(
    UNSHARE,
    ['--mount', '--pid', '--fork', '--uts', `--root=${rootfs}`, '--mount-proc', '--setuid=1000', '--setgid=1000',
      '/bin/setpriv', '--nnp', '/probe', '--exit', '3'],
    { env: { PATH: '/bin', GREETING: 'hi' } },
  );
  t.is(r.code, 3, r.stderr);
  const report = parseProbeOutput(r.stdout);
  t.is(report.pid, 1);
  t.is(report.uid, 1000);
  t.is(report.gid, 1000);
  t.deepEqual(report.caps.effective.names, []);
  t.true(report.noNewPrivs);
  t.is(report.env.GREETING, 'hi');
  t.is(report.mounts.find((m) => m.target === '/proc')?.fstype, 'proc');

  const chrooted = await runCommand(CHROOT, [rootfs, '/bin/sh', '-c', 'echo $(id -un):$(id -gn)']);
  t.is(chrooted.stdout.trim(), 'root:root');
});
