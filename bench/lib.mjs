// Small helpers shared by the benchmark scripts: run a command N times, report median and p90.
import { spawnSync } from 'node:child_process';

export function timeCommand(cmd, args, { runs = 20, warmup = 3, env = process.env, cwd } = {}) {
  for (let i = 0; i < warmup; i++) spawnSync(cmd, args, { env, cwd, stdio: 'ignore' });
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, cwd, stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { median: q(0.5), p90: q(0.9), min: samples[0], runs };
}

export const fmt = (ms) => `${ms.toFixed(1)} ms`;
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

export function table(rows, headers) {
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}
