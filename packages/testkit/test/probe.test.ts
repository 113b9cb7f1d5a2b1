import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUSYBOX_PATH,
  PROBE_SCRIPT,
  capsFromHex,
  capsToHex,
  findMount,
  hasBusybox,
  parseProbeOutput,
  runCommand,
  tmpDir,
} from '@rktnetes/testkit';

const withBusybox = hasBusybox() ? test : test.skip;

async function probePath(t: ExecutionContext): Promise<string> {
  const dir = await tmpDir('probe', t);
  const path = join(dir, 'probe');
  await writeFile(path, PROBE_SCRIPT, { mode: 0o755 });
  return path;
}

test('capsFromHex names the set bits', (t) => {
  t.deepEqual(capsFromHex('0000000000000000'), []);
  t.deepEqual(capsFromHex('00000000a80425fb'), [
    'CAP_CHOWN',
    'CAP_DAC_OVERRIDE',
    'CAP_FOWNER',
    'CAP_FSETID',
    'CAP_KILL',
    'CAP_SETGID',
    'CAP_SETUID',
    'CAP_SETPCAP',
    'CAP_NET_BIND_SERVICE',
    'CAP_NET_RAW',
    'CAP_SYS_CHROOT',
    'CAP_MKNOD',
    'CAP_AUDIT_WRITE',
    'CAP_SETFCAP',
  ]);
  t.deepEqual(capsFromHex('8000000000000000'), ['CAP_63']);
  t.throws(() => capsFromHex('xyz'), { message: /not hex/ });
});

test('capsToHex is the inverse of capsFromHex', (t) => {
  t.is(capsToHex(capsFromHex('00000000a80425fb')), '00000000a80425fb');
  t.is(capsToHex(['sys_admin', 'CAP_NET_ADMIN']), (2n ** 21n + 2n ** 12n).toString(16).padStart(16, '0'));
  t.throws(() => capsToHex(['CAP_NOPE']), { message: /unknown capability/ });
});

test('parseProbeOutput skips leading noise and decodes escapes', (t) => {
  const text = [
    'stage1 says hello',
    'probe.version=1',
    'pid=1',
    'ppid=0',
    'uid=1000',
    'euid=1000',
    'suid=1000',
    'fsuid=1000',
    'gid=1000',
    'egid=1000',
    'groups=1001 1002',
    'CapInh=0000000000000000',
    'CapPrm=0000000000000000',
    'CapEff=0000000000002000',
    'CapBnd=00000000a80425fb',
    'CapAmb=0000000000000000',
    'NoNewPrivs=1',
    'Seccomp=2',
    'hostname=rkt-1234',
    'cwd=/app',
    'umask=0022',
    'ns.net=net:[1]',
    'env.MULTI=a\\\\b\\nc=d',
    'env.EMPTY=',
    'mount=/ overlay rw,relatime',
    'mount=/my\\040vol ext4 ro,nosuid',
    'cgroup=4:memory:/machine.slice/x',
    'cgroup=0::/',
    'probe.end=1',
    'signal=TERM',
  ].join('\n');
  const r = parseProbeOutput(text);
  t.is(r.pid, 1);
  t.is(r.uid, 1000);
  t.deepEqual(r.groups, [1001, 1002]);
  t.deepEqual(r.caps.effective.names, ['CAP_NET_RAW']);
  t.is(r.caps.bounding.hex, '00000000a80425fb');
  t.true(r.noNewPrivs);
  t.is(r.seccomp, 2);
  t.is(r.hostname, 'rkt-1234');
  t.is(r.cwd, '/app');
  t.is(r.namespaces.net, 'net:[1]');
  t.is(r.env.MULTI, 'a\\b\nc=d');
  t.is(r.env.EMPTY, '');
  t.deepEqual(findMount(r, '/my vol'), { target: '/my vol', fstype: 'ext4', options: ['ro', 'nosuid'] });
  t.deepEqual(r.cgroups, [
    { hierarchy: 4, controllers: ['memory'], path: '/machine.slice/x' },
    { hierarchy: 0, controllers: [], path: '/' },
  ]);
  t.true(r.complete);
  t.is(r.signal, 'TERM');
});

test('parseProbeOutput rejects output without a report', (t) => {
  t.throws(() => parseProbeOutput('nothing here'), { message: /no probe report/ });
  t.throws(() => parseProbeOutput('probe.version=1\npid=1\n'), { message: /lacks uid/ });
});

withBusybox('the probe runs under busybox sh on the host and its output parses', async (t) => {
  const probe = await probePath(t);
  const r = await runCommand(BUSYBOX_PATH, ['sh', probe], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ODD: 'back\\slash\nnew line', EMPTY: '' },
    cwd: '/',
  });
  t.is(r.code, 0, r.stderr);
  const report = parseProbeOutput(r.stdout);
  t.true(report.complete);
  t.is(report.uid, process.getuid?.() ?? -1);
  t.is(report.gid, process.getgid?.() ?? -1);
  t.is(report.ppid, process.pid);
  t.is(report.cwd, '/');
  t.is(report.env.ODD, 'back\\slash\nnew line');
  t.is(report.env.EMPTY, '');
  t.is(report.env.PATH, '/usr/sbin:/usr/bin:/sbin:/bin');
  t.is(report.hostname, (await readFile('/proc/sys/kernel/hostname', 'utf8')).trim());
  const status = await readFile('/proc/self/status', 'utf8');
  t.is(report.caps.bounding.hex, /CapBnd:\s+(\w+)/.exec(status)?.[1] ?? 'none');
  t.is(report.seccomp, 0);
  t.truthy(findMount(report, '/'));
  t.true(report.cgroups.length > 0);
  t.regex(report.namespaces.mnt ?? '', /^mnt:\[\d+\]$/);
});

withBusybox('probe --exit and --write', async (t) => {
  const probe = await probePath(t);
  const out = join(probe, '..', 'report.txt');
  const r = await runCommand(BUSYBOX_PATH, ['sh', probe, '--write', out, '--exit', '7']);
  t.is(r.code, 7);
  const report = parseProbeOutput(r.stdout);
  t.is(report.write, 'ok');
  t.is(parseProbeOutput(await readFile(out, 'utf8')).pid, report.pid);
  const bad = await runCommand(BUSYBOX_PATH, ['sh', probe, '--write', '/nonexistent/dir/x']);
  t.is(bad.code, 0);
  t.is(parseProbeOutput(bad.stdout).write, 'error');
});

withBusybox('probe rejects unknown arguments', async (t) => {
  const probe = await probePath(t);
  const r = await runCommand(BUSYBOX_PATH, ['sh', probe, '--bogus']);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown argument --bogus/);
  t.is((await runCommand(BUSYBOX_PATH, ['sh', probe, '--exit'])).code, 2);
});

withBusybox('probe --sleep ends on SIGTERM with status 143', async (t) => {
  const probe = await probePath(t);
  const child = spawn(BUSYBOX_PATH, ['sh', probe, '--sleep', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let sleepers: number[] = [];
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (!out.includes('probe.end=1') || sleepers.length) return;
    // wait until the shell has started its sleep child, then stop the shell
    const poll = (): void => {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
      if (!kids) return void setTimeout(poll, 10);
      sleepers = kids.split(' ').map(Number);
      child.kill('SIGTERM');
    };
    poll();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.is(code, 143);
  t.is(parseProbeOutput(out).signal, 'TERM');
  t.true(sleepers.length > 0);
  // the sleep child went with the shell (gone, or a zombie awaiting its new parent)
  for (const pid of sleepers) {
    let state = 'gone';
    try {
      state = /State:\s+(\w)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 'gone';
    } catch {
      // gone
    }
    t.true(state === 'gone' || state === 'Z', `sleep ${pid} is ${state}`);
  }
});
