/**
 * End to end: rkt run with the real fly stage1 (packages/stage1-fly/dist/stage1-fly.aci) and a
 * busybox app with the probe. Needs root and the built fly image.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@rktnetes/store';
import { realSys, unmountTree } from '@rktnetes/sys';
import {
  assertNoLeaks,
  busyboxImage,
  hasBusybox,
  isRoot,
  leakCheck,
  parseProbeOutput,
  removeTree,
  runCommand,
  testIf,
  tmpDir,
  type CommandResult,
} from '@rktnetes/testkit';

const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));
const FLY = fileURLToPath(new URL('../../stage1-fly/dist/stage1-fly.aci', import.meta.url));
const ftest = testIf(test, isRoot() && existsSync(FLY) && hasBusybox(), 'needs root, busybox and a built stage1-fly');

interface Env {
  dir: string;
  data: string;
  image: string;
  rkt(args: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult>;
}

async function flyEnv(t: ExecutionContext): Promise<Env> {
  const dir = await tmpDir('fly');
  const data = join(dir, 'data');
  const cfg = join(dir, 'cfg');
  await mkdir(data, { recursive: true });
  await mkdir(cfg, { recursive: true });
  const globals = ['--dir', data, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg];
  const rkt: Env['rkt'] = async (args, env) => {
    for (let attempt = 0; ; attempt++) {
      if (!existsSync(RKT) && attempt < 120) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const r = await runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: 120_000, ...(env ? { env } : {}) });
      if (attempt < 120 && r.code !== 0 && r.stderr.includes(`Cannot find module '${RKT}'`)) continue;
      return r;
    }
  };
  t.teardown(async () => {
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const file = join(dir, 'busybox.aci');
  await writeFile(file, await busyboxImage({ name: 'example.com/busybox-probe', app: { environment: [{ name: 'IMAGE_VAR', value: 'image' }] } }));
  const store = openStore(data);
  let image: string;
  try {
    image = (await store.importImage(file)).key;
  } finally {
    store.close();
  }
  return { dir, data, image, rkt };
}

const FLY_FLAG = '--stage1-from-dir=stage1-fly.aci';

ftest('the app output and exit status come back from rkt run', async (t) => {
  const env = await flyEnv(t);
  const r = await env.rkt(['run', FLY_FLAG, env.image, '--exec=/bin/sh', '--', '-c', 'echo out; echo err >&2; exit 3']);
  t.is(r.code, 3, r.stderr);
  t.is(r.stdout, 'out\n');
  t.regex(r.stderr, /err/);
  const list = await env.rkt(['list', '--no-legend']);
  t.regex(list.stdout, /busybox-probe\t+example\.com\/busybox-probe\t+exited/);
});

ftest('user, group and environment as the command line says, with rkt precedence', async (t) => {
  const env = await flyEnv(t);
  const envFile = join(env.dir, 'env');
  await writeFile(envFile, 'FROM_FILE=file\nOVER=file\n');
  const r = await env.rkt(
    [
      'run',
      FLY_FLAG,
      '--inherit-env',
      `--set-env-file=${envFile}`,
      '--set-env=OVER=set',
      '--set-env=SET_ONLY=set',
      env.image,
      '--user=1000',
      '--group=1001',
      '--environment=OVER=app',
      '--environment=IMAGE_VAR=app',
    ],
    { ...process.env, HOST_VAR: 'host', OVER: 'host', IMAGE_VAR: 'host' },
  );
  t.is(r.code, 0, r.stderr);
  const p = parseProbeOutput(r.stdout);
  t.is(p.uid, 1000);
  t.is(p.gid, 1001);
  t.is(p.env.HOST_VAR, 'host');
  t.is(p.env.FROM_FILE, 'file');
  t.is(p.env.SET_ONLY, 'set');
  t.is(p.env.OVER, 'app');
  t.is(p.env.IMAGE_VAR, 'app');
  t.is(p.env.AC_APP_NAME, 'busybox-probe');
});

ftest('a read-only host volume cannot be written by the app', async (t) => {
  const env = await flyEnv(t);
  const [rw, ro] = [join(env.dir, 'rw'), join(env.dir, 'ro')];
  await mkdir(rw);
  await mkdir(ro);
  const run = (vol: string, readOnly: boolean) =>
    env.rkt(['run', FLY_FLAG, `--volume=${vol},kind=host,source=${join(env.dir, vol)},readOnly=${readOnly}`, env.image, `--mount=volume=${vol},target=/${vol}`, '--', '--write', `/${vol}/report`]);
  const a = await run('rw', false);
  t.is(a.code, 0, a.stderr);
  t.regex(a.stdout, /^write=ok$/m);
  t.true(existsSync(join(rw, 'report')));
  const b = await run('ro', true);
  t.is(b.code, 0, b.stderr);
  t.regex(b.stdout, /^write=error$/m);
  t.false(existsSync(join(ro, 'report')));
});

ftest('fly refuses pods with several apps; rkt reports it with status 254', async (t) => {
  const env = await flyEnv(t);
  const r = await env.rkt(['run', FLY_FLAG, env.image, '--name=one', env.image, '--name=two']);
  t.is(r.code, 254);
  t.regex(r.stderr, /single app/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

ftest('ten concurrent rkt run, then gc leaves no mounts behind', async (t) => {
  const env = await flyEnv(t);
  const check = await leakCheck({ match: env.dir, netns: false, veth: false, iptables: false, cgroups: false });
  const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => env.rkt(['run', FLY_FLAG, env.image, '--exec=/bin/sh', '--', '-c', `exit ${i}`])));
  t.deepEqual(
    runs.map((r) => r.code),
    Array.from({ length: 10 }, (_, i) => i),
    runs.map((r) => r.stderr).join(''),
  );
  const mounted = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(env.data));
  t.is(mounted.length, 20, 'stage0 leaves the stage1 and app overlays until gc');
  const g = await env.rkt(['gc', '--grace-period=0s']);
  t.is(g.code, 0, g.stderr);
  t.is(g.stdout.trim().split('\n').length, 10);
  await assertNoLeaks(t, check);
});
