#!/usr/bin/env node
// Pod start with CNI networking next to the two modes without it, in one run: `rkt run` of a
// one-app pod (busybox `echo started`) with the stage1-coreos image and --net=default,
// --net=none and --net=host, round robin so that load from elsewhere hits every mode alike.
// Reported per mode: time to the app's first output (the pod is up), time to `rkt run`'s exit,
// and the `rkt gc` of that one pod (network teardown included).
// Everything runs inside a private network namespace made for the benchmark (bridges, veths and
// nat rules never touch the machine's own); the images are fetched once beforehand.
// Usage: sudo node bench/net-start.mjs [runs=15]   (build first: stage0 and stage1-coreos)
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { STAGE1_COREOS, RKT, check, fmt, isRoot, leftovers, requireBuilt, since, stats, table, netnsWorkspace, writeBusyboxAci } from './lib.mjs';

const runs = Number(process.argv[2] ?? 15);
const MODES = ['default', 'none', 'host'];
if (!isRoot()) throw new Error('needs root (network namespaces, cgroups, mounts)');
requireBuilt(RKT, STAGE1_COREOS);

const { ns, env, ws, inNs, rkt, create, destroy } = netnsWorkspace('net-start');
const image = writeBusyboxAci(join(ws.dir, 'echo.aci'), { name: 'example.com/bench-echo', exec: ['/bin/echo', 'started'] });

/** One `rkt run`: ms to the first byte on stdout and to the exit. */
function timedRun(net) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first;
    let err = '';
    const child = spawn('nsenter', inNs(['run', '--insecure-options=image', `--stage1-path=${STAGE1_COREOS}`, `--net=${net}`, image]), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', () => (first ??= since(t0)));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 && first !== undefined ? resolve({ first, total: since(t0) }) : reject(new Error(`rkt run --net=${net} exited ${code}: ${err.trim()}`))));
  });
}

try {
  create();
  check(rkt(['fetch', '--insecure-options=image', image, STAGE1_COREOS]), 'rkt fetch');
  const samples = Object.fromEntries(MODES.map((m) => [m, { first: [], total: [], gc: [] }]));
  for (let i = -1; i < runs; i++) {
    for (const net of MODES) {
      const r = await timedRun(net);
      const gc = check(rkt(['gc', '--grace-period=0s']), 'rkt gc');
      if (i < 0) continue; // warm-up round
      samples[net].first.push(r.first);
      samples[net].total.push(r.total);
      samples[net].gc.push(gc.ms);
    }
  }
  const rows = MODES.map((m) => {
    const f = stats(samples[m].first);
    const t = stats(samples[m].total);
    const g = stats(samples[m].gc);
    return [`--net=${m}`, fmt(f.median), fmt(f.p90), fmt(t.median), fmt(g.median)];
  });
  const base = stats(samples.none.first).median;
  const cost = stats(samples.default.first).median - base;
  console.log(`runs per mode: ${runs} (round robin, after one warm-up round); inside network namespace ${ns}\n`);
  console.log(table(rows, ['networking', 'app started (median)', 'app started (p90)', 'rkt run exit (median)', 'rkt gc of the pod (median)']));
  console.log(`\nCNI networking (namespace, cni-bridge ADD, net-info.json) adds ${fmt(cost)} to the start of a --net=none pod.`);
  const left = leftovers({ dataDir: ws.dataDir });
  if (left.length) console.log(`\nLEFT BEHIND:\n${left.join('\n')}`);
} finally {
  rkt(['gc', '--grace-period=0s']);
  destroy();
  ws.cleanup();
}
