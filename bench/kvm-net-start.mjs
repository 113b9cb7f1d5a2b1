#!/usr/bin/env node
// VM pod start with and without CNI networking: `rkt run` of a one-app pod (busybox `echo
// started`) with the stage1-kvm image and --net=default, then --net=none, round robin so that
// load from elsewhere hits both alike. Reported per mode: time to the app's first output (the
// VM booted and the app ran), time to `rkt run`'s exit, the `rkt gc` of that one pod (network
// teardown included), and the CPU time of the run (everything it ran: Node, plugins, qemu).
// Under TCG each boot costs about a second and a half of CPU, so the default is few runs.
// Everything runs inside a private network namespace made for the benchmark (bridges, veths and
// nat rules never touch the machine's own); the images are fetched once beforehand.
// Usage: sudo node bench/kvm-net-start.mjs [runs=5]   (build first: stage0 and stage1-kvm)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, RKT, check, childrenCpuMs, fmt, isRoot, leftovers, requireBuilt, since, stats, table, netnsWorkspace, writeBusyboxAci } from './lib.mjs';

const STAGE1_KVM = join(REPO, 'packages/stage1-kvm/dist/stage1-kvm.aci');
const runs = Number(process.argv[2] ?? 5);
const MODES = ['default', 'none'];
if (!isRoot()) throw new Error('needs root (network namespaces, mounts, tap devices)');
requireBuilt(RKT, STAGE1_KVM);

const { ns, env, ws, inNs, rkt, create, destroy } = netnsWorkspace('kvm-net-start');
const image = writeBusyboxAci(join(ws.dir, 'echo.aci'), { name: 'example.com/bench-kvm-echo', exec: ['/bin/echo', 'started'] });

/** One `rkt run`: ms to the first byte on stdout and to the exit, and its CPU time. */
function timedRun(net) {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs();
    const t0 = process.hrtime.bigint();
    let first;
    let err = '';
    const child = spawn('nsenter', inNs(['run', '--insecure-options=image', `--stage1-path=${STAGE1_KVM}`, `--net=${net}`, image]), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', () => (first ??= since(t0)));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const total = since(t0);
      // the CPU of a child counts once it has been waited for, which 'close' guarantees
      setImmediate(() => (code === 0 && first !== undefined ? resolve({ first, total, cpu: childrenCpuMs() - cpu0 }) : reject(new Error(`rkt run --net=${net} exited ${code}: ${err.trim()}`))));
    });
  });
}

try {
  create();
  check(rkt(['fetch', '--insecure-options=image', image, STAGE1_KVM]), 'rkt fetch');
  const samples = Object.fromEntries(MODES.map((m) => [m, { first: [], total: [], gc: [], cpu: [] }]));
  for (let i = -1; i < runs; i++) {
    for (const net of MODES) {
      const r = await timedRun(net);
      const gc = check(rkt(['gc', '--grace-period=0s']), 'rkt gc');
      if (i < 0) continue; // warm-up round
      samples[net].first.push(r.first);
      samples[net].total.push(r.total);
      samples[net].gc.push(gc.ms);
      samples[net].cpu.push(r.cpu);
    }
  }
  const rows = MODES.map((m) => {
    const s = samples[m];
    return [`--net=${m}`, fmt(stats(s.first).median), fmt(stats(s.first).p90), fmt(stats(s.total).median), fmt(stats(s.cpu).median), fmt(stats(s.gc).median)];
  });
  const cost = stats(samples.default.first).median - stats(samples.none.first).median;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`stage1-kvm, ${runs} runs per mode (round robin, after one warm-up round); inside network namespace ${ns}; load average ${load}\n`);
  console.log(table(rows, ['networking', 'app output (median)', 'app output (p90)', 'rkt run exit (median)', 'CPU of the run (median)', 'rkt gc of the pod (median)']));
  console.log(`\nCNI networking (namespace, cni-bridge ADD, taps, virtio-net in the guest) adds ${fmt(cost)} to the first output of a --net=none VM pod.`);
  const left = leftovers({ dataDir: ws.dataDir });
  if (left.length) console.log(`\nLEFT BEHIND:\n${left.join('\n')}`);
} finally {
  rkt(['gc', '--grace-period=0s']);
  destroy();
  ws.cleanup();
}
