#!/usr/bin/env node
// `rkt image list` over a store of 1,000 images, next to a bare Node start in the same run.
// Usage: node bench/image-list.mjs [images=1000] [runs=20]   (build stage0 first)
// Seeds the store through the store library (loaded with tsx), so it needs no fetch command.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from 'tsx/esm/api';
import { loadavg } from 'node:os';
import { snapshotRkt, timeCase, fmt, ratio, table } from './lib.mjs';

const count = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 20);


register();
const { openStore } = await import('@rktnetes/store');
const { buildAci } = await import('@rktnetes/testkit');

const dir = mkdtempSync(join(tmpdir(), 'rkt-bench-image-list-'));
const rkt = snapshotRkt(dir);
try {
  const t0 = process.hrtime.bigint();
  const store = openStore(dir);
  for (let i = 0; i < count; i++) {
    const aci = await buildAci({
      manifest: {
        acKind: 'ImageManifest',
        acVersion: '0.8.11',
        name: `example.com/bench/image-${i % 100}`,
        labels: [
          { name: 'version', value: `1.${i}` },
          { name: 'os', value: 'linux' },
          { name: 'arch', value: 'amd64' },
        ],
        app: { exec: ['/bin/true'], user: '0', group: '0' },
      },
      files: { 'etc/id': `${i}\n`, 'bin/true': { type: 'file', content: 'x'.repeat(i % 4096), mode: 0o755 } },
    });
    await store.importImage((async function* () { yield aci; })());
  }
  store.close();
  const seedMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const cases = [
    ['node -e 0', process.execPath, ['-e', '0']],
    ['rkt version', rkt, ['version']],
    [`rkt image list (${count} images)`, rkt, ['--dir', dir, 'image', 'list']],
    [`rkt image list --format=json (${count} images)`, rkt, ['--dir', dir, 'image', 'list', '--format=json']],
    [`rkt image list --full --sort=name,size (${count} images)`, rkt, ['--dir', dir, 'image', 'list', '--full', '--sort=name,size']],
  ];
  const results = cases.map(([name, cmd, args]) => [name, timeCase(cmd, args, { runs })]);
  const base = results[0][1].median;
  console.log(`seeded ${count} images through the store API in ${(seedMs / 1000).toFixed(1)} s; runs per case: ${runs}; ratio = median / median of \`node -e 0\`; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${process.env.NODE_EXTRA_CA_CERTS ? 'with' : 'without'} NODE_EXTRA_CA_CERTS\n`);
  const budget = (name) => (name.startsWith('rkt image list') ? (r) => `${r.median <= 200 && !r.failures ? 'yes' : '**NO**'} (≤ 200 ms)` : () => '');
  console.log(
    table(
      results.map(([name, r]) => [name, fmt(r.median), fmt(r.p90), fmt(r.cpu), ratio(r.median, base), budget(name)(r) + (r.failures ? ` ${r.failures} failed: ${r.lastError}` : '')]),
      ['command', 'median', 'p90', 'CPU per run (user+sys)', 'vs node -e 0', 'budget met (median)'],
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
