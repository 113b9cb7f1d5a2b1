#!/usr/bin/env node
// `rkt list` and `rkt status` among 1,000 pods in mixed states, and `rkt gc` of 1,000 exited pods.
// Usage (root; build stage0 and stage1-coreos first):
//   node bench/scale-list.mjs [--pods=1000] [--runs=15] [--real-gc=50] [--skip-gc] [--keep]
// (--keep: leave the list data dir in place for profiling and skip the gc case; --skip-list;
// --seed-gc-only: seed the gc data dir and leave it, for profiling)
//
// Seeding. A few real pods are made with rkt itself (prepare, run /bin/true, run sleep) in a fresh
// data dir; the rest are synthesized from the real exited pod: the same files stage0 and
// stage1-coreos write (docs/on-disk-format.md), written with @rktnetes/common's path functions, in
// a mix of states. "running" synthesized pods are locked by this process (an exclusive flock on
// the pod directory, exactly what makes a real pod running). For the gc case a second data dir
// holds --real-gc real exited pods (overlays still mounted, cgroups still there) and the rest
// synthesized exited pods as a reboot would leave them (no mounts, cgroups gone): gc remounts
// each stage1 overlay, runs the stage1 gc entrypoint, unmounts and deletes, as for a real pod.
import { closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import {
  RKT, STAGE1_COREOS, check, childrenCpuMs, fmt, fmtS, isRoot, leftovers, pass, podSynthesis, requireBuilt, runAsync, since, table, timeCase, workspace, writeBusyboxAci,
} from './lib.mjs';

const opt = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const POD_COUNT = Number(opt.pods ?? 1000);
const RUNS = Number(opt.runs ?? 15);
const REAL_GC = Number(opt['real-gc'] ?? 50);
requireBuilt(RKT, STAGE1_COREOS);
if (!isRoot()) throw new Error('run as root: pods need mounts and cgroups');

const { common, sys, readTemplate, synthesizePod, POD_MIX: MIX } = await podSynthesis();
const s1Flag = `--stage1-path=${STAGE1_COREOS}`;

/** rkt run /bin/true pods, sequentially: real exited pods. Returns their uuids. */
async function realExited(ws, image, n) {
  const uuids = [];
  for (let i = 0; i < n; i++) {
    const f = join(ws.dir, `uuid-${i}`);
    check(await ws.rktAsync(['run', '--net=none', '--insecure-options=image', s1Flag, `--uuid-file-save=${f}`, image, '--exec=/bin/true']), 'rkt run /bin/true');
    uuids.push(readFileSync(f, 'utf8').trim());
  }
  return uuids;
}

// ---------------------------------------------------------------------------------------------
// list and status

const locks = [];
const results = [];
let running = [];
if (opt['skip-list'] !== 'true') {
const ws = workspace('list');
const aci = writeBusyboxAci(join(ws.dir, 'busybox.aci'));
try {
  const t0 = process.hrtime.bigint();
  // real pods: 2 prepared, 3 exited, 2 running
  for (let i = 0; i < 2; i++) check(ws.rkt(['prepare', '--quiet', '--insecure-options=image', s1Flag, aci]), 'rkt prepare');
  const exited = await realExited(ws, aci, 3);
  for (let i = 0; i < 2; i++) {
    const f = join(ws.dir, `running-${i}`);
    const r = runAsync(process.execPath, ws.argv(['run', '--net=none', '--insecure-options=image', s1Flag, `--uuid-file-save=${f}`, aci]), { detached: true });
    running.push({ done: r, file: f });
  }
  const template = readTemplate(common.podDir(ws.dataDir, 'run', exited[0]));
  const synth = POD_COUNT - 7;
  const counts = {};
  let made = 0;
  for (const [k, m] of MIX.entries()) {
    const n = k === MIX.length - 1 ? synth - made : Math.round(synth * m.share);
    made += n;
    counts[m.name] = n;
    for (let i = 0; i < n; i++) {
      const { pod } = synthesizePod(ws.dataDir, template, m.dir, { ran: !!m.ran, withNet: i % 2 === 0 });
      if (m.lock) {
        const fd = sys.openDirFd(pod);
        if (!sys.flock(fd, 'ex', { nonBlocking: true })) throw new Error(`cannot lock ${pod}`);
        locks.push(fd);
      }
    }
  }
  // wait for the real running pods to be up
  for (const r of running) {
    for (let i = 0; i < 200; i++) {
      try {
        r.uuid = readFileSync(r.file, 'utf8').trim();
        const st = check(ws.rkt(['status', r.uuid]), 'rkt status');
        if (st.stdout.includes('state=running') && st.stdout.includes('pid=')) break;
      } catch {
        // not yet
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  const seedMs = since(t0);
  const listed = check(ws.rkt(['list', '--no-legend', '--full']), 'rkt list').stdout.trim().split('\n');
  const byState = {};
  for (const l of listed) {
    const state = l.split('\t').filter(Boolean)[4];
    if (state) byState[state] = (byState[state] ?? 0) + 1;
  }
  console.log(`## rkt list / rkt status among ${POD_COUNT} pods\n`);
  console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 CPUs shared with other work); environment ${process.env.NODE_EXTRA_CA_CERTS ? 'with' : 'without'} NODE_EXTRA_CA_CERTS\n`);
  console.log(`seeded in ${fmtS(seedMs)}: 7 real pods (2 prepared, 3 exited, 2 running) + ${synth} synthesized (${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}); \`rkt list\` shows ${listed.length} pods: ${Object.entries(byState).map(([k, v]) => `${v} ${k}`).join(', ')}. runs per case: ${RUNS}\n`);

  const exitedFull = exited[1];
  const runningFull = running[0].uuid;
  const cases = [
    ['node -e 0', process.execPath, ['-e', '0'], undefined],
    ['rkt version', process.execPath, ws.argv(['version']), undefined],
    [`rkt list (${POD_COUNT} pods)`, process.execPath, ws.argv(['list']), 300],
    [`rkt list --full`, process.execPath, ws.argv(['list', '--full']), 300],
    [`rkt list --format=json`, process.execPath, ws.argv(['list', '--format=json']), 300],
    [`rkt status UUID (exited, among ${POD_COUNT})`, process.execPath, ws.argv(['status', exitedFull]), 150],
    [`rkt status UUID (running)`, process.execPath, ws.argv(['status', runningFull]), 150],
    [`rkt status PREFIX (8 chars)`, process.execPath, ws.argv(['status', exitedFull.slice(0, 8)]), 150],
    [`rkt status --format=json UUID`, process.execPath, ws.argv(['status', '--format=json', exitedFull]), 150],
  ];
  const base = timeCase(process.execPath, ['-e', '0'], { runs: RUNS });
  for (const [name, cmd, args, budget] of cases) {
    const r = timeCase(cmd, args, { runs: RUNS });
    if (r.failures) console.error(`${name}: ${r.failures} of ${RUNS} runs failed, last: ${r.lastError}`);
    results.push([name, fmt(r.median), fmt(r.p90), fmt(r.cpu), `${(r.median / base.median).toFixed(2)}×`, budget ? `≤ ${budget} ms` : '', budget ? pass(r.median <= budget && !r.failures) : '']);
  }
  console.log(table(results, ['command', 'median', 'p90', 'CPU per run (user+sys)', 'vs node -e 0', 'budget', 'met (median)']));
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  for (const fd of locks) closeSync(fd);
  for (const r of running) {
    // a pod whose rkt run has not written its uuid yet is stopped once it did
    for (let i = 0; i < 600 && !r.uuid; i++) {
      try {
        r.uuid = readFileSync(r.file, 'utf8').trim() || undefined;
      } catch {
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    if (r.uuid) for (let i = 0; i < 50 && ws.rkt(['stop', '--force', r.uuid]).stdout.includes('not running'); i++) await new Promise((res) => setTimeout(res, 100));
  }
  await Promise.all(running.map((r) => r.done));
  if (opt.keep === 'true' && results.length) {
    console.log(`\nkept the list workspace (running pods stopped): ${ws.dir}`);
    process.exit(0);
  }
  const gc = ws.rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  if (gc.status !== 0) console.error(gc.stderr);
  const left = leftovers({ dataDir: ws.dataDir });
  if (left.length) console.error(`leftovers after gc of the list workspace:\n${left.join('\n')}`);
  else ws.cleanup();
}
}

// ---------------------------------------------------------------------------------------------
// gc of 1,000 exited pods

if (opt['skip-gc'] !== 'true') {
  const gws = workspace('gc');
  const gaci = writeBusyboxAci(join(gws.dir, 'busybox.aci'), { exec: ['/bin/true'] });
  try {
    const t0 = process.hrtime.bigint();
    const real = await realExited(gws, gaci, Math.max(1, Math.min(REAL_GC, POD_COUNT)));
    const template = readTemplate(common.podDir(gws.dataDir, 'run', real[0]));
    const uuids = [...real];
    for (let i = real.length; i < POD_COUNT; i++) uuids.push(synthesizePod(gws.dataDir, template, 'run', { ran: true, withNet: false }).uuid);
    const seedMs = since(t0);
    if (opt['seed-gc-only'] === 'true') {
      console.log(`seeded the gc workspace, not collected: ${gws.dir}`);
      process.exit(0);
    }
    const before = check(gws.rkt(['list', '--no-legend']), 'rkt list').stdout.trim().split('\n').filter((l) => /\texited\t/.test(l)).length;
    const load = loadavg().map((l) => l.toFixed(1)).join(' ');
    const c0 = childrenCpuMs();
    const g0 = process.hrtime.bigint();
    const gc = gws.rkt(['gc', '--grace-period=0s']);
    const gcMs = since(g0);
    const gcCpu = childrenCpuMs() - c0;
    check(gc, 'rkt gc');
    const collected = (gc.stdout.match(/^Garbage collecting pod/gm) ?? []).length;
    const remaining = check(gws.rkt(['list', '--no-legend']), 'rkt list').stdout.trim().split('\n').filter(Boolean).length;
    const left = leftovers({ dataDir: gws.dataDir, uuids });
    const warnings = gc.stderr.split('\n').filter((l) => l && !/^moving pod/.test(l));
    console.log(`\n## rkt gc of ${POD_COUNT} exited pods\n`);
    console.log(`load average before gc ${load}; CPU used by gc and everything it ran: ${fmtS(gcCpu)} (user+sys), i.e. ${fmtS(gcCpu / 2)} of wall on two idle CPUs\n`);
    console.log(`seeded in ${fmtS(seedMs)}: ${real.length} real exited pods (rkt run /bin/true: overlays mounted, cgroups present) + ${POD_COUNT - real.length} synthesized exited pods (as after a reboot: no mounts, no cgroups); ${before} listed as exited before gc\n`);
    console.log(table([
      [`rkt gc --grace-period=0s (${POD_COUNT} exited)`, fmtS(gcMs), `${(gcMs / POD_COUNT).toFixed(1)} ms`, String(collected), String(remaining), String(left.length), '≤ 30 s', pass(gcMs <= 30_000 && collected === POD_COUNT && remaining === 0 && left.length === 0)],
    ], ['command', 'wall', 'per pod', 'collected', 'pods left', 'leftovers', 'budget', 'met']));
    if (warnings.length) console.log(`\ngc printed ${warnings.length} other stderr lines, first: ${warnings.slice(0, 3).join(' | ')}`);
    if (left.length) console.log(`\nleftovers:\n${left.slice(0, 20).join('\n')}`);
    else gws.cleanup();
  } catch (e) {
    gws.rkt(['gc', '--grace-period=0s']);
    throw e;
  }
}
