#!/usr/bin/env node
// Start latency of `rkt run`, step by step, next to its peers (runc, crun, systemd-nspawn) running
// /bin/true from the same rootfs.
// Usage (root; build stage0, stage1-coreos and stage1-fly first):
//   node bench/run-latency.mjs [--runs=20] [--no-ca] [--net=default|none]
//
// How the steps are timed. stage0 prints `trace: <step> <ms since start> <epoch ms>` lines when
// RKT_TRACE=1 (packages/stage0/src/pod/trace.ts), and @rktnetes/sys prints, before any Node stage
// exec()s the next one, how long Node took to start in that process and when it exec'd. The
// kernel side (each exec with its file, fork, exit, unshare, setns, pivot_root) comes from a
// private ftrace instance on CLOCK_MONOTONIC, which costs the traced programs nothing like
// ptrace would. Every run is one `rkt run IMAGE` with the stage1 and app image already in the
// store (named by hash), from the bench's spawn() to the moment `rkt run` returns.
// --no-ca: drop NODE_EXTRA_CA_CERTS from the environment (every Node start then skips parsing the
// CA bundle; stage0 already drops it for the stages it execs).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  RKT, STAGE1_COREOS, STAGE1_FLY, check, fmt, isRoot, kernelTrace, monoMinusEpochMs, requireBuilt, runOnce, stats, table, treeEvents, workspace, writeBusyboxAci,
} from './lib.mjs';

const opt = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const RUNS = Number(opt.runs ?? 20);
requireBuilt(RKT, STAGE1_COREOS, STAGE1_FLY);
if (!isRoot()) throw new Error('run as root');

const baseEnv = { ...process.env };
if (opt['no-ca'] === 'true') delete baseEnv.NODE_EXTRA_CA_CERTS;
const ws = workspace('latency');
const aci = writeBusyboxAci(join(ws.dir, 'true.aci'), { name: 'example.com/bench-true', exec: ['/bin/true'] });
const fetchId = (file) => check(ws.rkt(['fetch', '--insecure-options=image', file], { env: baseEnv }), `rkt fetch ${file}`).stdout.trim().split('\n').pop();
const imageId = fetchId(aci);
const coreosId = fetchId(STAGE1_COREOS);
const flyId = fetchId(STAGE1_FLY);

// the peers' bundle: the image's rootfs, an OCI config from `runc spec` running /bin/true
const bundle = join(ws.dir, 'bundle');
mkdirSync(bundle);
execFileSync('tar', ['-xf', aci, '-C', bundle, 'rootfs']);
execFileSync('runc', ['spec', '--bundle', bundle]);
const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
config.process.args = ['/bin/true'];
config.process.terminal = false;
writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 1));
const ociState = join(ws.dir, 'oci-state');
mkdirSync(ociState);

const rktRun = (stage1Id, net, flags = []) => [process.execPath, ws.argv(['run', ...(net ? [`--net=${net}`] : []), ...flags, `--stage1-hash=${stage1Id}`, imageId])];
let defaultNet = opt.net ?? 'default';
if (defaultNet === 'default') {
  const probe = runOnce(...rktRun(coreosId, 'default'), { env: baseEnv });
  if (probe.status !== 0) {
    console.error(`--net=default does not work yet (${probe.stderr.trim().split('\n').pop()}); measuring coreos with --net=none only`);
    defaultNet = undefined;
  }
}

let uniq = 0;
const cases = [
  { name: 'node -e 0', argv: () => [process.execPath, ['-e', '0']] },
  { name: 'rkt version', argv: () => [process.execPath, ws.argv(['version'])] },
  ...(defaultNet && defaultNet !== 'none' ? [{ name: `rkt run, coreos, --net=${defaultNet}`, rkt: true, argv: () => rktRun(coreosId, defaultNet) }] : []),
  { name: 'rkt run, coreos, --net=none', rkt: true, argv: () => rktRun(coreosId, 'none') },
  {
    name: 'rkt run, coreos, --net=none, --private-users',
    note: 'a user namespace; the app root remounted as an overlay of idmapped layers (two execs of `init idmap`)',
    rkt: true,
    argv: () => rktRun(coreosId, 'none', ['--private-users']),
  },
  {
    name: 'rkt run, coreos, --net=none, via yargs',
    note: '`--dir` given twice, which only yargs accepts: the CLI path before the yargs-free start (src/cli/fast-path.ts)',
    rkt: true,
    argv: () => [process.execPath, [ws.rktPath, ws.globals[0], ...ws.globals, 'run', '--net=none', `--stage1-hash=${coreosId}`, imageId]],
  },
  { name: 'rkt run, fly (host network)', rkt: true, argv: () => rktRun(flyId) },
  { name: 'runc run (new netns, lo)', argv: () => ['runc', ['--root', ociState, 'run', '--bundle', bundle, `b${process.pid}-${uniq++}`]] },
  {
    name: 'crun run (new netns, lo)',
    note: 'via unshare -m sh to hide the cgroup v2 mount',
    argv: () => ['unshare', ['-m', 'sh', '-c', `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root ${ociState} run --bundle ${bundle} c${process.pid}-${uniq++}`]],
  },
  { name: 'unshare -m sh -c (crun wrapper alone)', argv: () => ['unshare', ['-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec true']] },
  { name: 'systemd-nspawn (host network)', argv: () => ['systemd-nspawn', ['--register=no', '--keep-unit', '-q', '-D', join(bundle, 'rootfs'), '/bin/true']] },
];

/** Runs argv once; resolves with the wall time (spawn to close), pid, stderr and bounds. */
function once([cmd, args], env) {
  return new Promise((resolve) => {
    const t0 = Number(process.hrtime.bigint()) / 1e6;
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => {
      const t1 = Number(process.hrtime.bigint()) / 1e6;
      resolve({ t0, t1, ms: t1 - t0, pid: child.pid, status, stderr });
    });
  });
}

/** The trace lines of one rkt run: step -> { ms, mono } (mono only for lines with an epoch stamp). */
function traceMarks(stderr, off) {
  const marks = {};
  for (const l of stderr.split('\n')) {
    const m = /^trace: (\S+) ([\d.]+)(?: ([\d.]+))?(?: (\S+))?/.exec(l);
    if (!m) continue;
    marks[m[1]] = { ms: Number(m[2]), ...(m[3] ? { mono: Number(m[3]) + off } : {}), ...(m[4] ? { path: m[4] } : {}) };
  }
  return marks;
}

/** One run's steps in ms (undefined where the run did not have that step). */
function steps(run, events, off) {
  const k = traceMarks(run.stderr, off);
  const ev = treeEvents(events, run.pid);
  const execs = ev.filter((e) => e.event === 'sched_process_exec');
  const exits = new Map(ev.filter((e) => e.event === 'sched_process_exit').map((e) => [e.pid, e.ts]));
  const s0exec = execs.find((e) => e.pid === run.pid)?.ts;
  // the start of a process in the ms of its trace lines: a stamped line minus its ms
  const origin = (prefix) => {
    const stamped = Object.entries(k).find(([n, v]) => n.startsWith(prefix) && v.mono !== undefined);
    return stamped ? stamped[1].mono - stamped[1].ms : undefined;
  };
  const s0origin = origin('stage0.');
  const at = (name) => (k[name]?.mono !== undefined ? k[name].mono : k[name] && s0origin !== undefined && name.startsWith('stage0.') ? s0origin + k[name].ms : undefined);
  const s1exec = execs.find((e) => /\/stage1\/rootfs\/run$/.test(e.filename ?? ''))?.ts;
  // stage1-coreos' native run prints `run.*` lines; the Node run it falls back to (say, for
  // --private-users) prints them under its bundle's name
  const s1 = k['run.node-ready'] || k['run.exec'] ? 'run.' : k['stage1-coreos.node-ready'] || k['stage1-coreos.exec'] ? 'stage1-coreos.' : 'stage1-coreos.mjs.';
  const s1origin = origin(s1);
  const s1ready = s1origin !== undefined && k[`${s1}node-ready`] ? s1origin + k[`${s1}node-ready`].ms : undefined;
  const s1done = k[`${s1}exec`]?.mono;
  const initExec = execs.filter((e) => /\/stage1\/rootfs\/init$/.test(e.filename ?? '')).at(-1)?.ts;
  const appExecEv = execs.find((e) => e.filename === '/bin/true' && e.ts > (s1done ?? Infinity));
  // CNI: processes the stage1 run process forks (threads never exec) that exec something
  const s1pid = run.pid;
  const forks = ev.filter((e) => e.event === 'sched_process_fork' && e.pid === s1pid && s1ready !== undefined && e.ts > s1ready && e.ts < (s1done ?? Infinity));
  const execd = forks.filter((f) => execs.some((x) => x.pid === f.child));
  // --private-users: run's `init idmap` helpers (check, then mounts), told apart from CNI plugins
  const isIdmap = (f) => execs.some((x) => x.pid === f.child && /\/stage1\/rootfs\/init$/.test(x.filename ?? ''));
  const plugins = execd.filter((f) => !isIdmap(f));
  const idmap = execd.filter(isIdmap).map((f) => Math.max(...treeEvents(ev, f.child).filter((e) => e.event === 'sched_process_exit').map((e) => e.ts), f.ts) - f.ts);
  const pluginEnds = plugins.map((f) => {
    const sub = treeEvents(ev, f.child);
    return Math.max(...sub.filter((e) => e.event === 'sched_process_exit').map((e) => e.ts), f.ts);
  });
  const net = plugins.length ? Math.max(...pluginEnds) - plugins[0].ts : 0;
  const d = (a, b) => (a !== undefined && b !== undefined ? b - a : undefined);
  const stage0Ready = s0origin !== undefined && k['stage0.node-ready'] ? s0origin + k['stage0.node-ready'].ms : undefined;
  const appExit = appExecEv ? exits.get(appExecEv.pid) : undefined;
  return {
    'spawn → stage0 exec (the bench)': d(run.t0, s0exec),
    'stage0: Node start': d(s0exec, stage0Ready),
    'stage0: bundle load, CLI parse': d(stage0Ready, at('stage0.parsed')),
    'stage0: store lookup (stage1 + app image)': d(at('stage0.parsed'), at('stage0.app-images')),
    'stage0: render, pod dir files': d(at('stage0.app-images'), at('stage0.prepared')),
    'stage0: overlay mounts, exec stage1': d(at('stage0.prepared'), s1exec),
    'stage1: Node start': d(s1exec, s1ready),
    'stage1: own code (manifests, cgroups, mounts)': s1ready !== undefined && s1done !== undefined ? s1done - s1ready - net - idmap.reduce((a, b) => a + b, 0) : undefined,
    'stage1: `init idmap` helpers (--private-users)': idmap.length ? idmap.reduce((a, b) => a + b, 0) : undefined,
    'stage1: network (CNI plugins)': plugins.length ? net : undefined,
    'init: namespaces, pivot_root, app exec': initExec !== undefined ? d(s1done, appExecEv?.ts) : undefined,
    'fly: exec app': initExec === undefined ? d(s1done, appExecEv?.ts) : undefined,
    'app: /bin/true': d(appExecEv?.ts, appExit),
    'teardown until rkt run returns': d(appExit, run.t1),
    total: run.ms,
    _pluginCount: plugins.length,
    _nodeStarts: { stage0: k['stage0.node-ready']?.ms, stage1: k[`${s1}node-ready`]?.ms },
  };
}

const trace = kernelTrace(ws.dir);
if (!trace) console.error('tracefs is not available: only totals are measured');
const off = monoMinusEpochMs();
const samples = new Map(cases.map((c) => [c.name, []]));
const stepSamples = new Map();
const failures = new Map();
try {
  // warm up every case once, then interleave the cases run by run so that load from elsewhere
  // on the machine spreads over all of them
  for (const c of cases) await once(c.argv(), baseEnv);
  for (let i = 0; i < RUNS; i++) {
    for (const c of cases) {
      const env = c.rkt ? { ...baseEnv, RKT_TRACE: '1' } : baseEnv;
      trace?.clear();
      const r = await once(c.argv(), env);
      if (r.status !== 0) {
        failures.set(c.name, `${(failures.get(c.name) ?? '').length ? '' : ''}status ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
        continue;
      }
      samples.get(c.name).push(r.ms);
      if (c.rkt && trace) {
        const st = steps(r, trace.read(), off);
        const per = stepSamples.get(c.name) ?? [];
        per.push(st);
        stepSamples.set(c.name, per);
      }
    }
    if (i % 10 === 9) ws.rkt(['gc', '--grace-period=0s'], { env: baseEnv });
  }
} finally {
  trace?.close();
  ws.rkt(['gc', '--grace-period=0s'], { env: baseEnv });
}

const env = opt['no-ca'] === 'true' || !process.env.NODE_EXTRA_CA_CERTS ? 'without NODE_EXTRA_CA_CERTS' : 'with NODE_EXTRA_CA_CERTS (stage0 pays the CA bundle parse; it drops the variable for the stages it execs)';
console.log(`## rkt run start latency and peers\n\n${RUNS} runs per case, interleaved; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} after the runs (2 CPUs shared with other work); environment ${env}; wall time from spawn() to exit; /bin/true from the same busybox rootfs everywhere\n`);
const totals = new Map(cases.map((c) => [c.name, samples.get(c.name).length ? stats(samples.get(c.name)) : undefined]));
const crun = totals.get('crun run (new netns, lo)')?.median;
const coreosName = cases.find((c) => c.rkt)?.name;
const coreos = totals.get(coreosName)?.median;
console.log(table(cases.map((c) => {
  const t = totals.get(c.name);
  if (!t) return [c.name, 'failed', '', '', '', failures.get(c.name) ?? ''];
  return [c.name, fmt(t.median), fmt(t.p90), crun ? `${(t.median / crun).toFixed(2)}×` : '', coreos ? `${(t.median / coreos).toFixed(2)}×` : '', c.note ?? (failures.has(c.name) ? `some runs failed: ${failures.get(c.name)}` : '')];
}), ['command', 'median', 'p90', 'vs crun', `vs ${coreosName}`, 'note']));

for (const [name, runs] of stepSamples) {
  const keys = Object.keys(runs[0]).filter((k) => !k.startsWith('_'));
  const rows = [];
  for (const key of keys) {
    const vals = runs.map((r) => r[key]).filter((v) => v !== undefined);
    if (!vals.length) continue;
    const s = stats(vals);
    const total = stats(runs.map((r) => r.total)).median;
    rows.push([key, fmt(s.median), fmt(s.p90), key === 'total' ? '' : `${((100 * s.median) / total).toFixed(0)}%`]);
  }
  const plugins = stats(runs.map((r) => r._pluginCount)).median;
  const n0 = stats(runs.map((r) => r._nodeStarts.stage0 ?? 0)).median;
  const n1 = stats(runs.map((r) => r._nodeStarts.stage1 ?? 0)).median;
  console.log(`\n### steps of \`${name}\` (median of ${runs.length} traced runs; steps do not add up exactly to the total median)\n`);
  console.log(table(rows, ['step', 'median', 'p90', 'share of total']));
  console.log(`\nNode processes in the chain: stage0 (Node's own start ${fmt(n0)} of it), stage1 run (${fmt(n1)})${plugins ? `, ${plugins} CNI plugin process(es)` : ''}.`);
}
const left = runOnce('sh', ['-c', `grep -c ${ws.dataDir} /proc/self/mountinfo`]).stdout.trim();
if (left !== '0') console.error(`warning: ${left} mounts left under ${ws.dataDir}`);
else ws.cleanup();
