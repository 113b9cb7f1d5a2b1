import test from 'ava';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { PR_GET_NO_NEW_PRIVS, S_IFCHR, makedev, realSys } from '@rktnetes/sys';
import { childJson, maskHas, needsRoot, parseProbe, rootTest, runChild } from './helpers';

const sys = realSys();
const dir = mkdtempSync(join(tmpdir(), 'rkt-sys-'));
const lockFile = join(dir, 'lock');
writeFileSync(lockFile, '');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test.serial('flock: an exclusive lock excludes another process; shared locks coexist', (t) => {
  const fd = openSync(lockFile, 'r');
  try {
    t.true(sys.flock(fd, 'ex'));
    t.deepEqual(childJson(runChild('flock-try', { path: lockFile })), { sh: false, ex: false });
    t.true(sys.flock(fd, 'sh'));
    t.deepEqual(childJson(runChild('flock-try', { path: lockFile })), { sh: true, ex: false });
    t.true(sys.flock(fd, 'un'));
    t.deepEqual(childJson(runChild('flock-try', { path: lockFile })), { sh: true, ex: true });
    // In one process, another open of the same file is another lock owner.
    const other = openSync(lockFile, 'r');
    t.true(sys.flock(fd, 'ex', { nonBlocking: true }));
    t.false(sys.flock(other, 'ex', { nonBlocking: true }));
    closeSync(other);
  } finally {
    closeSync(fd);
  }
});

test('a failed call throws sys.<name> with the errno name and a lowercase message', (t) => {
  const e = t.throws(() => sys.flock(987654, 'ex'));
  t.true(hasCode(e, 'sys.flock'));
  t.is(e.message, 'flock ex fd 987654: bad file descriptor');
  t.deepEqual((e as unknown as { details: unknown }).details, { errno: 'EBADF', errnoNumber: 9 });
  t.is((e as unknown as { kind: string }).kind, 'system');
  const open = t.throws(() => sys.openDirFd(lockFile));
  t.true(hasCode(open, 'sys.openDirFd'));
  t.is(open.message, `open ${lockFile}: not a directory`);
});

test('openDirFd, getCloexec, setCloexec and dup2', (t) => {
  const fd = sys.openDirFd(dir);
  try {
    t.true(statSync(`/proc/self/fd/${fd}`).isDirectory());
    t.true(sys.getCloexec(fd), 'Node opens fds close-on-exec');
    sys.setCloexec(fd, false);
    t.false(sys.getCloexec(fd));
    sys.setCloexec(fd, true);
    t.true(sys.getCloexec(fd));
    const copy = sys.dup2(fd, 200);
    t.is(copy, 200);
    t.false(sys.getCloexec(copy), 'dup2 clears FD_CLOEXEC on the copy');
    closeSync(copy);
  } finally {
    closeSync(fd);
  }
});

test('prctl returns the call result; capget reads this thread\'s sets', (t) => {
  t.is(sys.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
  const caps = sys.capget();
  t.true(caps.permitted instanceof Set);
  if (process.getuid?.() === 0) t.true(caps.effective.has(21), 'root has CAP_SYS_ADMIN');
});

test('prctl passes a string argument (PR_SET_NAME, in a child)', (t) => {
  t.deepEqual(childJson(runChild('process-name', { name: 'rkt-sys-name' })), { comm: 'rkt-sys-name' });
});

test('getpid, getppid, umask and kill', (t) => {
  t.is(sys.getpid(), process.pid);
  t.is(sys.getppid(), process.ppid);
  const old = sys.umask(0o027);
  t.is(sys.umask(old), 0o027);
  sys.kill(process.pid, 0);
  t.throws(() => sys.kill(2 ** 22 + 1, 0), { message: `kill pid ${2 ** 22 + 1}: no such process` });
});

test('execve in a Node child: stdout works, only kept fds reach the program, signals are default', (t) => {
  // fd 3 of the Node child is an inheritable pipe from spawn: it must not reach the program either.
  const r = runChild('exec-hygiene', { path: lockFile }, ['ignore', 'pipe', 'pipe', 'pipe']);
  t.is(r.status, 0, r.stderr);
  const p = parseProbe(r.stdout);
  t.is(p.lines[0], 'ok');
  t.is(p.lines[1], 'FOO=bar');
  t.deepEqual(p.fds, [0, 1, 2, 50], 'fd 50 kept; 51, the spawn pipe and Node\'s own fds are closed');
  t.false(maskHas(p.status.SigIgn, 13), 'SIGPIPE is default');
  t.false(maskHas(p.status.SigIgn, 25), 'SIGXFSZ is default');
  t.is(p.status.SigBlk, '0000000000000000');
  t.is(Number.parseInt(p.status.flags ?? '', 8) & 0o4000, 0, 'stdout is blocking again');
});

test('execve refuses a keep fd that is not open, before touching anything', (t) => {
  const e = t.throws(() => sys.execve('/bin/true', ['true'], {}, { keepFds: [987654] }));
  t.true(hasCode(e, 'sys.execve'));
  t.is(e.message, 'execve /bin/true: keep fd 987654: bad file descriptor');
});

test('a failed execve throws and restores the signal and fd state', (t) => {
  const r = childJson<{ before: unknown; after: unknown; error: unknown }>(runChild('exec-fail'));
  t.deepEqual(r.after, r.before);
  t.deepEqual(r.error, { code: 'sys.execve', message: 'execve /nonexistent/program: no such file or directory', errno: 'ENOENT' });
});

rootTest(`mknod creates a device node${needsRoot}`, (t) => {
  const p = join(dir, 'null');
  sys.mknod(p, S_IFCHR | 0o600, makedev(1, 3));
  const st = statSync(p);
  t.true(st.isCharacterDevice());
  t.is(st.rdev, Number(makedev(1, 3)));
  rmSync(p);
});

test('cost of the first koffi load and of a flock call (logged)', (t) => {
  const r = childJson<{ firstCallMs: number; flockUs: number }>(runChild('timing', { path: lockFile }));
  t.log(`first call incl. koffi + libc load: ${r.firstCallMs.toFixed(2)} ms; flock: ${r.flockUs.toFixed(2)} µs per call`);
  t.true(r.firstCallMs < 1000);
});
