/**
 * End to end: an OCI image (a busybox layer with the probe, then layers with a whiteout and a
 * Docker volume's seed content) fetched with `oci:` and run with the real stage1-coreos
 * (`--net=host`) and stage1-fly images: the image config's Entrypoint, Cmd, Env, WorkingDir
 * and User apply, the whited-out file is absent, arguments after the image replace Cmd, the
 * implicit volume starts with the image's content, `rkt export` gives the app's files, and gc
 * leaves nothing mounted. Needs root, busybox and the built stage1 images.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@rktnetes/store';
import { realSys, unmountTree } from '@rktnetes/sys';
import {
  assertNoLeaks,
  buildOciLayout,
  busyboxTree,
  findMount,
  hasBusybox,
  isRoot,
  leakCheck,
  listTar,
  parseProbeOutput,
  removeTree,
  runCommand,
  testIf,
  tmpDir,
  type CommandResult,
} from '@rktnetes/testkit';

const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));
const COREOS = fileURLToPath(new URL('../../stage1-coreos/dist/stage1-coreos.aci', import.meta.url));
const FLY = fileURLToPath(new URL('../../stage1-fly/dist/stage1-fly.aci', import.meta.url));
const ready = isRoot() && hasBusybox();
const ctest = testIf(test, ready && existsSync(COREOS), 'needs root, busybox and a built stage1-coreos').serial;
const ftest = testIf(test, ready && existsSync(FLY), 'needs root, busybox and a built stage1-fly').serial;

/** What the image's default command prints before it execs the probe. */
const DEFAULT_CMD = [
  'echo cmd=default',
  'if [ -e /etc/gone ]; then echo gone=present; else echo gone=absent; fi',
  'echo "seed=$(cat /data/db/seed)"',
  'echo "nested=$(cat /data/db/sub/x)"',
  'echo "hello=$(cat /srv/hello)"',
  'exec /probe',
].join('; ');

interface Env {
  dir: string;
  data: string;
  image: string;
  rkt(args: string[]): Promise<CommandResult>;
}

async function ociEnv(t: ExecutionContext): Promise<Env> {
  const dir = await tmpDir('run-oci');
  const data = join(dir, 'data');
  const cfg = join(dir, 'cfg');
  await mkdir(data, { recursive: true });
  await mkdir(cfg, { recursive: true });
  const globals = ['--dir', data, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg, '--insecure-options=image'];
  const rkt: Env['rkt'] = (args) => runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: 120_000 });
  t.teardown(async () => {
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const layout = join(dir, 'layout');
  await buildOciLayout(layout, {
    ref: 'v1',
    layers: [
      busyboxTree(),
      { 'etc/gone': 'to be whited out', 'data/db/seed': 'seed', 'data/db/sub/x': 'x', srv: { type: 'dir', mode: 0o777 } },
      { 'etc/gone': { type: 'whiteout' }, srv: { type: 'dir', mode: 0o777 }, 'srv/hello': 'hi' },
    ],
    config: {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [DEFAULT_CMD],
      Env: ['FOO=bar', 'PATH=/bin'],
      WorkingDir: '/srv',
      User: 'user',
      Volumes: ['/data/db'],
    },
  });
  const f = await rkt(['fetch', `oci:${layout}:v1`]);
  if (f.code !== 0) throw new Error(`fetch failed: ${f.stderr}`);
  return { dir, data, image: f.stdout.trim(), rkt };
}

/** `key=value` lines printed before the probe's report. */
function before(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    if (line.startsWith('probe.version=')) break;
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Checks a run of the image's default command. */
function assertDefaultRun(t: ExecutionContext, r: CommandResult): void {
  t.is(r.code, 0, r.stderr);
  t.deepEqual(before(r.stdout), { cmd: 'default', gone: 'absent', seed: 'seed', nested: 'x', hello: 'hi' });
  const p = parseProbeOutput(r.stdout);
  t.is(p.uid, 1000, 'User: user');
  t.is(p.gid, 1000, "the user's primary group");
  t.is(p.cwd, '/srv', 'WorkingDir');
  t.is(p.env.FOO, 'bar', 'Env');
  t.truthy(findMount(p, '/data/db'), 'the implicit volume is mounted');
}

const uuidOf = async (env: Env): Promise<string[]> =>
  (await env.rkt(['list', '--no-legend', '--full'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0] ?? '');

async function runs(t: ExecutionContext, env: Env, stage1: string[]): Promise<void> {
  assertDefaultRun(t, await env.rkt(['run', ...stage1, env.image]));

  // arguments replace Cmd; the Entrypoint stays
  const args = await env.rkt(['run', ...stage1, env.image, '--', 'echo cmd=args; echo written > /srv/written && echo wrote=yes; exec /probe']);
  t.is(args.code, 0, args.stderr);
  t.deepEqual(before(args.stdout), { cmd: 'args', wrote: 'yes' });
  t.is(parseProbeOutput(args.stdout).uid, 1000);

  // the pod manifest has the implicit volume, with the image directory's mode and owner
  const uuids = await uuidOf(env);
  t.is(uuids.length, 2);
  for (const uuid of uuids) {
    const m = JSON.parse((await env.rkt(['cat-manifest', uuid])).stdout);
    t.deepEqual(m.volumes, [{ name: 'volume-data-db', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
    t.deepEqual(m.apps[0].mounts, [{ volume: 'volume-data-db', path: '/data/db' }]);
    const exec: string[] = m.apps[0].app.exec;
    t.deepEqual(exec.slice(0, 2), ['/bin/sh', '-c']);
    t.is(exec.length, 3);
  }

  // prepare, then run-prepared in another process: the layers are found again from the tree ID
  const prep = await env.rkt(['prepare', '--quiet', ...stage1.filter((f) => !f.startsWith('--net')), env.image]);
  t.is(prep.code, 0, prep.stderr);
  assertDefaultRun(t, await env.rkt(['run-prepared', ...stage1.filter((f) => f.startsWith('--net')), prep.stdout.trim()]));

  // --no-overlay copies the flattened image
  assertDefaultRun(t, await env.rkt(['run', '--no-overlay', ...stage1, env.image]));
}

/** `rkt export` of the pod that wrote /srv/written: the image's files and the app's, without the whited-out one. */
async function exportWritten(t: ExecutionContext, env: Env): Promise<void> {
  for (const uuid of await uuidOf(env)) {
    const m = JSON.parse((await env.rkt(['cat-manifest', uuid])).stdout);
    if (!String(m.apps[0].app.exec[2]).includes('written')) continue;
    // unmount the app's overlay (as after a reboot): export mounts its upper dir over the layers again
    const appRoot = join(env.data, 'pods', 'run', uuid, 'stage1', 'rootfs', 'opt', 'stage2', 'layout', 'rootfs');
    t.true(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${appRoot} `), 'the app overlay stays mounted until gc');
    realSys().umount2(appRoot, 0);
    const out = join(env.dir, `${uuid}.aci`);
    const e = await env.rkt(['export', uuid, out]);
    t.is(e.code, 0, e.stderr);
    const names = (await listTar(readFileSync(out))).map((n) => n.replace(/\/$/, ''));
    t.true(names.includes('rootfs/srv/written'), 'from the overlay upper dir');
    t.true(names.includes('rootfs/srv/hello'), 'from the top layer');
    t.true(names.includes('rootfs/bin/busybox'), 'from the bottom layer');
    t.false(names.includes('rootfs/etc/gone'), 'whited out');
    return;
  }
  t.fail('no pod wrote /srv/written');
}

/** Pods keep their layered trees (and so the layers) through image gc; pod gc then image gc removes everything. */
async function gcAll(t: ExecutionContext, env: Env): Promise<void> {
  const layers = () => {
    const s = openStore(env.data);
    try {
      return { images: s.listImages().map((i) => i.name), layers: s.listLayers().length, trees: s.listTrees().length };
    } finally {
      s.close();
    }
  };
  const kept = await env.rkt(['image', 'gc', '--grace-period=0s']);
  t.is(kept.code, 0, kept.stderr);
  const mid = layers();
  t.true(mid.images.includes('localhost/layout'), 'used by exited pods');
  t.is(mid.layers, 3);
  t.true(mid.trees >= 2, 'the stage1 and app trees of the pods');
  const g = await env.rkt(['gc', '--grace-period=0s']);
  t.is(g.code, 0, g.stderr);
  const ig = await env.rkt(['image', 'gc', '--grace-period=0s']);
  t.is(ig.code, 0, ig.stderr);
  t.deepEqual(layers(), { images: [], layers: 0, trees: 0 });
}

/** Cgroups (anywhere below /sys/fs/cgroup) that are new since the call and name one of `uuids` (read later). */
async function cgroupChecker(): Promise<(uuids: readonly string[]) => Promise<string[]>> {
  const check = await leakCheck({ mounts: false, processes: false, netns: false, veth: false, iptables: false, cgroupRoots: ['/sys/fs/cgroup'] });
  // systemd-style names escape the dashes of a uuid: match its first group only
  return async (uuids) => (await check()).filter((line) => uuids.some((u) => line.includes(u.slice(0, 8))));
}

ctest('stage1-coreos runs an OCI image with its config, layers, whiteouts and volumes', async (t) => {
  const env = await ociEnv(t);
  const check = await leakCheck({ match: env.dir, netns: false, veth: false, iptables: false, cgroups: false });
  const cgroups = await cgroupChecker();
  await runs(t, env, ['--net=host', `--stage1-path=${COREOS}`]);
  await exportWritten(t, env);
  const uuids = await uuidOf(env);
  await gcAll(t, env);
  await assertNoLeaks(t, check);
  t.deepEqual(await cgroups(uuids), [], 'cgroups leaked');
});

ftest('stage1-fly runs an OCI image with its config, layers, whiteouts and volumes', async (t) => {
  const env = await ociEnv(t);
  const check = await leakCheck({ match: env.dir, netns: false, veth: false, iptables: false, cgroups: false });
  await runs(t, env, [`--stage1-path=${FLY}`]);
  await exportWritten(t, env);
  await gcAll(t, env);
  await assertNoLeaks(t, check);
});
