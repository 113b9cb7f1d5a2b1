import test from 'ava';
import { createRequire } from 'node:module';
import { hasCode } from '@rktnetes/errors';
import { MNT_DETACH, RECORDED_EXECVE, UMOUNT_NOFOLLOW, parseMountInfo, realSys, recordingSys, unmountTree } from '@rktnetes/sys';
import { systemError } from '@rktnetes/errors';

test('recordingSys records every call with its arguments, in order', (t) => {
  const sys = recordingSys();
  sys.unshare(0x20000);
  sys.mount(null, '/', null, 0x44000);
  t.true(sys.flock(3, 'ex', { nonBlocking: true }));
  t.is(sys.openDirFd('/a'), 100);
  t.is(sys.openDirFd('/b'), 101);
  t.is(sys.dup2(5, 9), 9);
  t.deepEqual(sys.calls, [
    { name: 'unshare', args: [0x20000] },
    { name: 'mount', args: [null, '/', null, 0x44000] },
    { name: 'flock', args: [3, 'ex', { nonBlocking: true }] },
    { name: 'openDirFd', args: ['/a'] },
    { name: 'openDirFd', args: ['/b'] },
    { name: 'dup2', args: [5, 9] },
  ]);
  t.deepEqual(sys.callsOf('openDirFd'), [['/a'], ['/b']]);
});

test('recordingSys responses: values, errors to throw and functions', (t) => {
  let tries = 0;
  const sys = recordingSys({
    getpid: 7,
    chroot: systemError('sys.chroot', 'chroot /x: operation not permitted', { details: { errno: 'EPERM' } }),
    flock: () => ++tries > 1,
  });
  t.is(sys.getpid(), 7);
  t.throws(() => sys.chroot('/x'), { message: 'chroot /x: operation not permitted' });
  t.false(sys.flock(4, 'ex', { nonBlocking: true }));
  t.true(sys.flock(4, 'ex', { nonBlocking: true }));
  t.is(sys.calls.length, 4);
});

test('recordingSys execve records and throws, as code after a real execve never runs', (t) => {
  const sys = recordingSys();
  const e = t.throws(() => sys.execve('/bin/true', ['true'], { A: '1' }, { keepFds: [3] }));
  t.true(hasCode(e, RECORDED_EXECVE));
  t.deepEqual(sys.calls, [{ name: 'execve', args: ['/bin/true', ['true'], { A: '1' }, { keepFds: [3] }] }]);
});

test('recordingSys defaults for the remaining calls', (t) => {
  const sys = recordingSys();
  t.false(sys.getCloexec(0));
  t.is(sys.prctl(38, 1), 0);
  t.is(sys.getppid(), 1);
  t.is(sys.umask(0o077), 0o022);
  t.deepEqual(sys.capget(), { effective: new Set(), permitted: new Set(), inheritable: new Set() });
  sys.setCapabilities({ bounding: [0] });
  t.deepEqual(sys.callsOf('setCapabilities'), [[{ bounding: [0] }]]);
});

// A mount table as mountinfo shows it: a tree under /pods/p1 with a stacked and a busy mount.
const line = (id: number, parent: number, mp: string) => `${id} ${parent} 0:${id} / ${mp} rw,relatime shared:${id} - tmpfs tmpfs rw`;
const table = [
  '1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  line(30, 1, '/pods/p1'),
  line(31, 30, '/pods/p1/rootfs'),
  line(32, 31, '/pods/p1/rootfs/proc'),
  line(33, 31, '/pods/p1/rootfs/dev'),
  line(34, 33, '/pods/p1/rootfs/dev/shm'),
  line(35, 31, '/pods/p1/rootfs/proc'),
  line(40, 1, '/pods/p10'),
].join('\n');

test('unmountTree unmounts deepest first, newest first on one mount point, and never a sibling prefix', (t) => {
  let mounts = parseMountInfo(table);
  const sys = recordingSys({
    umount2: (target) => {
      // unmount the most recent mount on that point, as the kernel does
      const i = mounts.map((m) => m.mountPoint).lastIndexOf(target);
      mounts = mounts.filter((_, j) => j !== i);
    },
  });
  const done = unmountTree('/pods/p1', sys, { readMounts: () => mounts });
  // same depth: reverse mount order
  t.deepEqual(done, ['/pods/p1/rootfs/dev/shm', '/pods/p1/rootfs/proc', '/pods/p1/rootfs/dev', '/pods/p1/rootfs/proc', '/pods/p1/rootfs', '/pods/p1']);
  t.true(sys.calls.every((c) => c.args[1] === UMOUNT_NOFOLLOW));
  t.deepEqual(mounts.map((m) => m.mountPoint), ['/', '/pods/p10']);
});

test('unmountTree falls back to a lazy detach on EBUSY and skips mounts already gone', (t) => {
  let mounts = parseMountInfo(table).filter((m) => m.id <= 31 || m.id === 40);
  const busy = systemError('sys.umount2', 'umount /pods/p1/rootfs: device or resource busy', { details: { errno: 'EBUSY' } });
  const gone = systemError('sys.umount2', 'umount /pods/p1: invalid argument', { details: { errno: 'EINVAL' } });
  const sys = recordingSys({
    umount2: (target, flags = 0) => {
      if (target === '/pods/p1/rootfs' && !(flags & MNT_DETACH)) throw busy;
      if (target === '/pods/p1') {
        mounts = mounts.filter((m) => m.mountPoint !== '/pods/p1');
        throw gone; // vanished meanwhile (another namespace, propagation)
      }
      mounts = mounts.filter((m) => m.mountPoint !== target);
    },
  });
  t.deepEqual(unmountTree('/pods/p1', sys, { readMounts: () => mounts }), ['/pods/p1/rootfs']);
  t.deepEqual(sys.calls.map((c) => c.args), [
    ['/pods/p1/rootfs', UMOUNT_NOFOLLOW],
    ['/pods/p1/rootfs', UMOUNT_NOFOLLOW | MNT_DETACH],
    ['/pods/p1', UMOUNT_NOFOLLOW],
  ]);
});

test('unmountTree reports mounts it cannot remove and rethrows other errors', (t) => {
  const mounts = parseMountInfo(table);
  const stuck = recordingSys({ umount2: systemError('sys.umount2', 'umount x: invalid argument', { details: { errno: 'EINVAL' } }) });
  const e = t.throws(() => unmountTree('/pods/p1', stuck, { readMounts: () => mounts }));
  t.true(hasCode(e, 'sys.unmountTree'));
  t.regex(e.message, /^unmount tree \/pods\/p1: 6 mount\(s\) remain/);

  const denied = recordingSys({ umount2: systemError('sys.umount2', 'umount x: operation not permitted', { details: { errno: 'EPERM' } }) });
  t.throws(() => unmountTree('/pods/p1', denied, { readMounts: () => mounts }), { message: 'umount x: operation not permitted' });
  t.is(denied.calls.length, 1);
});

test('unmountTree with nothing mounted makes no call', (t) => {
  const sys = recordingSys();
  t.deepEqual(unmountTree('/nowhere', sys, { readMounts: () => parseMountInfo(table) }), []);
  t.is(sys.calls.length, 0);
});

test('importing the package, realSys() and calls Node already offers load no koffi', (t) => {
  const sys = realSys();
  t.is(sys.getpid(), process.pid);
  sys.umask(sys.umask(0o022));
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  t.false(loaded.some((p) => p.includes('/koffi/')), loaded.filter((p) => p.includes('koffi')).join(', '));
});
