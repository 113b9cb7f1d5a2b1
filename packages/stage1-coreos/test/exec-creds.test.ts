/**
 * enter with `--appname` (stage0's `rkt enter` and `rkt app exec`) runs the command exactly as
 * the app runs: same capability sets, groups, ids, no_new_privs, seccomp mode, cgroups,
 * working directory and environment, compared with the app's own process. Privileged (root).
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appDir, podManifestPath } from '@rktnetes/common';
import { parsePodManifest, runtimeApp, serializePodManifest } from '@rktnetes/schema';
import { appHostPid, initExecArgv } from '@rktnetes/stage1-coreos';
import { busyboxImage, hasBusybox, isRoot, testIf } from '@rktnetes/testkit';
import { preparePod, readPid, runEntrypoint, startPod, waitFor, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

const RETAIN_CHOWN = { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } };
const FIELDS = /^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):/;

/** The credential lines of a /proc/<pid>/status text. */
function creds(status: string): Record<string, string> {
  return Object.fromEntries(
    status
      .split('\n')
      .filter((l) => FIELDS.test(l))
      .map((l) => {
        const [k, ...v] = l.split(':');
        return [k!, v.join(':').trim().split(/\s+/).join(' ')];
      }),
  );
}

/** Runs the pod's enter entrypoint with stdin `input`. */
function enter(pod: TestPod, args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(pod.stage1Root, 'enter'), args, { cwd: pod.dir, stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 254, stdout, stderr }));
  });
}

/** Runs a mutable pod entrypoint (app_add, app_start) with cwd = the pod dir. */
function crossing(pod: TestPod, name: string, args: string[]): { code: number; stderr: string } {
  const r = spawnSync(join(pod.stage1Root, name), args, {
    cwd: pod.dir,
    encoding: 'utf8',
    env: { RKT_STAGE1_ENTERCMD: join(pod.stage1Root, 'enter'), RKT_STAGE1_ENTERPID: String(readPid(pod)), PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return { code: r.status ?? 254, stderr: r.stderr };
}

/** What the command run through enter sees, and the app's own process. */
async function compare(t: import('ava').ExecutionContext, pod: TestPod, pid: number, app: string) {
  const appPid = appHostPid(pid, app);
  const script = 'cat /proc/self/status; echo ==; pwd; echo $ROLE; cat /proc/self/cgroup; echo ==; cat; exit 7';
  const r = await enter(pod, [`--pid=${pid}`, `--appname=${app}`, '--', 'sh', '-c', script], 'from stdin\n');
  t.is(r.code, 7, r.stderr);
  const [status = '', rest = '', input = ''] = r.stdout.split('==\n');
  const mine = creds(status);
  t.deepEqual(mine, creds(readFileSync(`/proc/${appPid}/status`, 'utf8')), 'the same credentials as the app');
  const [cwd, role, ...cgroup] = rest.trim().split('\n');
  t.is(cwd, '/tmp');
  t.is(role, 'probe');
  // in the pod's cgroup namespace, the app's cgroup is /<app> in every hierarchy
  const host = readFileSync(`/proc/${appPid}/cgroup`, 'utf8').trim().split('\n');
  t.is(cgroup.length, host.length);
  for (const line of cgroup) t.true(line.endsWith(`:/${app}`) && host.some((h) => h.startsWith(line.slice(0, -app.length - 1)) && h.endsWith(`/${app}`)), line);
  t.is(input, 'from stdin\n');
  return mine;
}

const image = (user: string, extra: Record<string, unknown> = {}) => ({
  exec: ['/bin/sh', '-c', 'exec sleep 100'],
  app: { user, group: user, workingDirectory: '/tmp', environment: [{ name: 'ROLE', value: 'probe' }], isolators: [RETAIN_CHOWN], ...extra },
});

test('initExecArgv puts the command after --', (t) => {
  t.deepEqual(initExecArgv(10, 20, 'web', ['sh', '-c', 'id']), ['init', 'exec', '10', '20', 'web', '--', 'sh', '-c', 'id']);
});

it('rkt enter: a root app restricted to CAP_CHOWN enters with CAP_CHOWN and its seccomp filter', async (t) => {
  const pod = await preparePod(t, [{ name: 'root', image: image('0') }]);
  const run = startPod(pod, ['--net=none']);
  t.teardown(async () => {
    await runEntrypoint(pod, 'stop', [pod.uuid]);
    await run.done;
    await runEntrypoint(pod, 'gc', [pod.uuid]);
  });
  const pid = await waitFor('pid file', () => readPid(pod));
  await waitFor('app pid', () => { try { return appHostPid(pid, 'root'); } catch { return undefined; } });
  const c = await compare(t, pod, pid, 'root');
  t.is(c.CapBnd, '0000000000000001');
  t.is(c.CapEff, '0000000000000001');
  t.is(c.Seccomp, '2');
  t.is(c.Uid, '0 0 0 0');
});

it('rkt app exec: a non-root app of a mutable pod execs with its ambient CAP_CHOWN, groups, no_new_privs and seccomp', async (t) => {
  const pod = await preparePod(t, [], { annotations: [{ name: 'coreos.com/rkt/stage1/mutable', value: 'true' }] });
  const run = startPod(pod, ['--net=none', '--mutable']);
  t.teardown(async () => {
    await runEntrypoint(pod, 'stop', [pod.uuid]);
    await run.done;
    await runEntrypoint(pod, 'gc', [pod.uuid]);
  });
  const pid = await waitFor('pid file', () => readPid(pod));
  const aci = await busyboxImage({ name: 'example.com/user', ...image('1000', { supplementaryGIDs: [1001] }) });
  mkdirSync(appDir(pod.dir, 'user'), { recursive: true });
  const x = spawnSync('tar', ['-C', appDir(pod.dir, 'user'), '-xf', '-'], { input: aci, encoding: 'utf8' });
  t.is(x.status, 0, x.stderr);
  const m = parsePodManifest(readFileSync(podManifestPath(pod.dir)));
  m.apps.push(runtimeApp({ name: 'user' }));
  writeFileSync(podManifestPath(pod.dir), serializePodManifest(m));
  const add = crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, '--app=user']);
  t.is(add.code, 0, add.stderr);
  const start = crossing(pod, 'app_start', ['--debug=false', '--app=user']);
  t.is(start.code, 0, start.stderr);
  await waitFor('app pid', () => { try { return appHostPid(pid, 'user'); } catch { return undefined; } });
  const c = await compare(t, pod, pid, 'user');
  t.is(c.Uid, '1000 1000 1000 1000');
  t.is(c.Groups, '1000 1001');
  t.is(c.CapBnd, '0000000000000001');
  t.is(c.CapAmb, '0000000000000001');
  t.is(c.NoNewPrivs, '1');
  t.is(c.Seccomp, '2');
});
