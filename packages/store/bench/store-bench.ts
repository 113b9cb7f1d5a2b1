/**
 * Store performance: import of a ~100MB ACI (plain and gzip), render and verify of it, import
 * of 1,000 small images, and listing them (library call and the bundled CLI when built).
 *
 *   cd /work/main && node --import tsx packages/store/bench/store-bench.ts [SIZE_MB]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { openStore } from '@rktnetes/store';
import { buildAci, files, manifest, type TEntry } from '../test/helpers';

const sizeMB = Number(process.argv[2] ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'rkt-store-bench-'));
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const report: Record<string, string> = {};
const time = async <T>(label: string, fn: () => Promise<T> | T): Promise<T> => {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  report[label] = `${ms(t0).toFixed(1)} ms`;
  return v;
};

try {
  // half random (incompressible), half text: a realistic mix for gzip
  const entries: TEntry[] = [{ path: 'rootfs', type: 'dir' }, { path: 'rootfs/usr', type: 'dir' }, { path: 'rootfs/usr/lib', type: 'dir' }];
  for (let i = 0; i < sizeMB; i++) {
    const content = i % 2 ? randomBytes(1 << 20) : Buffer.from(`line ${i} of some text\n`.repeat(1 << 16)).subarray(0, 1 << 20);
    entries.push({ path: `rootfs/usr/lib/f${i}.bin`, content });
  }
  const aci = await buildAci(manifest('example.com/big'), entries);
  const plain = join(dir, 'big.aci');
  const gz = join(dir, 'big.aci.gz');
  writeFileSync(plain, aci);
  writeFileSync(gz, gzipSync(aci, { level: 6 }));
  report['aci size'] = `${(aci.length / 1e6).toFixed(1)} MB (gzip ${(gzipSync(aci).length / 1e6).toFixed(1)} MB)`;

  const s1 = openStore(join(dir, 's1'));
  const big = await time(`import ${sizeMB}MB plain`, () => s1.importImage(plain));
  const s2 = openStore(join(dir, 's2'));
  await time(`import ${sizeMB}MB gzip`, () => s2.importImage(gz));
  await time(`re-import ${sizeMB}MB (already present)`, () => s1.importImage(plain));
  const r = await time(`render ${sizeMB}MB`, () => s1.render(big.key));
  await time(`verifyTree ${sizeMB}MB`, () => s1.verifyTree(r.treeStoreID));
  await time(`export ${sizeMB}MB`, async () => {
    for await (const _ of await s1.exportImage(big.key)) {
      // drain
    }
  });
  await time('fsck (1 big image + tree)', () => s1.fsck());
  s1.close();
  s2.close();

  const s3 = openStore(join(dir, 's3'));
  const t0 = process.hrtime.bigint();
  const keys: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const aciI = await buildAci(manifest(`example.com/img${i % 50}`, { labels: { version: String(i) } }), files({ a: String(i) }));
    keys.push((await s3.importImage(Readable.from([aciI]))).key);
  }
  report['import 1,000 small images'] = `${ms(t0).toFixed(0)} ms (${(ms(t0) / 1000).toFixed(2)} ms each)`;
  await time('listImages() of 1,000', () => s3.listImages().length);
  await time('listImages() of 1,000 (warm)', () => s3.listImages().length);
  await time('resolve 1,000 short prefixes', () => keys.forEach((k) => s3.resolveImage(k.slice(0, 39))));
  await time('resolve name:version x1,000', () => {
    for (let i = 0; i < 1000; i++) s3.resolveImage(`example.com/img${i % 50}:${i}`);
  });
  s3.close();
  await time('open + listImages() of 1,000 (fresh open)', () => {
    const s = openStore(join(dir, 's3'), { readOnly: true });
    const n = s.listImages().length;
    s.close();
    return n;
  });
  const bin = new URL('../dist/rkt-store.mjs', import.meta.url).pathname;
  if (existsSync(bin)) {
    await time('rkt-store list (1,000, process incl. startup)', () => execFileSync(process.execPath, [bin, '--dir', join(dir, 's3'), 'list']));
    await time('rkt-store list --format=json (1,000)', () => execFileSync(process.execPath, [bin, '--dir', join(dir, 's3'), 'list', '--format=json']));
  }
  for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(46)} ${v}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
