/**
 * Crash consistency: `kill -9` of rkt (and of whatever it has become or started: stage1 run,
 * the coreos init, stage1 gc, decompressors) at randomised moments during fetch, render,
 * prepare, run, run-prepared and gc, on one data dir whose damage accumulates. After every kill:
 * the store's integrity check finds no problem (no half image, no incomplete tree), the killed
 * pod reads as a sane state, and the same operation run again, unkilled, works. At the end every
 * pod is stopped and gc'd, and nothing may be left: no pod directory in any state, no mount,
 * cgroup, process, netns, veth or iptables rule of the test, and the store has no garbage.
 *
 * Randomness is seeded: the seed is printed; `FAULT_SEED=<seed>` replays the same schedule of
 * operations, delays and kill scopes (timing still varies with the machine). `FAULT_KILL_POINTS`
 * sets the number of kill points (default 50; `stress/crash.sh` runs 500).
 * Needs root (overlay mounts, namespaces, cgroups).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxImage, privilegedTest } from '@rktnetes/testkit';
import { allPods, createFaultEnv, waitForBundles, lines, parseStatus, podsIn, until, type FaultEnv, type Flavor, type KillScope, type Spawned } from './helpers/env';
import { pidsInGroup, processesInGroups, scopedLeakCheck } from './helpers/leaks';
import { createRng, intFromEnv, seedFromEnv, type Rng } from './helpers/random';
import { fsckProblems, storeFsck } from './helpers/snapshot';

const ptest = privilegedTest(test);
const POINTS = intFromEnv('FAULT_KILL_POINTS', 50);
const SEED = seedFromEnv();

type Kind = 'fetch' | 'render' | 'prepare' | 'run' | 'run-prepared' | 'gc' | 'image-gc';

/** Share of kill points per operation (sums to 1). */
const MIX: Array<[Kind, number]> = [
  ['fetch', 0.22],
  ['render', 0.1],
  ['prepare', 0.14],
  ['run', 0.24],
  ['run-prepared', 0.08],
  ['gc', 0.16],
  ['image-gc', 0.06],
];

/** A first guess of each operation's duration (ms); replaced by measurements as the test goes. */
const INITIAL_ESTIMATE: Record<Kind, number> = { fetch: 400, render: 500, prepare: 700, run: 1200, 'run-prepared': 1000, gc: 700, 'image-gc': 300 };

/** The schedule: `points` kinds in the mix's proportions, shuffled by `rng`. */
function schedule(rng: Rng, points: number): Kind[] {
  const out: Kind[] = [];
  for (const [kind, share] of MIX) for (let i = 0; i < Math.round(share * points); i++) out.push(kind);
  while (out.length < points) out.push(rng.pick(MIX.map(([k]) => k)));
  out.length = points;
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface PointRecord {
  n: number;
  kind: Kind;
  delayMs: number;
  scope: KillScope;
  /** what the killed process was at the moment of the kill */
  phase: ReturnType<Spawned['phase']>;
  /** the process group held more than the rkt process (a child: stage1 gc, decompressor, app) */
  groupBusy: boolean;
  /** the operation had already finished when the kill came */
  finished: boolean;
}

interface World {
  env: FaultEnv;
  rng: Rng;
  base: string;
  images: number;
  estimate: Record<Kind, number>;
  /** CNI networking works (coreos `--net=default`) */
  cni: boolean;
  own(uuid: string): void;
}

/** A fresh image (so that fetch and render have real work); sometimes large, sometimes gzip'd. */
async function freshImage(w: World): Promise<string> {
  const i = w.images++;
  const big = w.rng.chance(0.35);
  const aci = await busyboxImage({
    name: `example.com/crash-${i}`,
    exec: ['/bin/sh', '-c', 'echo ok'],
    extraFiles: { 'pad/random': randomBytes(big ? 12 << 20 : 64 << 10), 'pad/zeros': Buffer.alloc(big ? 4 << 20 : 0) },
    compression: w.rng.chance(0.5) ? 'gzip' : 'none',
  });
  return w.env.input(`crash-${i}.aci`, aci);
}

/** coreos networking: the CNI default network when it works here, else host or none. */
function coreosNet(w: World): string {
  if (w.cni && w.rng.chance(0.5)) return '--net=default';
  return w.rng.chance(0.5) ? '--net=host' : '--net=none';
}

const runArgs = (w: World, flavor: Flavor, uuidFile: string, image: string) => [
  'run',
  `--stage1-hash=${w.env.stage1[flavor]}`,
  ...(flavor === 'coreos' ? [coreosNet(w)] : []),
  `--uuid-file-save=${uuidFile}`,
  image,
  '--exec=/bin/sh',
  '--',
  '-c',
  'echo ok; sleep 0.3',
];

/** Runs `argv` unkilled and requires success; returns its duration. */
async function mustWork(w: World, what: string, argv: string[], check?: (stdout: string) => boolean): Promise<number> {
  const start = Date.now();
  const r = await w.env.rkt(argv);
  const ms = Date.now() - start;
  if (r.code !== 0 || (check && !check(r.stdout))) {
    throw new Error(`${what} after a kill failed (status ${r.code}, seed ${w.rng.seed}): ${argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return ms;
}

/** Reads a uuid file written by `--uuid-file-save`, if the kill came after it was written. */
function uuidFrom(file: string): string | undefined {
  try {
    const u = readFileSync(file, 'utf8').trim();
    return /^[0-9a-f-]{36}$/.test(u) ? u : undefined;
  } catch {
    return undefined;
  }
}

/** Builds one kill point: the argv to kill, and the unkilled repeat that must work afterwards. */
async function planPoint(w: World, kind: Kind, n: number): Promise<{ argv: string[]; uuidFile?: string; repeat: () => Promise<number> }> {
  const { env, rng } = w;
  const uuidFile = join(env.inputs, `uuid-${n}`);
  const flavor: Flavor = rng.chance(0.5) ? 'coreos' : 'fly';
  switch (kind) {
    case 'fetch': {
      const file = await freshImage(w);
      return {
        argv: ['fetch', '--insecure-options=image', file],
        repeat: () => mustWork(w, 'fetch', ['fetch', '--insecure-options=image', '--full', file], (o) => /^sha512-[0-9a-f]{128}$/m.test(o)),
      };
    }
    case 'render': {
      const key = await env.fetch(await freshImage(w));
      const out = join(env.outside, `render-${n}`);
      return {
        argv: ['image', 'render', '--overwrite', key, out],
        repeat: () => mustWork(w, 'image render', ['image', 'render', '--overwrite', key, out]),
      };
    }
    case 'prepare': {
      const image = rng.chance(0.6) ? await freshImage(w) : w.base;
      // rkt prepare has no --uuid-file-save (as in rkt): its pod is found in the data dir
      const argv = ['prepare', '--quiet', '--insecure-options=image', `--stage1-hash=${env.stage1[flavor]}`, image];
      return { argv, repeat: () => mustWork(w, 'prepare', argv, (o) => /^[0-9a-f-]{36}$/m.test(o)) };
    }
    case 'run': {
      const image = rng.chance(0.4) ? await freshImage(w) : w.base;
      return {
        argv: ['--insecure-options=image', ...runArgs(w, flavor, uuidFile, image)],
        uuidFile,
        repeat: () => mustWork(w, 'run', ['--insecure-options=image', ...runArgs(w, flavor, `${uuidFile}-repeat`, image)], (o) => o.includes('ok')),
      };
    }
    case 'run-prepared': {
      const p = await env.rkt(['prepare', '--quiet', `--stage1-hash=${env.stage1[flavor]}`, w.base, '--exec=/bin/sh', '--', '-c', 'echo ok; sleep 0.3']);
      if (p.code !== 0) throw new Error(`prepare for run-prepared failed: ${p.stderr}`);
      const uuid = p.stdout.trim();
      w.own(uuid);
      return {
        argv: ['run-prepared', ...(flavor === 'coreos' ? ['--net=host'] : []), uuid],
        repeat: async () => {
          const q = await env.rkt(['prepare', '--quiet', `--stage1-hash=${env.stage1[flavor]}`, w.base]);
          if (q.code !== 0) throw new Error(`prepare failed after a killed run-prepared: ${q.stderr}`);
          w.own(q.stdout.trim());
          return mustWork(w, 'run-prepared', ['run-prepared', ...(flavor === 'coreos' ? ['--net=host'] : []), q.stdout.trim()], (o) => o.includes('ok'));
        },
      };
    }
    case 'gc': {
      // something for stage1 gc to do: an exited pod of either flavor
      await mustWork(w, 'run before gc', runArgs(w, flavor, `${uuidFile}-pre`, w.base), (o) => o.includes('ok'));
      const argv = ['gc', '--grace-period=0s', ...(rng.chance(0.3) ? ['--expire-prepared=0s'] : [])];
      return {
        argv,
        repeat: async () => {
          const ms = await mustWork(w, 'gc', ['gc', '--grace-period=0s']);
          const stuck = [...podsIn(env, 'exited-garbage'), ...podsIn(env, 'garbage')];
          if (stuck.length) throw new Error(`pods left in garbage after an unkilled gc (seed ${rng.seed}): ${stuck.join(' ')}`);
          return ms;
        },
      };
    }
    case 'image-gc':
      return { argv: ['image', 'gc'], repeat: () => mustWork(w, 'image gc', ['image', 'gc']) };
  }
}

/** Waits until no process of the killed run's group is left (a pid-only kill leaves children running to completion). */
async function groupGone(pgid: number, what: string): Promise<void> {
  await until(`the processes of ${what} to end`, () => (processesInGroups(new Set([pgid])).length === 0 ? true : undefined), 60_000, 50);
}

/** Every pod directory, as `<state dir>/<uuid>`. */
const podDirs = (env: FaultEnv) => ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'].flatMap((d) => podsIn(env, d).map((u) => `${d}/${u}`));

/** The state a killed pod may be in, once its processes are gone. */
const SANE_STATES = new Set(['embryo', 'preparing', 'aborted prepare', 'prepared', 'exited', 'exited garbage', 'garbage']);

async function checkKilledPod(w: World, uuid: string | undefined, label: string): Promise<void> {
  if (!uuid) return;
  w.own(uuid);
  const st = await w.env.rkt(['status', uuid]);
  if (st.code !== 0) {
    // discarded (a failed prepare removes its directory) or moved on to garbage: a one-line not-found
    if (!/not found|no pod/i.test(st.stderr) || lines(st.stderr).length !== 1) throw new Error(`${label}: rkt status ${uuid} failed oddly (${st.code}): ${st.stderr}`);
    return;
  }
  const state = parseStatus(st.stdout).state ?? '';
  if (!SANE_STATES.has(state)) throw new Error(`${label}: pod ${uuid} is "${state}" after its processes were killed`);
}

ptest.serial(`kill -9 at ${POINTS} random points of fetch, render, prepare, run and gc loses nothing`, async (t) => {
  if (!(await waitForBundles(['coreos', 'fly']))) return t.fail('the stage0 and stage1 bundles are not built (npm run build)');
  t.timeout(POINTS * 8_000 + 120_000);
  const rng = createRng(SEED);
  t.log(`seed ${SEED} (replay with FAULT_SEED=${SEED}), ${POINTS} kill points`);
  const env = await createFaultEnv('crash', { stage1: ['coreos', 'fly'] });
  t.teardown(() => env.dispose());
  const leaks = await scopedLeakCheck(env.root);
  const w: World = {
    env,
    rng,
    base: '',
    images: 0,
    estimate: { ...INITIAL_ESTIMATE },
    cni: false,
    own: (u) => leaks.own(u),
  };
  w.base = await env.fetch(env.input('base.aci', await busyboxImage({ name: 'example.com/crash-base', exec: ['/bin/sh', '-c', 'echo ok'] })));
  const probe = await env.rkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=default', `--uuid-file-save=${join(env.inputs, 'uuid-probe')}`, w.base]);
  w.cni = probe.code === 0;
  t.log(w.cni ? 'CNI networking works: coreos runs use --net=default, host or none' : `no CNI networking (${probe.stderr.trim()}): coreos runs use --net=host or none`);

  // an embryo whose creator died right after mkdir (rarely hit by the kills: the window is tiny)
  const deadEmbryo = '00000000-0000-4000-8000-00000000e4b0';
  mkdirSync(join(env.data, 'pods', 'embryo', deadEmbryo), { recursive: true, mode: 0o750 });

  const records: PointRecord[] = [];
  const plan = schedule(rng, POINTS);
  for (const [i, kind] of plan.entries()) {
    const n = i + 1;
    const point = await planPoint(w, kind, n);
    const delayMs = Math.round(rng.next() * w.estimate[kind] * 0.95);
    // the process alone (rkt, or the stage1 it has become), its whole group, or only what it started
    // (only run, run-prepared and gc start children: stage1's init and apps, stage1 gc)
    const scope: KillScope = rng.pick(
      kind === 'gc' ? ['process', 'group', 'children', 'children'] : kind === 'run' || kind === 'run-prepared' ? ['process', 'process', 'group', 'group', 'children'] : ['process', 'group'],
    );
    const label = `kill point ${n}/${POINTS} (${kind}, +${delayMs}ms, ${scope}, seed ${SEED})`;
    const child = env.spawnRkt(point.argv, { timeoutMs: 120_000 });
    let finished = false;
    const exited = child.done.then((r) => {
      finished = true;
      return r;
    });
    await Promise.race([exited, new Promise((r) => setTimeout(r, delayMs))]);
    // a kill of what rkt started waits for it to exist (stage1 gc, a decompressor, the pod's init)
    for (let i = 0; scope === 'children' && !finished && i < 300 && pidsInGroup(child.pid).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const phase = child.phase();
    const groupBusy = processesInGroups(new Set([child.pid])).length > 1;
    child.kill(scope);
    const result = await exited;
    records.push({ n, kind, delayMs, scope, phase, groupBusy, finished: finished && result.signal === null });
    await groupGone(child.pid, label);

    // the store: no problem (half image, incomplete tree, missing blob); trees re-hashed now and then
    const fsck = await storeFsck(env.data, { verifyTrees: n % 5 === 0 });
    t.deepEqual(fsckProblems(fsck), [], `${label}: store problems`);
    for (const u of allPods(env)) w.own(u);
    await checkKilledPod(w, point.uuidFile ? uuidFrom(point.uuidFile) : undefined, label);
    // the same operation, unkilled, works
    const took = await point.repeat();
    w.estimate[kind] = Math.round(0.3 * w.estimate[kind] + 0.7 * took);
    for (const u of allPods(env)) w.own(u);
  }

  // summary figures for docs/reliability.md
  const by = (f: (r: PointRecord) => string) => records.reduce<Record<string, number>>((m, r) => ((m[f(r)] = (m[f(r)] ?? 0) + 1), m), {});
  t.log(`kills by operation: ${JSON.stringify(by((r) => r.kind))}`);
  t.log(`kills by phase: ${JSON.stringify(by((r) => (r.finished ? 'after exit' : r.phase + (r.groupBusy ? '+children' : ''))))}`);
  t.log(`operations that had ended before their kill: ${JSON.stringify(by((r) => (r.finished ? r.kind : 'killed in flight')))}`);
  t.log(`kill scope: ${JSON.stringify(by((r) => r.scope))}`);

  // the end: a running and a prepared pod besides whatever the kills left, then gc of pods in any state
  const running = env.spawnRkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=none', `--uuid-file-save=${join(env.inputs, 'uuid-final')}`, w.base, '--exec=/bin/sleep', '--', '600']);
  const runningUuid = await until('the final pod to run', async () => {
    const u = uuidFrom(join(env.inputs, 'uuid-final'));
    if (!u) return undefined;
    return /^state=running$/m.test((await env.rkt(['status', u])).stdout) ? u : undefined;
  });
  w.own(runningUuid);
  const prepared = await env.rkt(['prepare', '--quiet', `--stage1-hash=${env.stage1.fly}`, w.base]);
  t.is(prepared.code, 0, prepared.stderr);
  w.own(prepared.stdout.trim());
  const seen = new Map<string, number>();
  for (const u of allPods(env)) {
    w.own(u);
    const st = parseStatus((await env.rkt(['status', u])).stdout).state ?? 'unknown';
    seen.set(st, (seen.get(st) ?? 0) + 1);
  }
  t.log(`pods before the final gc, by state: ${JSON.stringify(Object.fromEntries(seen))}`);
  t.is((await env.rkt(['stop', runningUuid])).code, 0);
  await running.done;
  // gc removes an unlocked embryo once it is older than a creator could take to rename it (10 s)
  for (const u of podsIn(env, 'embryo')) {
    const age = Date.now() - statSync(join(env.data, 'pods', 'embryo', u)).ctimeMs;
    if (age < 10_500) await new Promise((r) => setTimeout(r, 10_500 - age));
  }
  const gc = await env.rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  t.is(gc.code, 0, gc.stderr);
  const imageGc = await env.rkt(['image', 'gc']);
  t.is(imageGc.code, 0, imageGc.stderr);
  t.deepEqual(podDirs(env), [], 'pod directories left after gc');
  const final = await storeFsck(env.data, { verifyBlobs: true, verifyTrees: true });
  t.deepEqual(fsckProblems(final), [], 'store problems at the end');
  t.deepEqual(final.garbage.map((g) => `${g.kind}: ${g.path}`), [], 'store garbage left after rkt image gc');
  t.deepEqual(readdirSync(join(env.data, 'cas', 'tmp')), [], 'store temp files left');
  t.deepEqual(await leaks.compare(env.pgids), [], 'resources leaked');
  // and rkt still works
  const last = await env.rkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=host', w.base]);
  t.is(last.code, 0, last.stderr);
  t.regex(last.stdout, /ok/);
});

ptest.serial('a killed stage1 gc keeps its pod for the next gc, which releases everything', async (t) => {
  if (!(await waitForBundles(['coreos']))) return t.fail('the stage0 and stage1-coreos bundles are not built (npm run build)');
  t.timeout(180_000);
  const env = await createFaultEnv('crash-gc', { stage1: ['coreos'] });
  t.teardown(() => env.dispose());
  const leaks = await scopedLeakCheck(env.root);
  const base = await env.fetch(env.input('base.aci', await busyboxImage({ name: 'example.com/crash-gc', exec: ['/bin/true'] })));
  const cni = (await env.rkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=default', base])).code === 0;
  if (!cni) t.log('no CNI networking: the pods use --net=none (cgroups and mounts only)');
  await env.rkt(['gc', '--grace-period=0s']);
  let keptTotal = 0;
  // kill the stage1 gc entrypoint at several moments of its life
  for (const afterMs of [0, 30, 100, 250]) {
    const r = await env.rkt(['run', `--stage1-hash=${env.stage1.coreos}`, cni ? '--net=default' : '--net=none', `--uuid-file-save=${join(env.inputs, `u-${afterMs}`)}`, base]);
    t.is(r.code, 0, r.stderr);
    const uuid = readFileSync(join(env.inputs, `u-${afterMs}`), 'utf8').trim();
    leaks.own(uuid);
    const gc = env.spawnRkt(['gc', '--grace-period=0s']);
    let killed = false;
    for (let i = 0; i < 1000 && !killed && gc.phase() !== 'gone'; i++) {
      const children = pidsInGroup(gc.pid).filter((p) => p !== gc.pid);
      if (children.length) {
        await new Promise((res) => setTimeout(res, afterMs));
        gc.kill('children');
        killed = true;
      } else await new Promise((res) => setTimeout(res, 5));
    }
    const res = await gc.done;
    t.is(res.code, 0, res.stderr);
    // gc works on several pods at once: the killed entrypoint may be another kept pod's retry
    const kept = [...res.stderr.matchAll(/problem performing stage1 GC on "([0-9a-f-]{36})".*keeping the pod for a later gc/g)].map((m) => m[1]!);
    if (killed) t.true(kept.length > 0 || !/status 137/.test(res.stderr), res.stderr);
    for (const u of kept) t.true(allPods(env).includes(u), `pod ${u} must stay until its stage1 gc succeeds`);
    keptTotal += kept.length;
  }
  t.log(`${keptTotal} pods kept after their stage1 gc was killed`);
  t.true(keptTotal > 0, 'no stage1 gc was killed: the test did not test anything');
  const final = await env.rkt(['gc', '--grace-period=0s']);
  t.is(final.code, 0, final.stderr);
  t.deepEqual(allPods(env), []);
  t.deepEqual(await leaks.compare(env.pgids), [], 'resources leaked');
});
