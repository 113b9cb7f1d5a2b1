#!/usr/bin/env node
// ListPods through a real gRPC client against the bundled rkt-api-service, over a data dir of
// 100 pods in mixed states written per docs/on-disk-format.md (@rktnetes/common paths, schema
// builders; running pods are flocked by a child process, as stage1 holds them).
// Usage: node bench/api-listpods.mjs [pods=100] [runs=200]   (build packages/api-service first)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { register } from 'tsx/esm/api';
import { fmt, stats, table } from './lib.mjs';

const count = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 200);
const pkg = new URL('../packages/api-service/', import.meta.url).pathname;
const bin = join(pkg, 'dist', 'rkt-api-service.mjs');
const holderScript = join(pkg, 'test', 'fixtures', 'hold-lock.ts');

register();
const common = await import('@rktnetes/common');
const { podManifest, imageManifest, serializePodManifest, serializeImageManifest, fakeImageID } = await import('@rktnetes/schema');
const grpc = await import('@grpc/grpc-js');
const loader = await import('@grpc/proto-loader');

// 100 pods: 30 running, 10 exited, 20 prepared, 10 exited garbage, 10 garbage, 5 preparing,
// 5 aborted prepares, 10 embryos (scaled for other counts)
const MIX = [
  ['run', 30, true],
  ['run', 10, false],
  ['prepared', 20, false],
  ['exited-garbage', 10, false],
  ['garbage', 10, false],
  ['prepare', 5, true],
  ['prepare', 5, false],
  ['embryo', 10, false],
];

function writePod(dataDir, state, i) {
  const uuid = common.newPodUUID();
  const pod = common.podDir(dataDir, state, uuid);
  mkdirSync(pod, { mode: common.PODS_DIR_MODE });
  if (state === 'embryo') return pod;
  const apps = ['web', 'sidecar'];
  const pm = podManifest({
    annotations: [{ name: 'name', value: `pod-${i}` }, { name: 'team', value: i % 2 ? 'blue' : 'red' }],
    apps: apps.map((name) => ({ name, image: { name: `example.com/${name}`, id: fakeImageID(`${name}-${i % 7}`) } })),
  });
  writeFileSync(common.podManifestPath(pod), serializePodManifest(pm), { mode: common.DEFAULT_REGULAR_FILE_MODE });
  writeFileSync(common.podCreatedPath(pod), '');
  writeFileSync(common.podManifestLockPath(pod), '', { mode: 0o600 });
  for (const name of apps) {
    mkdirSync(common.appInfoDir(pod, name), { recursive: true });
    const im = imageManifest({ name: `example.com/${name}`, labels: [{ name: 'version', value: '1.0' }] });
    writeFileSync(common.appInfoManifestPath(pod, name), serializeImageManifest(im));
  }
  if (state === 'run' || state === 'exited-garbage') {
    writeFileSync(common.subcgroupPath(pod), `machine.slice/machine-rkt\\x2d${uuid}.scope`);
    writeFileSync(common.podPidPath(pod), common.formatIntFile(10000 + i));
    writeFileSync(common.netInfoPath(pod), common.formatNetInfo([{ netName: 'default', netConf: '/etc/rkt/net.d/default.conf', pluginPath: '', ifName: 'eth0', ip: `172.16.28.${i % 250}`, args: '', mask: '255.255.255.0' }]));
    const root = common.stage1RootfsPath(pod);
    mkdirSync(common.appsStatusDirIn(root), { recursive: true });
    writeFileSync(common.appStatusPathIn(root, 'sidecar'), common.formatIntFile(0));
  }
  return pod;
}

const dataDir = mkdtempSync(join(tmpdir(), 'rkt-bench-api-'));
const children = [];
try {
  await common.ensurePodsDirs(dataDir);
  const locked = [];
  let i = 0;
  for (const [state, n, lock] of MIX) {
    for (let k = 0; k < Math.round((n * count) / 100); k++) {
      const pod = writePod(dataDir, state, i++);
      if (lock) locked.push(pod);
    }
  }
  const holder = spawn(process.execPath, ['--import', 'tsx', holderScript, ...locked], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(holder);
  await new Promise((resolve) => holder.stdout.on('data', (d) => String(d).includes('locked') && resolve()));

  const svc = spawn(process.execPath, [bin, '--dir', dataDir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(svc);
  const address = await new Promise((resolve, reject) => {
    let err = '';
    svc.stderr.on('data', (d) => {
      err += d;
      if (/ready$/m.test(err)) resolve(/listening on (\S+)/.exec(err)[1]);
    });
    svc.once('exit', (c) => reject(new Error(`service exited ${c}: ${err}`)));
  });

  const def = loader.loadSync(join(pkg, 'proto', 'v1alpha', 'api.proto'), { keepCase: true, longs: String, enums: String, defaults: true });
  const { v1alpha } = grpc.loadPackageDefinition(def);
  const client = new v1alpha.PublicAPI(address, grpc.credentials.createInsecure());
  const call = (method, req) => new Promise((resolve, reject) => client[method](req, (e, r) => (e ? reject(e) : resolve(r))));

  const time = async (method, req, n) => {
    const samples = [];
    let size = 0;
    for (let k = 0; k < n; k++) {
      const t0 = process.hrtime.bigint();
      const res = await call(method, req);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      size = res.pods?.length ?? 1;
    }
    return { ...stats(samples), size };
  };

  // the first call fills the manifest cache: time it on its own
  const cold = await time('ListPods', {}, 1);
  await time('ListPods', {}, 20); // warm-up
  const rows = [];
  const add = (what, r) => rows.push([what, String(r.size), fmt(r.median), fmt(r.p90), String(r.runs)]);
  add('ListPods, first call (cold cache)', cold);
  add('ListPods', await time('ListPods', {}, runs));
  add('ListPods detail=true', await time('ListPods', { detail: true }, runs));
  add('ListPods states=[RUNNING]', await time('ListPods', { filters: [{ states: ['POD_STATE_RUNNING'] }] }, runs));
  add('ListPods annotations team=blue', await time('ListPods', { filters: [{ annotations: [{ Key: 'team', value: 'blue' }] }] }, runs));
  const some = (await call('ListPods', { filters: [{ states: ['POD_STATE_RUNNING'] }] })).pods[0].id;
  add('InspectPod (running pod)', await time('InspectPod', { id: some }, runs));
  add('GetInfo (gRPC round trip)', await time('GetInfo', {}, runs));
  client.close();

  console.log(`rkt-api-service over ${i} pods (${locked.length} locked), ${runs} sequential calls each, one client on loopback TCP\n`);
  console.log(table(rows, ['call', 'pods', 'p50', 'p90', 'runs']));
} finally {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}
