/**
 * Boot speed of the kvm flavor: time from starting the run entrypoint (as stage0 execs it,
 * with the pod locked) to the app's first byte on stdout, and to run's exit, median of N runs
 * of a busybox app that prints one line; and the CPU time the whole pod used (Node, shim and
 * qemu: user + system), which does not depend on how busy the machine is — with TCG and one
 * vCPU the boot is CPU-bound, so on an idle machine the wall time is close to it. Needs root
 * and the guest kernel (scripts/kvm-assets.sh); builds the image when stale.
 *
 *   cd /work/main && node --import tsx packages/stage1-kvm/bench/boot.ts [N]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { busyboxImage } from '@rktnetes/testkit';
import { ensureKvmAci, makePod, vmSkipReason, type TestPod } from '../test/helpers';

const runs = Number(process.argv[2] ?? 5);
const reason = vmSkipReason();
if (reason) throw new Error(`cannot boot VMs here: ${reason}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// stage0's part (lock the pod directory, exec run with RKT_LOCK_FD) in a subshell, then the
// CPU times of the finished children (bash's `times`, second line)
const WRAPPER = '( exec 9<"$1" && flock -x -n 9 && RKT_LOCK_FD=9 exec "$2" --net=none "$3" ); echo "status $?"; times';

interface Sample {
  firstOutputMs: number;
  exitMs: number;
  cpuMs: number;
}

function sample(pod: TestPod): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let first: number | undefined;
    let out = '';
    const child = spawn('bash', ['-c', WRAPPER, 'bash', pod.dir, join(pod.stage1Rootfs, 'run'), pod.uuid], { cwd: pod.dir, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (c: Buffer) => {
      first ??= performance.now() - started;
      out += c.toString();
    });
    child.on('error', reject);
    child.on('close', () => {
      const exitMs = performance.now() - started;
      const status = /status (\d+)/.exec(out)?.[1];
      const times = out.trim().split('\n').at(-1) ?? '';
      const secs = [...times.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      if (status !== '0' || first === undefined || secs.length !== 2) return reject(new Error(`run failed: ${out}`));
      resolve({ firstOutputMs: first, exitMs, cpuMs: (secs[0]! + secs[1]!) * 1000 });
    });
  });
}

const cleanups: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => void cleanups.push(fn) };
try {
  const aci = await ensureKvmAci();
  const image = await busyboxImage();
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const pod = await makePod(t, aci, [{ name: 'app', image, runtime: { app: { exec: ['/bin/echo', 'first output'], user: '0', group: '0' } } }]);
    const s = await sample(pod);
    samples.push(s);
    process.stdout.write(`run ${i + 1}: first output ${s.firstOutputMs.toFixed(0)} ms, exit ${s.exitMs.toFixed(0)} ms, CPU ${s.cpuMs.toFixed(0)} ms\n`);
  }
  const m = (k: keyof Sample) => median(samples.map((s) => s[k])).toFixed(0);
  process.stdout.write(`median of ${runs}: first output ${m('firstOutputMs')} ms, run exits after ${m('exitMs')} ms, CPU ${m('cpuMs')} ms\n`);
} finally {
  for (const c of cleanups.reverse()) await c();
}
