#!/usr/bin/env node
// 100 concurrent coreos pods: start them (with bounded parallelism, then all at once), measure
// what each idle pod costs in memory beyond its app, stop them all, gc, and check that nothing is
// left (mounts, cgroups, network namespaces, veths, iptables rules, processes).
// Usage (root; build stage0 and stage1-coreos first):
//   node bench/scale-pods.mjs [--pods=100] [--parallel=8] [--net=default|none] [--modes=bounded,all]
//
// Each pod is `rkt run --net=default IMAGE` with a busybox app running `sleep 3600`, the stage1
// and the image named by hash (already in the store). A pod counts as started when stage1 wrote
// its `pid` file, which the init does once the apps run; the start time of a round is from the
// first spawn to the last pod started. `rkt run` never returns while its pod runs (it becomes the
// pod's init), so a pod that failed is one whose `rkt run` exited first.
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  RKT, STAGE1_COREOS, check, descendants, fmt, fmtKb, fmtS, isRoot, leftovers, mapLimit, memoryOf, pass, processTable, requireBuilt, runOnce, since, stats, table, workspace, writeBusyboxAci,
} from './lib.mjs';

const opt = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const PODS = Number(opt.pods ?? 100);
const PARALLEL = Number(opt.parallel ?? 8);
const MODES = (opt.modes ?? 'bounded,all').split(',');
requireBuilt(RKT, STAGE1_COREOS);
if (!isRoot()) throw new Error('run as root');

const ws = workspace('pods');
const aci = writeBusyboxAci(join(ws.dir, 'sleep.aci'), { name: 'example.com/bench-sleep', exec: ['/bin/sleep', '3600'] });
const fetchId = (file) => check(ws.rkt(['fetch', '--insecure-options=image', file]), `rkt fetch ${file}`).stdout.trim().split('\n').pop();
const imageId = fetchId(aci);
const stage1Id = fetchId(STAGE1_COREOS);

let net = opt.net ?? 'default';
if (net !== 'none') {
  const probe = ws.rkt(['run', `--net=${net}`, `--stage1-hash=${stage1Id}`, imageId, '--exec=/bin/true']);
  if (probe.status !== 0) {
    console.error(`--net=${net} does not work yet (${probe.stderr.trim().split('\n').pop()}); using --net=none`);
    net = 'none';
  }
  check(ws.rkt(['gc', '--grace-period=0s']), 'rkt gc');
}

/** Names of the host's veths. */
const vethNames = () => new Set(runOnce('ip', ['-o', 'link', 'show', 'type', 'veth']).stdout.split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter(Boolean));
/** nat and filter rules naming one of the pods (the CNI plugin comments each with the pod's id). */
const podRules = (uuids) => ['nat', 'filter'].flatMap((t) => runOnce('iptables', ['-w', '-t', t, '-S']).stdout.split('\n').filter((l) => uuids.some((u) => l.includes(u))));

/** Starts one pod; resolves when it runs (its pid file exists) or its rkt run exited. */
function startPod(i, round) {
  return new Promise((resolve) => {
    const uuidFile = join(ws.dir, `uuid-${round}-${i}`);
    const logFile = join(ws.dir, `log-${round}-${i}`);
    const log = openSync(logFile, 'w');
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, ws.argv(['run', `--net=${net}`, `--stage1-hash=${stage1Id}`, `--uuid-file-save=${uuidFile}`, imageId]), {
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const pod = { i, pid: child.pid, uuidFile, logFile, exited: false, status: undefined };
    pod.done = new Promise((res) => child.on('exit', (code, signal) => {
      pod.exited = true;
      pod.status = code ?? signal;
      res();
    }));
    const poll = () => {
      if (!pod.uuid && existsSync(uuidFile)) pod.uuid = readFileSync(uuidFile, 'utf8').trim();
      if (pod.uuid && existsSync(join(ws.dataDir, 'pods', 'run', pod.uuid, 'pid'))) {
        pod.startMs = since(t0);
        return resolve(pod);
      }
      if (pod.exited) {
        pod.error = readFileSync(logFile, 'utf8').trim().split('\n').pop();
        return resolve(pod);
      }
      setTimeout(poll, 10);
    };
    poll();
  });
}

/** Memory of each pod's processes: the app (sleep) apart from everything else the runtime keeps. */
function podMemory(pods) {
  const procs = processTable();
  return pods.filter((p) => p.startMs !== undefined).map((p) => {
    const tree = [procs.get(p.pid), ...descendants(procs, p.pid)].filter(Boolean);
    const runtime = tree.filter((q) => !q.cmdline.startsWith('/bin/sleep'));
    const apps = tree.filter((q) => q.cmdline.startsWith('/bin/sleep'));
    const sum = (list, key) => list.reduce((a, q) => a + (memoryOf(q.pid)?.[key] ?? 0), 0);
    return {
      uuid: p.uuid,
      runtimeProcs: runtime.map((q) => q.comm),
      rssKb: sum(runtime, 'rssKb'),
      pssKb: sum(runtime, 'pssKb'),
      appRssKb: sum(apps, 'rssKb'),
      appPssKb: sum(apps, 'pssKb'),
      node: runtime.some((q) => q.comm === 'node' || q.comm.startsWith('MainThread')),
    };
  });
}

const rounds = [];
const memRows = [];
const loadBefore = loadavg().map((l) => l.toFixed(1)).join(' ');
try {
  for (const mode of MODES) {
    const limit = mode === 'all' ? PODS : PARALLEL;
    const baseline = vethNames();
    const t0 = process.hrtime.bigint();
    const pods = await mapLimit([...Array(PODS).keys()], limit, (i) => startPod(i, mode));
    const startAll = since(t0);
    const ok = pods.filter((p) => p.startMs !== undefined);
    const failed = pods.filter((p) => p.startMs === undefined);
    await new Promise((r) => setTimeout(r, 1000)); // let the pods settle before measuring memory
    const mem = podMemory(ok);
    const running = check(ws.rkt(['list', '--no-legend']), 'rkt list').stdout.split('\n').filter((l) => /\trunning\t/.test(l)).length;
    // the veths that appeared while the pods ran (others' veths could come and go meanwhile: only
    // the ones still there after gc count as left behind)
    const before = vethNames();
    const mine = [...before].filter((n) => !baseline.has(n));
    const veths = mine.length;

    // one `rkt stop` for all pods (it stops several at a time), then wait until every rkt run exited
    const s0 = process.hrtime.bigint();
    const stop = await ws.rktAsync(['stop', ...ok.map((p) => p.uuid)]);
    const stopCmdMs = since(s0);
    await Promise.all(pods.map((p) => p.done));
    const stopMs = since(s0);
    const stopFailed = stop.status === 0 ? 0 : (stop.stderr.match(/failed to stop (\d+)/)?.[1] ?? 1);
    const g0 = process.hrtime.bigint();
    const gc = ws.rkt(['gc', '--grace-period=0s']);
    const gcMs = since(g0);
    const uuids = pods.map((p) => p.uuid).filter(Boolean);
    const left = leftovers({ dataDir: ws.dataDir, uuids, extraProcessPattern: /^\/bin\/sleep 3600$/ });
    const now = vethNames();
    const vethsLeft = mine.filter((n) => now.has(n)).length;
    const rulesLeft = podRules(uuids).length;
    const podsLeft = readdirSync(join(ws.dataDir, 'pods')).reduce((a, d) => a + readdirSync(join(ws.dataDir, 'pods', d)).length, 0);
    const starts = stats(ok.map((p) => p.startMs));
    rounds.push({ mode, limit, startAll, ok: ok.length, failed, running, veths, starts, stopMs, stopCmdMs, stopFailed, gcMs, gcStatus: gc.status, left, vethsLeft, rulesLeft, podsLeft });
    const m = { rss: stats(mem.map((x) => x.rssKb)), pss: stats(mem.map((x) => x.pssKb)), appRss: stats(mem.map((x) => x.appRssKb)), appPss: stats(mem.map((x) => x.appPssKb)) };
    memRows.push({ mode, m, procs: mem[0]?.runtimeProcs ?? [], node: mem.filter((x) => x.node).length, n: mem.length });
    if (failed.length) console.error(`${mode}: ${failed.length} pods failed, first: ${failed[0].error}`);
  }
} finally {
  // whatever happened, leave nothing running
  for (const p of processTable().values()) if (p.cmdline.includes(ws.dataDir) && p.pid !== process.pid) ws.rkt(['stop', '--force', p.cmdline.split(' ').pop()]);
  ws.rkt(['gc', '--grace-period=0s']);
}

console.log(`## ${PODS} concurrent coreos pods (--net=${net}, app: sleep 3600)\n\nload average before: ${loadBefore}, after: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 CPUs shared with other work)\n`);
console.log(table(rounds.map((r) => [
  r.mode === 'all' ? `all ${PODS} at once` : `at most ${r.limit} starting at once`,
  fmtS(r.startAll),
  `${r.ok}/${PODS}`,
  String(r.running),
  fmt(r.starts.median),
  fmt(r.starts.p90),
  `${fmtS(r.stopCmdMs)} / ${fmtS(r.stopMs)}`,
  fmtS(r.gcMs),
  r.left.length || r.vethsLeft || r.rulesLeft || r.podsLeft ? `**${r.left.length + r.vethsLeft + r.rulesLeft + r.podsLeft}**` : '0',
  pass(r.startAll <= 60_000 && r.ok === PODS && r.stopFailed === 0 && r.gcStatus === 0 && !r.left.length && !r.vethsLeft && !r.rulesLeft && !r.podsLeft),
]), ['start mode', 'all started in', 'running', 'listed running', 'one pod start, median', 'p90', `rkt stop (all uuids) returned / all pods exited`, 'rkt gc', 'leftovers', '≤ 60 s, none failed, clean']));
for (const r of rounds) {
  console.log(`\n${r.mode}: ${r.veths} veths while running${r.failed.length ? `; failed: ${r.failed.map((p) => p.error).slice(0, 3).join(' | ')}` : ''}; after stop+gc: ${r.left.length} leftovers (mounts, cgroups, netns, processes), ${r.vethsLeft} of those veths, ${r.rulesLeft} iptables rules naming a pod, ${r.podsLeft} pod dirs${r.left.length ? `\n  ${r.left.slice(0, 10).join('\n  ')}` : ''}`);
}
console.log(`\n## memory per idle pod beyond its app (${memRows[0]?.n ?? 0} pods)\n`);
console.log(table(memRows.flatMap((r) => [
  [`${r.mode}: runtime processes (${r.procs.join(' + ')})`, fmtKb(r.m.rss.median), fmtKb(r.m.rss.max), fmtKb(r.m.pss.median), fmtKb(r.m.pss.max), '≤ 5 MB', pass(r.m.rss.max <= 5 * 1024)],
  [`${r.mode}: the app (sleep), for reference`, fmtKb(r.m.appRss.median), fmtKb(r.m.appRss.max), fmtKb(r.m.appPss.median), fmtKb(r.m.appPss.max), '', ''],
]), ['processes', 'VmRSS median', 'VmRSS max', 'PSS median', 'PSS max', 'budget', 'met (max RSS)']));
console.log(`\nNode processes left per pod: ${memRows.map((r) => r.node).join(', ')} (stage1 run exec()s the init; nothing in Node stays).`);
const dirty = rounds.some((r) => r.left.length || r.vethsLeft || r.rulesLeft || r.podsLeft);
if (!dirty) ws.cleanup();
else console.error(`\nleft ${ws.dir} in place for inspection`);
