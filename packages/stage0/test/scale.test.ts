/**
 * What the scale work changed in stage0 (bench/README.md): the yargs-free start of the raw
 * commands, gc working on several pods at once, the synchronous pod description behind
 * `rkt list`, and the RKT_TRACE lines of `rkt run`. The last two tests run the built `rkt` with
 * the stub stage1 and need root (overlay mounts).
 */
import test from 'ava';
import { existsSync, mkdirSync, writeFileSync, readdirSync, closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  appInfoDir,
  appInfoManifestPath,
  appStatusPathIn,
  formatNetInfo,
  overlayPreparedPath,
  overlayUpperDir,
  podCreatedPath,
  podDir,
  podManifestPath,
  podPidPath,
  stage1TreeStoreIdPath,
  netInfoPath,
} from '@rktnetes/common';
import { serializePodManifest, podManifest } from '@rktnetes/schema';
import { openStore } from '@rktnetes/store';
import { realSys, unmountTree } from '@rktnetes/sys';
import { busyboxImage, privilegedTest, readStubLog, removeTree, runCommand, stubStage1Image, tmpDir } from '@rktnetes/testkit';
import { listFastOptions, splitFastCommand } from '../src/cli/fast-path';
import { forEachLimit } from '../src/pod/concurrency';
import { GC_CONCURRENCY } from '../src/pod/commands/gc';
import { describePod } from '../src/pod/info';

const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));
const ptest = privilegedTest(test);

test('raw commands after plainly written global flags skip yargs, with the globals yargs would give', (t) => {
  const env = {};
  const s = splitFastCommand(['--dir=/d', '--debug', '--insecure-options=image', 'run', '--net=none', 'img', '--', 'a'], env);
  t.is(s?.name, 'run');
  t.deepEqual(s?.rest, ['--net=none', 'img', '--', 'a']);
  t.deepEqual(s?.globals, {
    debug: true,
    dir: '/d',
    'insecure-options': 'image',
    'local-config': '/etc/rkt',
    'system-config': '/usr/lib/rkt',
    'user-config': '',
    'trust-keys-from-https': false,
  });
  t.is(splitFastCommand(['status', 'abc'], { RKT_DIR: '/x', RKT_DEBUG: '1' })?.globals.dir, '/x');
  t.true(splitFastCommand(['status', 'abc'], { RKT_DEBUG: '1' })?.globals.debug);
  t.false(splitFastCommand(['--debug=false', 'enter', 'abc'], env)?.globals.debug);
  t.is(splitFastCommand(['run-prepared', 'abc'], env)?.name, 'run-prepared');
  t.is(splitFastCommand(['prepare', 'img'], env)?.name, 'prepare');
  // everything else goes through yargs
  for (const args of [
    ['list'],
    ['gc', '--grace-period=0s'],
    ['--dir', '-d', 'run', 'img'],
    ['--dir', '--debug', 'run', 'img'],
    ['--dir=/a', '--dir=/b', 'run', 'img'],
    ['--debug=yes', 'run', 'img'],
    ['--nope=1', 'run', 'img'],
    ['-h', 'run'],
    ['run', '--help'],
    ['status', '-h', 'abc'],
    ['--', 'run'],
    [],
  ]) {
    t.is(splitFastCommand(args, env), undefined, args.join(' '));
  }
  // a value flag's value as the next word
  const spaced = splitFastCommand(['--dir', '/d', '--local-config', '/e', '--debug', 'run', 'img'], env);
  t.is(spaced?.name, 'run');
  t.deepEqual(spaced?.rest, ['img']);
  t.like(spaced?.globals, { dir: '/d', 'local-config': '/e', debug: true });
  t.is(splitFastCommand(['--dir', '/d', '--dir=/e', 'run', 'img'], env), undefined, 'twice');
  t.is(splitFastCommand(['--dir'], env), undefined, 'no value');
  // a --help after `--` belongs to the app
  t.is(splitFastCommand(['run', 'img', '--', '--help'], env)?.name, 'run');
});

test('list with plainly written flags skips yargs; global flags may follow it', (t) => {
  const globals = splitFastCommand(['status', 'x'], {})!.globals;
  t.deepEqual(listFastOptions([], globals), { full: false, noLegend: false, format: '' });
  t.deepEqual(listFastOptions(['--full', '--no-legend=true', '--format=json'], globals), { full: true, noLegend: true, format: 'json' });
  t.deepEqual(listFastOptions(['--full=false'], globals), { full: false, noLegend: false, format: '' });
  t.deepEqual(listFastOptions(['--dir=/d'], globals), { full: false, noLegend: false, format: '' });
  t.is(globals.dir, '/d');
  for (const rest of [['--format', 'json'], ['--full=yes'], ['--full', '--full'], ['extra'], ['-h'], ['--help'], ['--no-full']]) {
    t.is(listFastOptions(rest, { ...globals }), undefined, rest.join(' '));
  }
});

test('forEachLimit runs every item, never more than the limit at once, and rejects with the first error', async (t) => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await forEachLimit([...Array(20).keys()], 3, async (i) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 2 + (i % 4)));
    seen.push(i);
    running--;
  });
  t.is(peak, 3);
  t.deepEqual([...seen].sort((a, b) => a - b), [...Array(20).keys()]);
  await forEachLimit([], 4, async () => t.fail());
  await t.throwsAsync(
    forEachLimit([1, 2, 3], 2, async (i) => {
      if (i === 2) throw new Error('boom');
    }),
    { message: 'boom' },
  );
  t.true(GC_CONCURRENCY >= 2 && GC_CONCURRENCY <= 8);
});

test('describePod reads a pod that ran, and tolerates missing files', async (t) => {
  const dir = await tmpDir('describe');
  t.teardown(() => removeTree(dir));
  const image = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app', labels: [{ name: 'version', value: '2.0' }] });
  const manifest = podManifest({ apps: [{ name: 'one' }, { name: 'two' }] });
  const make = (uuid: string, withInfo: boolean) => {
    const pod = podDir(dir, 'run', uuid);
    mkdirSync(pod, { recursive: true });
    writeFileSync(podManifestPath(pod), serializePodManifest(manifest));
    closeSync(openSync(podCreatedPath(pod), 'a'));
    closeSync(openSync(overlayPreparedPath(pod), 'a'));
    writeFileSync(stage1TreeStoreIdPath(pod), 'deps-sha512-aa');
    if (withInfo) {
      for (const app of ['one', 'two']) {
        mkdirSync(appInfoDir(pod, app), { recursive: true });
        writeFileSync(appInfoManifestPath(pod, app), image);
      }
      const upper = overlayUpperDir(pod, 'deps-sha512-aa');
      mkdirSync(join(upper, 'rkt/status'), { recursive: true });
      writeFileSync(appStatusPathIn(upper, 'one'), '3\n');
      writeFileSync(podPidPath(pod), '4242\n');
      writeFileSync(netInfoPath(pod), formatNetInfo([{ netName: 'default', netConf: 'c', pluginPath: 'p', ifName: 'eth0', ip: '172.16.28.9', args: '', mask: '255.255.255.0' }]));
    }
    return pod;
  };
  const full = make('11111111-2222-4333-8444-555555555555', true);
  const d = await describePod({ uuid: '11111111-2222-4333-8444-555555555555', path: full, dir: 'run', state: 'exited' });
  t.deepEqual(d.errors, []);
  t.is(d.pid, 4242);
  t.deepEqual(
    d.apps.map((a) => [a.name, a.imageName, a.exitCode]),
    [
      ['one', 'example.com/app:2.0', 3],
      ['two', 'example.com/app:2.0', undefined],
    ],
  );
  t.is(d.networks[0]?.ip, '172.16.28.9');
  t.truthy(d.created);
  t.truthy(d.started);
  const bare = make('21111111-2222-4333-8444-555555555555', false);
  const b = await describePod({ uuid: '21111111-2222-4333-8444-555555555555', path: bare, dir: 'run', state: 'exited' });
  t.deepEqual(b.errors, []);
  t.is(b.pid, undefined);
  t.is(b.started, undefined);
  t.deepEqual(b.networks, []);
  t.deepEqual(
    b.apps.map((a) => [a.imageName, a.exitCode]),
    [
      ['--', undefined],
      ['--', undefined],
    ],
  );
});

/** A data dir with the stub stage1 and busybox in its store. */
async function stubEnv(t: import('ava').ExecutionContext, behaviour: { runSleepMs?: number } = {}) {
  const dir = await tmpDir('scale');
  const data = join(dir, 'data');
  const logDir = join(dir, 'log');
  const cfg = join(dir, 'cfg');
  for (const d of [data, logDir, cfg]) mkdirSync(d, { recursive: true });
  const globals = [`--dir=${data}`, `--local-config=${cfg}`, `--system-config=${cfg}`];
  const rkt = (args: string[], env?: NodeJS.ProcessEnv) => runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: 120_000, ...(env ? { env } : {}) });
  t.teardown(async () => {
    // pods still running after a failure
    for (const uuid of existsSync(join(data, 'pods', 'run')) ? readdirSync(join(data, 'pods', 'run')) : []) await rkt(['stop', '--force', uuid]);
  });
  t.teardown(async () => {
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const seed = async (image: Buffer) => {
    const file = join(dir, `seed-${Math.random().toString(16).slice(2)}.aci`);
    writeFileSync(file, image);
    const store = openStore(data);
    try {
      return (await store.importImage(file)).key;
    } finally {
      store.close();
    }
  };
  const stage1 = await seed(await stubStage1Image({ logDir, appExitCode: 3, ...behaviour }));
  const image = await seed(await busyboxImage({ name: 'example.com/busybox-probe' }));
  return { dir, data, logDir, rkt, stage1, image };
}

ptest('rkt run started without yargs prints its RKT_TRACE steps and passes the app status through', async (t) => {
  const env = await stubEnv(t);
  const r = await env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image], { ...process.env, RKT_TRACE: '1' });
  t.is(r.code, 3, r.stderr);
  const steps = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('trace: '))
    .map((l) => l.split(' '));
  t.deepEqual(
    steps.map((s) => s[1]),
    ['stage0.node-ready', 'stage0.cli', 'stage0.parsed', 'stage0.stage1-image', 'stage0.app-images', 'stage0.prepared', 'rkt.mjs.node-ready', 'rkt.mjs.exec'],
  );
  const ms = steps.map((s) => Number(s[2]));
  for (let i = 2; i < 6; i++) t.true(ms[i]! >= ms[i - 1]!, `${steps[i]![1]} after ${steps[i - 1]![1]}`);
  t.regex(steps[7]![4] ?? '', /\/stage1\/rootfs\/stub-run$/);
  const quiet = await env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image], { ...process.env, RKT_TRACE: '' });
  t.is(quiet.code, 3);
  t.notRegex(quiet.stderr, /trace:/);
  // the yargs-free status prints what the yargs path prints
  const uuid = readdirSync(join(env.data, 'pods', 'run'))[0]!;
  const fast = await env.rkt(['status', uuid]);
  const viaYargs = await runCommand(process.execPath, [RKT, '--dir', env.data, 'status', uuid]);
  t.is(fast.code, 0, fast.stderr);
  t.is(fast.stdout, viaYargs.stdout);
  t.regex(fast.stdout, /app-busybox-probe=3/);
  // (exact times only: the default table says "now" or "1 second ago" depending on when it runs)
  for (const flags of [['--full'], ['--full', '--no-legend'], ['--format=json']]) {
    const a = await env.rkt(['list', ...flags]);
    const b = await runCommand(process.execPath, [RKT, '--dir', env.data, 'list', ...flags]);
    t.is(a.code, 0, a.stderr);
    t.is(a.stdout, b.stdout, flags.join(' '));
  }
});

ptest('gc collects many exited pods at once, running the stage1 gc once for each', async (t) => {
  const env = await stubEnv(t);
  const n = GC_CONCURRENCY * 2 + 1;
  for (let i = 0; i < n; i++) t.is((await env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image])).code, 3);
  const g = await env.rkt(['gc', '--grace-period=0s']);
  t.is(g.code, 0, g.stderr);
  t.is(g.stdout.split('\n').filter((l) => l.startsWith('Garbage collecting pod')).length, n);
  const gcs = (await readStubLog(env.logDir)).filter((i) => i.entrypoint === 'gc');
  t.is(gcs.length, n);
  t.is(new Set(gcs.map((i) => i.argv[i.argv.length - 1])).size, n);
  for (const s of ['run', 'exited-garbage', 'garbage']) t.deepEqual(readdirSync(join(env.data, 'pods', s)), [], s);
  t.false((await readFile('/proc/self/mountinfo', 'utf8')).includes(env.data));
  t.false(existsSync(join(env.data, 'pods', 'run', 'x')));
});

ptest('stop stops many pods at once, printing each', async (t) => {
  const env = await stubEnv(t, { runSleepMs: -1 });
  const n = 5;
  const runs = [...Array(n).keys()].map(() => env.rkt(['run', `--stage1-hash=${env.stage1}`, env.image]));
  const running = async () => {
    const out: string[] = [];
    const dir = join(env.data, 'pods', 'run');
    for (const uuid of existsSync(dir) ? readdirSync(dir) : []) if (/\npid=/.test((await env.rkt(['status', uuid])).stdout)) out.push(uuid);
    return out;
  };
  let uuids: string[] = [];
  for (let i = 0; i < 600 && uuids.length < n; i++) {
    uuids = await running();
    if (uuids.length < n) await new Promise((r) => setTimeout(r, 100));
  }
  t.is(uuids.length, n);
  const s = await env.rkt(['stop', ...uuids]);
  t.is(s.code, 0, s.stderr);
  t.deepEqual(s.stdout.split('\n').filter(Boolean).sort(), uuids.map((u) => `"${u}"`).sort());
  for (const r of await Promise.all(runs)) t.is(r.code, 143);
  t.is((await readStubLog(env.logDir)).filter((i) => i.entrypoint === 'stop').length, n);
});
