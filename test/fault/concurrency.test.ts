/**
 * Load: 20 `rkt run` (coreos and fly) and 5 `rkt fetch` of one image file that is not yet in
 * the store, all at once, while a loop runs `rkt gc --grace-period=0s` (and now and then
 * `rkt image gc`) and readers poll the pod list: the v1alpha API's ListPods/ListImages over
 * gRPC when the api-service bundle exists, and `rkt list --format=json` always. Required:
 * zero failures, every run printing its own line, exactly one store entry for the image, no
 * "database is locked" (nor SQLITE_BUSY) reaching a user, unique pod IPs when CNI networking
 * works, and after a final gc nothing left (pods, mounts, cgroups, processes, store garbage).
 *
 * `FAULT_PARALLEL_RUNS` and `FAULT_PARALLEL_FETCHES` change the counts (`stress/concurrency.sh`
 * runs 100 runs). Needs root.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxImage, privilegedTest, type CommandResult } from '@rktnetes/testkit';
import { REPO, allPods, createFaultEnv, waitForBundles, podsIn, until, type FaultEnv } from './helpers/env';
import { scopedLeakCheck } from './helpers/leaks';
import { intFromEnv } from './helpers/random';
import { fsckProblems, storeFsck, storeListing } from './helpers/snapshot';

const ptest = privilegedTest(test);
const RUNS = intFromEnv('FAULT_PARALLEL_RUNS', 20);
const FETCHES = intFromEnv('FAULT_PARALLEL_FETCHES', 5);
const API_BIN = join(REPO, 'packages/api-service/dist/rkt-api-service.mjs');
const API_PROTO = join(REPO, 'packages/api-service/proto/v1alpha/api.proto');
const LOCKED = /database is locked|SQLITE_BUSY/i;

/** A reader of the pod list, polled until stopped; counts calls and collects failures. */
interface Reader {
  name: string;
  calls: number;
  failures: string[];
  stop(): Promise<void>;
}

function poll(name: string, once: () => Promise<string | undefined>, everyMs: number): Reader {
  const r: Reader = { name, calls: 0, failures: [], stop: async () => undefined };
  let running = true;
  const loop = (async () => {
    while (running) {
      const problem = await once().catch((e: unknown) => `threw ${String(e)}`);
      r.calls++;
      if (problem) r.failures.push(problem);
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  r.stop = async () => {
    running = false;
    await loop;
  };
  return r;
}

/** `rkt list --format=json` as a reader. */
function listReader(env: FaultEnv): Reader {
  return poll(
    'rkt list',
    async () => {
      const l = await env.rkt(['list', '--format=json']);
      if (l.code !== 0) return `rkt list failed (${l.code}): ${l.stderr}`;
      JSON.parse(l.stdout);
      return LOCKED.test(l.stderr) ? `rkt list: ${l.stderr}` : undefined;
    },
    150,
  );
}

/** The api-service on a unix socket in the workspace, and a ListPods/ListImages reader. */
async function apiReader(env: FaultEnv): Promise<{ reader: Reader; stop: () => Promise<void> } | undefined> {
  if (!existsSync(API_BIN) || !existsSync(API_PROTO)) return undefined;
  const grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const sock = join(env.root, 'api.sock');
  const child = spawn(process.execPath, [API_BIN, `--dir=${env.data}`, `--listen=unix:${sock}`, '--events-interval=200'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await until('the api-service to be ready', () => (/ready/.test(err) ? true : child.exitCode !== null ? Promise.reject(new Error(`api-service exited: ${err}`)) : undefined), 30_000);
  const def = loader.loadSync(API_PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { v1alpha: { PublicAPI: new (addr: string, creds: unknown) => Record<string, Function> & { close(): void } } };
  const client = new pkg.v1alpha.PublicAPI(`unix:${sock}`, grpc.credentials.createInsecure());
  const call = (method: string, req: object) =>
    new Promise<any>((resolve, reject) => client[method]!.call(client, req, (e: Error | null, res: unknown) => (e ? reject(e) : resolve(res))));
  const reader = poll(
    'api ListPods/ListImages',
    async () => {
      const pods = await call('ListPods', { detail: true });
      const images = await call('ListImages', {});
      if (!Array.isArray(pods.pods) || !Array.isArray(images.images)) return 'malformed response';
      return undefined;
    },
    100,
  );
  return {
    reader,
    stop: async () => {
      await reader.stop();
      client.close();
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      if (LOCKED.test(err)) reader.failures.push(`api-service stderr: ${err}`);
    },
  };
}

/** Whether coreos pods get CNI networking here (`--net=default`); the reason when not. */
async function probeNetworking(env: FaultEnv, image: string): Promise<string | undefined> {
  const r = await env.rkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=default', image]);
  await env.rkt(['gc', '--grace-period=0s']);
  return r.code === 0 ? undefined : r.stderr.trim().split('\n').pop();
}

/** The IPs recorded in the net-info.json of running pods. */
function podIPs(env: FaultEnv): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const uuid of podsIn(env, 'run')) {
    try {
      const info = JSON.parse(readFileSync(join(env.data, 'pods', 'run', uuid, 'net-info.json'), 'utf8')) as Array<{ ip?: string }>;
      out.set(uuid, info.map((n) => n.ip ?? '').filter(Boolean));
    } catch {
      // not (yet) networked
    }
  }
  return out;
}

ptest.serial(`${RUNS} parallel runs, ${FETCHES} parallel fetches of one image, a gc loop and API readers: zero failures`, async (t) => {
  if (!(await waitForBundles(['coreos', 'fly']))) return t.fail('the stage0 and stage1 bundles are not built (npm run build)');
  t.timeout(RUNS * 6_000 + 120_000);
  const env = await createFaultEnv('conc', { stage1: ['coreos', 'fly'] });
  t.teardown(() => env.dispose());
  const leaks = await scopedLeakCheck(env.root);
  const base = await env.fetch(env.input('base.aci', await busyboxImage({ name: 'example.com/conc-base', exec: ['/bin/true'] })));
  // the contended image: not in the store yet
  const file = env.input('contended.aci', await busyboxImage({ name: 'example.com/contended', exec: ['/bin/sh', '-c', 'echo "run $RUN"; sleep 1'], compression: 'gzip' }));

  const netProblem = await probeNetworking(env, base);
  if (netProblem) t.log(`CNI networking is not available, pod IPs cannot be compared (coreos pods use --net=host/none): ${netProblem}`);

  const api = await apiReader(env);
  if (!api) t.log('packages/api-service/dist is missing: rkt list --format=json is the only reader');
  const readers = [listReader(env), ...(api ? [api.reader] : [])];
  // two gc loops at once: pods (which collects each run as soon as it exits) and images
  const gcResults: CommandResult[] = [];
  let gcRunning = true;
  const loop = (argv: string[]) =>
    (async () => {
      while (gcRunning) {
        gcResults.push(await env.rkt(argv));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
  const gcLoop = Promise.all([loop(['gc', '--grace-period=0s']), loop(['image', 'gc'])]);
  // pod IPs, sampled: pods running at the same time must never share one (an address may be
  // handed out again once its pod is gc'd, so uniqueness is checked per sample)
  const ips = new Map<string, string[]>();
  const clashes: string[] = [];
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling && !netProblem) {
      const now = podIPs(env);
      const owner = new Map<string, string>();
      for (const [u, list] of now) {
        ips.set(u, list);
        for (const ip of list) {
          const other = owner.get(ip);
          if (other && other !== u) clashes.push(`${ip}: ${other} and ${u}`);
          owner.set(ip, u);
        }
      }
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const started = Date.now();
  const runs = Array.from({ length: RUNS }, (_, i) => {
    const coreos = i % 2 === 0;
    const net = coreos ? [netProblem ? (i % 4 === 0 ? '--net=host' : '--net=none') : '--net=default'] : [];
    return env.rkt(['run', '--insecure-options=image', `--stage1-hash=${coreos ? env.stage1.coreos : env.stage1.fly}`, ...net, `--set-env=RUN=${i}`, file], { timeoutMs: 300_000 });
  });
  const fetches = Array.from({ length: FETCHES }, () => env.rkt(['fetch', '--insecure-options=image', '--full', file], { timeoutMs: 300_000 }));
  const [runResults, fetchResults] = await Promise.all([Promise.all(runs), Promise.all(fetches)]);
  const elapsed = Date.now() - started;
  gcRunning = false;
  sampling = false;
  await Promise.all([gcLoop, sampler]);
  for (const r of readers) await r.stop();
  await api?.stop();

  const failures: string[] = [];
  runResults.forEach((r, i) => {
    if (r.code !== 0) failures.push(`run ${i}: status ${r.code}: ${r.stderr.trim()}`);
    else if (!r.stdout.includes(`run ${i}\n`)) failures.push(`run ${i}: output ${JSON.stringify(r.stdout)}`);
  });
  const keys = new Set<string>();
  fetchResults.forEach((r, i) => {
    if (r.code !== 0) failures.push(`fetch ${i}: status ${r.code}: ${r.stderr.trim()}`);
    else keys.add(r.stdout.trim());
  });
  gcResults.forEach((r, i) => {
    if (r.code !== 0) failures.push(`gc ${i}: status ${r.code}: ${r.stderr.trim()}`);
  });
  for (const r of readers) failures.push(...r.failures.map((f) => `${r.name}: ${f}`));
  const everything = [...runResults, ...fetchResults, ...gcResults].map((r) => r.stderr).join('\n');
  if (LOCKED.test(everything)) failures.push(`"database is locked" reached a user: ${everything.split('\n').filter((l) => LOCKED.test(l)).join(' | ')}`);
  t.deepEqual(failures, [], 'failures under load');
  t.is(keys.size, 1, 'every fetch got the same image');
  t.is(storeListing(env.data).filter((l) => l.includes(' example.com/contended ')).length, 1, 'one store entry for the image');
  if (!netProblem) {
    t.deepEqual(clashes, [], 'running pods sharing an IP');
    t.true(ips.size > 0, 'pods got IPs');
  }
  const ipCount = [...ips.values()].flat().length;
  t.log(
    `${RUNS} runs + ${FETCHES} fetches in ${elapsed} ms; ${gcResults.length} gc passes; reads: ${readers.map((r) => `${r.name} ${r.calls}`).join(', ')}; ` +
      (netProblem ? 'no pod IPs (no CNI)' : `${ips.size} networked pods seen with ${ipCount} IPs over ${samples} samples, ${new Set([...ips.values()].flat()).size} distinct`),
  );

  for (const u of allPods(env)) leaks.own(u);
  const gc = await env.rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.is((await env.rkt(['image', 'gc'])).code, 0);
  t.deepEqual(allPods(env), [], 'pods left after gc');
  const fsck = await storeFsck(env.data, { verifyBlobs: true });
  t.deepEqual(fsckProblems(fsck), []);
  t.deepEqual(fsck.garbage.map((g) => `${g.kind}: ${g.path}`), []);
  t.deepEqual(readdirSync(join(env.data, 'cas', 'tmp')), []);
  t.deepEqual(await leaks.compare(env.pgids), [], 'resources leaked');
});
