#!/usr/bin/env node
// Importing a ~100 MB ACI (incompressible random content) into the store, next to its peers on
// the same file in the same run: `tar -xf` (unpacking it) and `sha512sum` (hashing it), the two
// things an import must at least do. Each import and each tar run starts from an empty dir.
// Usage: node bench/image-import.mjs [sizeMB=100] [runs=5]
//   (uses packages/store/dist/rkt-store.mjs when built; the library import runs in-process via tsx)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from 'tsx/esm/api';
import { fmt, ratio, table } from './lib.mjs';

const sizeMB = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 5);
const rktStore = new URL('../packages/store/dist/rkt-store.mjs', import.meta.url).pathname;

register();
const { openStore } = await import('@rktnetes/store');
const { buildAci } = await import('@rktnetes/testkit');

const work = mkdtempSync(join(tmpdir(), 'rkt-bench-image-import-'));
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Times `fn` `runs` times, calling `reset` (untimed) before each run. */
async function bench(reset, fn) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    reset();
    const t0 = process.hrtime.bigint();
    await fn();
    samples.push(ms(t0));
  }
  reset();
  return { median: median(samples), min: Math.min(...samples) };
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

try {
  const files = { 'usr/lib/': { type: 'dir' } };
  for (let i = 0; i < sizeMB; i++) files[`usr/lib/blob${i}.bin`] = randomBytes(1 << 20);
  const aci = join(work, 'big.aci');
  writeFileSync(aci, await buildAci({ manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/big' }, files }));
  const size = statSync(aci).size;
  const data = join(work, 'data');
  const out = join(work, 'out');
  const clean = () => {
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    spawnSync('sync');
  };

  const rows = [];
  const sha = await bench(clean, () => run('sha512sum', [aci]));
  rows.push(['sha512sum (peer)', sha]);
  rows.push(['tar -xf (peer)', await bench(clean, () => run('tar', ['-xf', aci, '-C', out]))]);
  if (existsSync(rktStore)) rows.push(['rkt-store import (process)', await bench(clean, () => run(rktStore, ['--dir', data, 'import', aci]))]);
  rows.push([
    'store.importImage (library, in-process)',
    await bench(clean, async () => {
      const s = openStore(data);
      try {
        await s.importImage(aci);
      } finally {
        s.close();
      }
    }),
  ]);
  rmSync(out, { recursive: true, force: true });

  console.log(`ACI: ${(size / 1e6).toFixed(1)} MB uncompressed tar, ${sizeMB} random 1 MiB files; ${runs} runs each, page cache warm; ratio = median / median of sha512sum\n`);
  console.log(
    table(
      rows.map(([name, r]) => [name, fmt(r.median), fmt(r.min), `${(size / 1e6 / (r.median / 1000)).toFixed(0)} MB/s`, ratio(r.median, sha.median)]),
      ['operation', 'median', 'min', 'throughput', 'vs sha512sum'],
    ),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
