/**
 * The pod lifecycle through the rkt executable, with the stub stage1 (testkit): prepare,
 * run, run-prepared, list, status, stop, enter, export, gc, rm, cat-manifest, and the argv
 * each stage1 entrypoint gets per interface version. Needs root (overlay mounts).
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@rktnetes/store';
import { unmountTree, realSys } from '@rktnetes/sys';
import {
  assertNoLeaks,
  busyboxImage,
  leakCheck,
  privilegedTest,
  readStubLog,
  readTar,
  removeTree,
  runCommand,
  stubStage1Image,
  tmpDir,
  type CommandResult,
  type StubInvocation,
  type StubStage1Options,
} from '@rktnetes/testkit';

const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));
const ptest = privilegedTest(test);

interface Env {
  dir: string;
  data: string;
  logDir: string;
  localConfig: string;
  rkt(args: string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<CommandResult>;
  /** starts rkt without waiting for it */
  spawnRkt(args: string[]): Promise<CommandResult>;
  /** imports an image into the store, returns its key */
  seed(image: Buffer): Promise<string>;
  /** the stub's invocations */
  log(): Promise<StubInvocation[]>;
}

let busybox: Buffer;
test.before(async () => {
  busybox = await busyboxImage({ name: 'example.com/busybox-probe', app: { ports: [{ name: 'web', protocol: 'tcp', port: 80 }] } });
});

async function makeEnv(t: ExecutionContext): Promise<Env> {
  const dir = await tmpDir('pod');
  const data = join(dir, 'data');
  const logDir = join(dir, 'log');
  const cfg = (n: string) => join(dir, 'cfg', n);
  for (const d of [data, logDir, cfg('local'), cfg('system'), cfg('user')]) await mkdir(d, { recursive: true });
  const globals = ['--dir', data, '--local-config', cfg('local'), '--system-config', cfg('system'), '--user-config', cfg('user')];
  const rkt: Env['rkt'] = async (args, opts = {}) => {
    // other packages rebuild stage0 now and then: wait for the bundle rather than fail
    for (let attempt = 0; ; attempt++) {
      if (!existsSync(RKT) && attempt < 120) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const r = await runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.env ? { env: opts.env } : {}) });
      if (attempt < 120 && r.code !== 0 && r.stderr.includes(`Cannot find module '${RKT}'`)) continue;
      return r;
    }
  };
  t.teardown(async () => {
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // reported by removeTree below
    }
    await removeTree(dir);
  });
  return {
    dir,
    data,
    logDir,
    localConfig: cfg('local'),
    rkt,
    spawnRkt: (args) => rkt(args),
    async seed(image) {
      const file = join(dir, `seed-${Math.random().toString(16).slice(2)}.aci`);
      await writeFile(file, image);
      const store = openStore(data);
      try {
        return (await store.importImage(file)).key;
      } finally {
        store.close();
      }
    },
    log: () => readStubLog(logDir),
  };
}

/** An env with the stub stage1 and busybox in the store. */
async function stubEnv(t: ExecutionContext, stub: Omit<StubStage1Options, 'logDir'> = {}) {
  const env = await makeEnv(t);
  const stage1 = await env.seed(await stubStage1Image({ logDir: env.logDir, ...stub }));
  const image = await env.seed(busybox);
  return { ...env, stage1, image };
}

const lines = (s: string) => s.split('\n').filter(Boolean);
const oneLineError = (t: ExecutionContext, r: CommandResult, re?: RegExp) => {
  t.is(r.code, 254, r.stderr);
  t.is(lines(r.stderr).length, 1, r.stderr);
  t.regex(r.stderr, /^rkt: /);
  if (re) t.regex(r.stderr, re);
};
const statusOf = (out: string) => Object.fromEntries(lines(out).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const podDirs = (env: Env, state: string) => (existsSync(join(env.data, 'pods', state)) ? readdirSync(join(env.data, 'pods', state)) : []);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

ptest('run passes the app status and output through and gives stage1 the lock', async (t) => {
  const env = await stubEnv(t, { runStdout: 'hello from stage1\n', appExitCode: 7 });
  const check = await leakCheck({ match: env.dir, netns: false, veth: false, iptables: false, cgroups: false, processes: false });
  const r = await env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image]);
  t.is(r.code, 7, r.stderr);
  t.is(r.stdout, 'hello from stage1\n');
  const [inv] = await env.log();
  t.is(inv?.entrypoint, 'run');
  t.true(inv?.lockFdHeld);
  t.deepEqual(inv?.apps, ['busybox-probe']);
  const uuid = inv!.argv[inv!.argv.length - 1]!;
  t.deepEqual(inv?.argv, ['--net=default', `--local-config=${env.localConfig}`, uuid]);
  t.is(inv?.cwd, join(env.data, 'pods', 'run', uuid));
  t.regex(inv?.env.RKT_LOCK_FD ?? '', /^\d+$/);
  t.is(inv?.env.RKT_SELINUX_CONTEXT, '');
  const st = statusOf((await env.rkt(['status', uuid])).stdout);
  t.is(st.state, 'exited');
  t.is(st.exited, 'true');
  t.is(st['app-busybox-probe'], '7');
  t.is(st.pid, String(inv?.pid));
  // gc: marked first, removed after the grace period; stage1 gc ran; no mounts are left
  const g1 = await env.rkt(['gc']);
  t.regex(g1.stderr, new RegExp(`moving pod "${uuid}" to garbage`));
  t.regex(g1.stderr, /still within grace period \(30m0s\)/);
  t.regex((await env.rkt(['list', '--no-legend'])).stdout, /exited garbage/);
  const g2 = await env.rkt(['gc', '--grace-period=0s']);
  t.is(g2.code, 0, g2.stderr);
  t.is(g2.stdout, `Garbage collecting pod "${uuid}"\n`);
  const gc = (await env.log()).find((i) => i.entrypoint === 'gc');
  t.deepEqual(gc?.argv, [`--local-config=${env.localConfig}`, uuid]);
  t.deepEqual(podDirs(env, 'exited-garbage'), []);
  await assertNoLeaks(t, check);
});

ptest('run sends flags by the stage1 interface version and warns about what it leaves out', async (t) => {
  const v6 = await stubEnv(t);
  const r6 = await v6.rkt(['--debug', 'run', '--insecure-options=all-run', `--stage1-hash=${v6.stage1}`, '--net=none', '--interactive', '--hostname=pod1', '--dns=10.1.1.1', '--ipc=parent', v6.image]);
  t.is(r6.code, 0, r6.stderr);
  const argv6 = (await v6.log())[0]!.argv;
  t.deepEqual(argv6.slice(0, -1), [
    '--debug',
    '--net=none',
    '--interactive',
    `--local-config=${v6.localConfig}`,
    '--hostname=pod1',
    '--dns-conf-mode=resolv=stage0,hosts=default',
    '--disable-capabilities-restriction',
    '--disable-paths',
    '--disable-seccomp',
    '--ipc=parent',
  ]);
  const uuid = argv6[argv6.length - 1]!;
  const s1id = (await readFile(join(v6.data, 'pods', 'run', uuid, 'stage1TreeStoreID'), 'utf8')).trim();
  t.is(await readFile(join(v6.data, 'pods', 'run', uuid, 'overlay', s1id, 'upper', 'etc', 'rkt-resolv.conf'), 'utf8'), '# Generated by rkt run\n\nnameserver 10.1.1.1\n');

  const v1 = await stubEnv(t, { interfaceVersion: 1 });
  const r1 = await v1.rkt(['run', `--stage1-hash=${v1.stage1}`, '--hostname=pod1', '--ipc=private', v1.image]);
  t.is(r1.code, 0, r1.stderr);
  t.regex(r1.stderr, /warning: --hostname option is not supported by stage1/);
  t.regex(r1.stderr, /warning: --ipc option is not supported by stage1/);
  t.deepEqual((await v1.log())[0]!.argv.slice(0, -1), ['--net=default', `--local-config=${v1.localConfig}`]);
  await v1.rkt(['gc', '--grace-period=0s']);
  const gc = (await v1.log()).find((i) => i.entrypoint === 'gc');
  t.is(gc?.argv.length, 1, 'gc --local-config needs interface version 5');
});

ptest('prepare prints only the uuid; run-prepared runs the pod once', async (t) => {
  const env = await stubEnv(t);
  const p = await env.rkt(['prepare', '--quiet', `--stage1-hash=${env.stage1}`, env.image]);
  t.is(p.code, 0, p.stderr);
  t.regex(p.stdout, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
  const uuid = p.stdout.trim();
  t.deepEqual(podDirs(env, 'prepared'), [uuid]);
  t.deepEqual(await env.log(), [], 'prepare runs no stage1 entrypoint');
  const list = lines((await env.rkt(['list'])).stdout);
  t.regex(list[0]!, /^UUID\t+APP\t+IMAGE NAME\t+STATE\t+CREATED\t+STARTED\t+NETWORKS$/);
  t.regex(list[1]!, new RegExp(`^${uuid.slice(0, 8)}\\t+busybox-probe\\t+example.com/busybox-probe\\t+prepared\\t`));
  t.deepEqual(statusOf((await env.rkt(['status', uuid])).stdout), { state: 'prepared', created: statusOf((await env.rkt(['status', uuid])).stdout).created });
  const r = await env.rkt(['run-prepared', uuid.slice(0, 6)]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(podDirs(env, 'run'), [uuid]);
  oneLineError(t, await env.rkt(['run-prepared', uuid]), /is not prepared/);
  t.is((await env.log()).filter((i) => i.entrypoint === 'run').length, 1);
});

ptest('list and status while a pod runs; status --wait returns when it exits', async (t) => {
  const env = await stubEnv(t, { runSleepMs: 6000 });
  const uuidFile = join(env.dir, 'uuid');
  const running = env.spawnRkt(['run', `--uuid-file-save=${uuidFile}`, `--stage1-hash=${env.stage1}`, env.image]);
  const uuid = await until('uuid file', async () => (existsSync(uuidFile) ? (await readFile(uuidFile, 'utf8')) || undefined : undefined));
  const st = await until('running pod with pid', async () => {
    const s = statusOf((await env.rkt(['status', `--uuid-file=${uuidFile}`])).stdout);
    return s.state === 'running' && s.pid ? s : undefined;
  });
  t.is(st.exited, 'false');
  t.false('app-busybox-probe' in st);
  t.regex((await env.rkt(['list', '--no-legend'])).stdout, new RegExp(`^${uuid.slice(0, 8)}\\t+busybox-probe\\t.*running\\t`, 'm'));
  const json = JSON.parse((await env.rkt(['list', '--format=json'])).stdout) as Array<Record<string, unknown>>;
  t.like(json[0], { name: uuid, state: 'running', app_names: ['busybox-probe'] });
  const w = await env.rkt(['status', '--wait', uuid]);
  t.is(w.code, 0, w.stderr);
  t.like(statusOf(w.stdout), { state: 'exited', exited: 'true', 'app-busybox-probe': '0' });
  t.is((await running).code, 0);
  const timeout = await env.rkt(['status', '--wait-ready=200ms', uuid]);
  oneLineError(t, timeout, /readiness: context deadline exceeded/);
});

ptest('stop asks the stage1 to stop a running pod; --force is passed on', async (t) => {
  const env = await stubEnv(t, { runSleepMs: -1 });
  const uuidFile = join(env.dir, 'uuid');
  const running = env.spawnRkt(['run', `--uuid-file-save=${uuidFile}`, `--stage1-hash=${env.stage1}`, env.image]);
  const uuid = await until('uuid file', async () => (existsSync(uuidFile) ? (await readFile(uuidFile, 'utf8')) || undefined : undefined));
  await until('running', async () => (statusOf((await env.rkt(['status', uuid])).stdout).pid ? true : undefined));
  oneLineError(t, await env.rkt(['rm', uuid]), /is currently running/);
  const s = await env.rkt(['stop', '--force', uuid]);
  t.is(s.code, 0, s.stderr);
  t.is(s.stdout, `"${uuid}"\n`);
  t.deepEqual((await env.log()).find((i) => i.entrypoint === 'stop')?.argv, ['--force', uuid]);
  // stage1 replaced rkt run: the pod's pid is the rkt process, killed without a chance to write statuses
  t.is((await running).signal, 'SIGKILL');
  const after = await env.rkt(['stop', uuid]);
  t.is(after.code, 0);
  t.is(after.stdout, `pod "${uuid}" is already stopped\n`);
  const st = statusOf((await env.rkt(['status', '--wait=5s', uuid])).stdout);
  t.is(st.exited, 'true');
  t.false('app-busybox-probe' in st);
});

ptest('enter runs a command in a running pod through the stage1 enter entrypoint', async (t) => {
  const env = await stubEnv(t, { runSleepMs: -1 });
  const uuidFile = join(env.dir, 'uuid');
  const running = env.spawnRkt(['run', `--uuid-file-save=${uuidFile}`, `--stage1-hash=${env.stage1}`, env.image]);
  const uuid = await until('uuid file', async () => (existsSync(uuidFile) ? (await readFile(uuidFile, 'utf8')) || undefined : undefined));
  const pid = await until('pid', async () => statusOf((await env.rkt(['status', uuid])).stdout).pid);
  const e = await env.rkt(['enter', uuid, '/bin/sh', '-c', 'echo entered; exit 4']);
  t.is(e.code, 4, e.stderr);
  t.is(e.stdout, 'entered\n');
  t.deepEqual((await env.log()).find((i) => i.entrypoint === 'enter')?.argv, [`--pid=${pid}`, '--appname=busybox-probe', '--', '/bin/sh', '-c', 'echo entered; exit 4']);
  oneLineError(t, await env.rkt(['enter', '--app=nope', uuid, '/bin/true']), /app nope is not present/);
  t.is((await env.rkt(['stop', uuid])).code, 0);
  t.is((await running).code, 143);
  oneLineError(t, await env.rkt(['enter', uuid, '/bin/true']), /isn't currently running/);
});

ptest('several images in one pod with --- and per-app flags', async (t) => {
  const env = await stubEnv(t);
  const second = await env.seed(await busyboxImage({ name: 'example.com/other', exec: ['/bin/true'] }));
  const p = await env.rkt([
    'prepare',
    `--stage1-hash=${env.stage1}`,
    '--volume=shared,kind=empty',
    '--mount=volume=shared,target=/shared',
    '--set-env=POD=1',
    '--user-label=tier=web',
    env.image,
    '--name=first',
    '--user=1000',
    '--group=1001',
    '--environment=POD=app',
    '--memory=32M',
    '--cpu=250m',
    '--caps-retain=CAP_NET_BIND_SERVICE',
    '--',
    '--exit',
    '3',
    '---',
    second,
    '--exec=/bin/echo',
    '--readonly-rootfs=true',
    '--',
    'hi',
  ]);
  t.is(p.code, 0, p.stderr);
  const uuid = p.stdout.trim();
  const m = JSON.parse((await env.rkt(['cat-manifest', uuid])).stdout);
  t.deepEqual(
    m.apps.map((a: { name: string }) => a.name),
    ['first', 'other'],
  );
  t.deepEqual(m.apps[0].app.exec, ['/probe', '--exit', '3']);
  t.is(m.apps[0].app.user, '1000');
  t.is(m.apps[0].app.group, '1001');
  t.deepEqual(m.apps[0].app.environment, [{ name: 'POD', value: 'app' }]);
  t.deepEqual(m.apps[1].app.environment, [{ name: 'POD', value: '1' }]);
  t.deepEqual(
    m.apps[0].app.isolators.map((i: { name: string }) => i.name),
    ['resource/memory', 'resource/cpu', 'os/linux/capabilities-retain-set'],
  );
  t.deepEqual(m.apps[1].app.exec, ['/bin/echo', 'hi']);
  t.true(m.apps[1].readOnlyRootFS);
  t.deepEqual(m.apps[0].mounts, [{ volume: 'shared', path: '/shared' }]);
  t.deepEqual(m.userLabels, { tier: 'web' });
  t.deepEqual(m.volumes, [{ name: 'shared', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
  t.is((await env.rkt(['cat-manifest', '--pretty-print=false', uuid])).stdout.split('\n').length, 2);
  const r = await env.rkt(['run-prepared', uuid]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await env.log())[0]?.apps, ['first', 'other']);
  const list = lines((await env.rkt(['list', '--no-legend'])).stdout);
  t.is(list.length, 2);
  t.regex(list[1]!, /^\t+other\texample\.com\/other\t*$/);
  // both app roots are overlay mounts below the stage1 root
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(uuid));
  t.is(mounts.length, 3);
});

ptest('--no-overlay copies the images into the pod and mounts nothing', async (t) => {
  const env = await stubEnv(t);
  const r = await env.rkt(['run', '--no-overlay', `--stage1-hash=${env.stage1}`, env.image]);
  t.is(r.code, 0, r.stderr);
  const [uuid] = podDirs(env, 'run');
  const pod = join(env.data, 'pods', 'run', uuid!);
  t.false(existsSync(join(pod, 'overlay-prepared')));
  t.true(existsSync(join(pod, 'stage1', 'rootfs', 'stub-run')));
  t.true(existsSync(join(pod, 'stage1', 'rootfs', 'opt', 'stage2', 'busybox-probe', 'rootfs', 'bin', 'busybox')));
  t.true(existsSync(join(pod, 'stage1', 'rootfs', 'opt', 'stage2', 'busybox-probe', 'manifest')));
  t.is((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(uuid!)).length, 0);
  t.is(statusOf((await env.rkt(['status', uuid!])).stdout)['app-busybox-probe'], '0');
});

ptest('export writes the app of an exited pod, with its changes, as an ACI', async (t) => {
  const env = await stubEnv(t);
  t.is((await env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image])).code, 0);
  const [uuid] = podDirs(env, 'run');
  const pod = join(env.data, 'pods', 'run', uuid!);
  const id = (await readFile(join(pod, 'appsinfo', 'busybox-probe', 'treeStoreID'), 'utf8')).trim();
  await writeFile(join(pod, 'overlay', id, 'upper', 'busybox-probe', 'written-by-app'), 'data\n');
  const out = join(env.dir, 'out.aci');
  const e = await env.rkt(['export', uuid!, out]);
  t.is(e.code, 0, e.stderr);
  const entries = await readTar(await readFile(out));
  t.is(entries[0]?.name, 'manifest');
  const names = entries.map((x) => x.name);
  t.true(names.includes('rootfs/written-by-app'));
  t.true(names.includes('rootfs/bin/busybox'));
  t.true(names.includes('rootfs/etc/mtab'));
  oneLineError(t, await env.rkt(['export', uuid!, out]), /exists \(try --overwrite\)/);
  oneLineError(t, await env.rkt(['export', uuid!, join(env.dir, 'out.tar')]), /extension must be \.aci/);
  // once gc unmounted the pod, export mounts the overlay itself
  unmountTree(pod, realSys());
  const again = await env.rkt(['export', '--overwrite', uuid!, out]);
  t.is(again.code, 0, again.stderr);
  t.true((await readTar(await readFile(out))).some((x) => x.name === 'rootfs/written-by-app'));
  t.deepEqual(await readdir(join(env.data, 'tmp')), []);
});

ptest('gc removes aborted prepares and expired prepared pods; rm removes pods right away', async (t) => {
  const env = await stubEnv(t);
  const aborted = '11111111-2222-4333-8444-555555555555';
  await mkdir(join(env.data, 'pods', 'prepare', aborted), { recursive: true });
  const prepared = (await env.rkt(['prepare', `--stage1-hash=${env.stage1}`, env.image])).stdout.trim();
  const g = await env.rkt(['gc', '--mark-only']);
  t.regex(g.stderr, new RegExp(`moving failed prepare "${aborted}" to garbage`));
  t.deepEqual(podDirs(env, 'garbage'), [aborted]);
  t.deepEqual(podDirs(env, 'prepared'), [prepared]);
  const g2 = await env.rkt(['gc', '--expire-prepared=0s']);
  t.regex(g2.stderr, new RegExp(`moving expired prepared pod "${prepared}" to garbage`));
  t.deepEqual(podDirs(env, 'garbage'), []);
  t.deepEqual(podDirs(env, 'prepared'), []);

  const p2 = (await env.rkt(['prepare', `--stage1-hash=${env.stage1}`, env.image])).stdout.trim();
  await env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image]);
  const [ran] = podDirs(env, 'run');
  const uuidFile = join(env.dir, 'uuid');
  await writeFile(uuidFile, `${ran}\n`);
  const rm = await env.rkt(['rm', p2, `--uuid-file=${uuidFile}`]);
  oneLineError(t, rm, /either --uuid-file or pod UUIDs/);
  const rm2 = await env.rkt(['rm', p2, ran!]);
  t.is(rm2.code, 0, rm2.stderr);
  t.is(rm2.stdout, `"${p2}"\n"${ran}"\n`);
  t.is((await env.log()).filter((i) => i.entrypoint === 'gc').length, 1, 'stage1 gc only for the pod that ran');
  for (const s of ['prepare', 'prepared', 'run', 'exited-garbage', 'garbage']) t.deepEqual(podDirs(env, s), [], s);
  t.is((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(env.data)).length, 0);
});

ptest('bad inputs fail with one line and status 254, leaving no pod behind', async (t) => {
  const env = await stubEnv(t);
  const missing = '00000000-0000-4000-8000-000000000001'.replace(/^0/, '9');
  for (const args of [['status', missing], ['cat-manifest', missing], ['run-prepared', missing], ['stop', missing], ['rm', missing], ['enter', missing], ['export', missing, '/tmp/x.aci']]) {
    oneLineError(t, await env.rkt(args), /no pod matches uuid/);
  }
  for (const u of ['abcdef01-0000-4000-8000-000000000001', 'abcdef01-0000-4000-8000-000000000002']) await mkdir(join(env.data, 'pods', 'prepared', u), { recursive: true });
  oneLineError(t, await env.rkt(['status', 'abcdef']), /ambiguous pod uuid "abcdef": 2 pods match/);
  oneLineError(t, await env.rkt(['status', '']), /pod uuid cannot be empty/);
  for (const u of readdirSync(join(env.data, 'pods', 'prepared'))) await removeTree(join(env.data, 'pods', 'prepared', u));

  const cases: Array<[string[], RegExp]> = [
    [['run', `--stage1-hash=${env.stage1}`, '--pull-policy=never', 'example.com/no-such-image'], /example\.com\/no-such-image/],
    [['prepare', `--stage1-hash=${env.stage1}`, 'sha512-0123456789abcdef'], /sha512-0123456789abcdef/],
    [['run', `--stage1-hash=${env.stage1}`, '--stage1-name=example.com/s1', env.image], /flags --stage1-name and --stage1-hash are mutually exclusive/],
    [['run', '--stage1-hash=sha512-00ff', env.image], /stage1/],
    [['run', `--stage1-hash=${env.stage1}`, '--exec=/bin/sh', env.image], /--exec must follow an image/],
    [['run', `--stage1-hash=${env.stage1}`], /must provide at least one image/],
    [['run', `--stage1-hash=${env.stage1}`, env.image, '--name=Bad_Name'], /invalid app name/],
    [['run', `--stage1-hash=${env.stage1}`, '--port=web:80', '--net=host', env.image], /does not work with 'host' networking/],
    [['prepare', `--stage1-hash=${env.stage1}`, '--pod-manifest=/nonexistent', env.image], /conflicting flags/],
    [['run', `--stage1-hash=${env.stage1}`, '--interactive', env.image, env.image], /interactive option only supports one image/],
    [['run', `--stage1-hash=${env.stage1}`, env.image, '--', 'x', '---', env.image], /multiple apps with name busybox-probe/],
    [['status', '--format=yaml', 'x'], /--format/],
    [['gc', '--grace-period=soon'], /--grace-period/],
  ];
  for (const [args, re] of cases) oneLineError(t, await env.rkt(args), re);
  for (const s of ['embryo', 'prepare', 'prepared', 'run']) t.deepEqual(podDirs(env, s), [], s);
  t.deepEqual(await env.log(), []);
});

ptest('a stage1 is chosen from flags, stage1.d configuration or the images directory', async (t) => {
  const env = await makeEnv(t);
  const stub = await stubStage1Image({ logDir: env.logDir, name: 'example.com/stub-stage1', version: '9.9.9' });
  const image = await env.seed(busybox);
  const stubFile = join(env.dir, 'stage1-stub.aci');
  await writeFile(stubFile, stub);
  // an untrusted file needs --insecure-options=image (or a signature)
  const unsigned = await env.rkt(['run', `--stage1-path=${stubFile}`, image]);
  t.is(unsigned.code, 254);
  t.regex(unsigned.stderr, /stage1/);
  const ok = await env.rkt(['--insecure-options=image', 'run', `--stage1-path=${stubFile}`, image]);
  t.is(ok.code, 0, ok.stderr);
  // configured default: found by name and version in the store
  const cfg = join(env.dir, 'cfg', 'local', 'stage1.d');
  await mkdir(cfg, { recursive: true });
  await writeFile(join(cfg, 'stub.json'), JSON.stringify({ rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/stub-stage1', version: '9.9.9' }));
  const byConfig = await env.rkt(['run', image]);
  t.is(byConfig.code, 0, byConfig.stderr);
  // --stage1-from-dir looks in the configured stage1 images directory
  const imagesDir = join(env.dir, 'images');
  await mkdir(imagesDir);
  await writeFile(join(imagesDir, 'stage1-stub.aci'), stub);
  await mkdir(join(env.dir, 'cfg', 'local', 'paths.d'));
  await writeFile(join(env.dir, 'cfg', 'local', 'paths.d', 'p.json'), JSON.stringify({ rktKind: 'paths', rktVersion: 'v1', 'stage1-images': imagesDir }));
  const fromDir = await env.rkt(['--insecure-options=image', 'run', '--stage1-from-dir=stage1-stub.aci', image]);
  t.is(fromDir.code, 0, fromDir.stderr);
  oneLineError(t, await env.rkt(['run', '--stage1-from-dir=stage1-none.aci', image]), /stage1-none\.aci not found/);
  t.is((await env.log()).filter((i) => i.entrypoint === 'run').length, 3);
  await writeFile(join(cfg, 'stub.json'), JSON.stringify({ rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/absent', version: '1.0.0', location: join(env.dir, 'nope.aci') }));
  oneLineError(t, await env.rkt(['run', image]), /stage1/);
});

ptest('a pod manifest given with --pod-manifest is used as is', async (t) => {
  const env = await stubEnv(t);
  const manifest = {
    acKind: 'PodManifest',
    acVersion: '0.8.11',
    apps: [{ name: 'custom', image: { id: env.image }, app: { exec: ['/bin/true'], user: '0', group: '0' } }],
  };
  const file = join(env.dir, 'pod.json');
  await writeFile(file, JSON.stringify(manifest));
  const p = await env.rkt(['prepare', `--stage1-hash=${env.stage1}`, `--pod-manifest=${file}`]);
  t.is(p.code, 0, p.stderr);
  t.deepEqual(JSON.parse((await env.rkt(['cat-manifest', p.stdout.trim()])).stdout).apps[0].name, 'custom');
  await writeFile(file, JSON.stringify({ ...manifest, apps: [{ name: 'x', image: { id: `sha512-${'ab'.repeat(64)}` } }] }));
  oneLineError(t, await env.rkt(['prepare', `--stage1-hash=${env.stage1}`, `--pod-manifest=${file}`]));
});

ptest('ten concurrent runs get ten pods', async (t) => {
  const env = await stubEnv(t, { appExitCode: 5 });
  const runs = await Promise.all(Array.from({ length: 10 }, () => env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image], { timeoutMs: 120_000 })));
  t.deepEqual(
    runs.map((r) => r.code),
    Array(10).fill(5),
  );
  t.is(new Set((await env.log()).map((i) => i.cwd)).size, 10);
  const g = await env.rkt(['gc', '--grace-period=0s']);
  t.is(lines(g.stdout).length, 10);
  t.is((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(env.data)).length, 0);
});

