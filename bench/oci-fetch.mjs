#!/usr/bin/env node
// Fetching a ~100 MB Docker image (several layers of random data) from a local docker-registry:
// `rkt fetch` + render next to `skopeo copy docker://... oci:DIR` + `umoci unpack`, in the same
// run (interleaved, median of a few), and the re-fetch of the unchanged image.
//
// Usage (build rkt first: cd packages/stage0 && node ../../tools/build.mjs):
//   node --import tsx bench/oci-fetch.mjs [SIZE_MB] [RUNS]
// Needs docker-registry, skopeo, umoci and tar. Everything stays on 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openStore } from '@rktnetes/store';
import { fmt, ratio, table } from './lib.mjs';

const sizeMB = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 3);
const LAYERS = 4;
const rkt = new URL('../packages/stage0/dist/rkt.mjs', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'rkt-oci-bench-'));

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout.toString();
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const out = run(cmd, args);
  return { ms: ms(t0), out };
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** An OCI layout with LAYERS gzip layers of random files, `sizeMB` in total. */
function buildLayout(dir) {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blob = (data) => {
    const d = sha256(data);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), data);
    return d;
  };
  const layers = [];
  const diffIDs = [];
  for (let i = 0; i < LAYERS; i++) {
    const src = join(work, `layer-src-${i}`);
    mkdirSync(join(src, `layer${i}`), { recursive: true });
    const files = 5;
    for (let f = 0; f < files; f++) writeFileSync(join(src, `layer${i}`, `f${f}.bin`), randomBytes(Math.floor((sizeMB * 1e6) / LAYERS / files)));
    const tar = Buffer.from(spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 30 }).stdout);
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob(gz), size: gz.length });
    diffIDs.push(sha256(tar));
    rmSync(src, { recursive: true });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIDs } }));
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blob(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg, layers }));
  const m = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: blob(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'big' } };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [m] }));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return layers.reduce((n, l) => n + l.size, 0);
}

async function main() {
  const port = await freePort();
  const storage = join(work, 'registry');
  mkdirSync(storage);
  writeFileSync(
    join(work, 'registry.yml'),
    ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${storage}`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'),
  );
  const registry = spawn('docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      const up = await new Promise((r) => net.connect(port, '127.0.0.1', function () { this.destroy(); r(true); }).once('error', () => r(false)));
      if (up) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const layout = join(work, 'layout');
    const bytes = buildLayout(layout);
    run('skopeo', ['copy', '--dest-tls-verify=false', '--preserve-digests', `oci:${layout}:big`, `docker://127.0.0.1:${port}/big:1`]);
    const ref = `docker://127.0.0.1:${port}/big:1`;
    const cfg = join(work, 'cfg');
    mkdirSync(cfg);

    const samples = { skopeo: [], umoci: [], ref: [], fetch: [], render: [], flatten: [], refetch: [] };
    for (let i = 0; i < runs; i++) {
      // skopeo + umoci
      const oci = join(work, `oci-${i}`);
      const bundle = join(work, `bundle-${i}`);
      const s = timed('skopeo', ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${port}/big:1`, `oci:${oci}:big`]);
      const u = timed('umoci', ['unpack', '--image', `${oci}:big`, bundle]);
      samples.skopeo.push(s.ms);
      samples.umoci.push(u.ms);
      samples.ref.push(s.ms + u.ms);
      rmSync(oci, { recursive: true });
      rmSync(bundle, { recursive: true });
      // rkt fetch + render (layered: the overlay lower dirs; flattened: a copied rootfs)
      const data = join(work, `rkt-${i}`);
      const flags = ['--dir', data, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg, '--insecure-options=image,http'];
      const f = timed(process.execPath, [rkt, ...flags, 'fetch', ref]);
      const key = f.out.trim();
      const store = openStore(data);
      let t0 = process.hrtime.bigint();
      await store.render(key);
      const r = ms(t0);
      t0 = process.hrtime.bigint();
      await store.render(key, { flatten: true });
      const fl = ms(t0);
      store.close();
      samples.fetch.push(f.ms);
      samples.render.push(f.ms + r);
      samples.flatten.push(f.ms + fl);
      samples.refetch.push(timed(process.execPath, [rkt, ...flags, 'fetch', ref]).ms);
      rmSync(data, { recursive: true });
    }
    const base = median(samples.ref);
    const node0 = median(Array.from({ length: 5 }, () => timed(process.execPath, ['-e', '0']).ms));
    const rktVersion = median(Array.from({ length: 5 }, () => timed(process.execPath, [rkt, 'version']).ms));
    const row = (name, xs, vs = base) => [name, fmt(median(xs)), vs ? ratio(median(xs), vs) : ''];
    console.log(`image: ${LAYERS} gzip layers of random data, ${(bytes / 1e6).toFixed(1)} MB compressed; ${runs} runs, median; ratio = median / median of skopeo copy + umoci unpack\n`);
    console.log(
      table(
        [
          row('skopeo copy docker:// oci: + umoci unpack', samples.ref),
          row('  skopeo copy alone', samples.skopeo),
          row('  umoci unpack alone', samples.umoci),
          row('rkt fetch (layers verified and extracted)', samples.fetch),
          row('rkt fetch + render (layered: overlay lower dirs)', samples.render),
          row('rkt fetch + render --flatten (copied rootfs)', samples.flatten),
          row('rkt fetch, unchanged image (HEAD only)', samples.refetch, 0),
          row('rkt version (start-up, for reference)', [rktVersion], 0),
          row('node -e 0 (for reference)', [node0], 0),
        ],
        ['case', 'median', 'vs skopeo+umoci'],
      ),
    );
  } finally {
    registry.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
