import test from 'ava';
import { CAPABILITIES, CAP_LAST_CAP, capName, capNumber, major, makedev, minor, mountsUnder, parseMountInfo, readMountInfo } from '@rktnetes/sys';

const fixture = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro',
  '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 propagate_from:2 - ext3 /dev/root rw,errors=continue',
  '40 22 0:45 / /var/lib/rkt/pods/run/a\\040b rw,relatime - tmpfs none rw,size=1024k',
  '41 40 0:46 /sub\\011dir /var/lib/rkt/pods/run/a\\040b/stage1\\134x rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w',
  '42 22 0:47 / /empty rw - fuse.sshfs user@host:/x\\040y rw',
  '',
].join('\n');

test('parseMountInfo reads every field and unescapes octal escapes', (t) => {
  const m = parseMountInfo(fixture);
  t.is(m.length, 6);
  t.deepEqual(m[2], {
    id: 36,
    parentId: 35,
    major: 98,
    minor: 0,
    root: '/mnt1',
    mountPoint: '/mnt/parent',
    options: ['rw', 'noatime'],
    optional: ['master:1', 'propagate_from:2'],
    fsType: 'ext3',
    source: '/dev/root',
    superOptions: ['rw', 'errors=continue'],
  });
  t.deepEqual(m[0]?.optional, ['shared:1']);
  t.deepEqual(m[3]?.optional, []);
  t.is(m[3]?.mountPoint, '/var/lib/rkt/pods/run/a b');
  t.is(m[4]?.root, '/sub\tdir');
  t.is(m[4]?.mountPoint, '/var/lib/rkt/pods/run/a b/stage1\\x');
  t.deepEqual(m[4]?.superOptions, ['rw', 'lowerdir=/l', 'upperdir=/u', 'workdir=/w']);
  t.is(m[5]?.fsType, 'fuse.sshfs');
  t.is(m[5]?.source, 'user@host:/x y');
});

test('parseMountInfo rejects a malformed line, naming it', (t) => {
  t.throws(() => parseMountInfo('22 1 8:1 / / rw\n'), { message: /^parse mountinfo line 1: malformed/ });
});

test('mountsUnder matches the prefix and below, not siblings sharing a prefix', (t) => {
  const m = parseMountInfo(fixture);
  t.deepEqual(mountsUnder('/var/lib/rkt/pods/run/a b/', m).map((x) => x.id), [40, 41]);
  t.deepEqual(mountsUnder('/var/lib/rkt/pods/run/a', m), []);
  t.is(mountsUnder('/', m).length, 6);
});

test('readMountInfo parses this process\'s table', (t) => {
  const m = readMountInfo();
  t.true(m.some((x) => x.mountPoint === '/'));
  t.true(m.every((x) => Number.isInteger(x.id) && x.fsType.length > 0));
  t.throws(() => readMountInfo(2 ** 30), { message: /^read \/proc\/1073741824\/mountinfo: no such file or directory$/ });
});

test('CAPABILITIES lists all 41 Linux capabilities with their numbers', (t) => {
  const entries = Object.entries(CAPABILITIES);
  t.is(entries.length, 41);
  t.is(CAP_LAST_CAP, 40);
  t.deepEqual(entries.map(([, n]) => n), [...Array(41).keys()]);
  t.is(CAPABILITIES.CAP_SYS_ADMIN, 21);
  t.is(CAPABILITIES.CAP_CHECKPOINT_RESTORE, 40);
  t.is(capNumber('CAP_NET_ADMIN'), 12);
  t.is(capNumber('net_admin'), 12);
  t.is(capNumber('CAP_NOPE'), undefined);
  t.is(capName(27), 'CAP_MKNOD');
  t.is(capName(41), undefined);
});

test('makedev encodes like glibc and round-trips', (t) => {
  t.is(makedev(1, 3), 0x103n);
  t.is(makedev(8, 17), 0x811n);
  t.is(makedev(0x12345, 0x6789a), 0x1_2000_6783_459an);
  t.is(major(makedev(0x12345, 0x6789a)), 0x12345);
  t.is(minor(makedev(0x12345, 0x6789a)), 0x6789a);
});
