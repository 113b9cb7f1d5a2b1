#!/usr/bin/env node
// The CRI stats calls through a real gRPC client against the bundled `rkt-api-service cri`: one
// sandbox (stage1-coreos, default network) with 20 running busybox containers (`sleep 3600`),
// then ListContainerStats (all 20), ContainerStats (one), PodSandboxStats and
// ListPodSandboxStats, round robin. The first ListContainerStats (every writable layer walked,
// the first CPU samples) is reported apart. After it, layer sizes come from the server's cache,
// which is walked again when older than 5 s; a kubelet asking every 10 s makes it walk every
// time, so `walks` more calls are made 5.2 s apart. Also reported: the server's CPU time.
// Usage: sudo node bench/cri-stats.mjs [containers=20] [runs=200] [walks=5]   (build first: stage0, stage1-coreos, api-service)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RKT, REPO, STAGE1_COREOS, check, fmt, isRoot, leftovers, requireBuilt, since, stats, table, workspace, writeBusyboxAci, startCriServer, CRI_BIN } from './lib.mjs';

const count = Number(process.argv[2] ?? 20);
const runs = Number(process.argv[3] ?? 200);
const walks = Number(process.argv[4] ?? 5);
const PROTO = join(REPO, 'packages/api-service/proto/cri/api.proto');
if (!isRoot()) throw new Error('needs root (pods)');
requireBuilt(RKT, STAGE1_COREOS, CRI_BIN);

const grpc = await import('@grpc/grpc-js');
const loader = await import('@grpc/proto-loader');

const ws = workspace('cri-stats');
const socket = join(ws.dir, 'cri.sock');
const uuids = [];
let server;
let client;
const call = (method, req = {}) => new Promise((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));


try {
  const aci = writeBusyboxAci(join(ws.dir, 'sleep.aci'), { name: 'example.com/bench-sleep', exec: ['/bin/sleep', '3600'] });
  const key = check(ws.rkt(['fetch', '--insecure-options=image', aci]), 'rkt fetch').stdout.trim();
  check(ws.rkt(['fetch', '--insecure-options=image', STAGE1_COREOS]), 'rkt fetch stage1');
  server = await startCriServer(ws, socket);
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const v1 = grpc.loadPackageDefinition(def).runtime.v1;
  client = new v1.RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());

  const podConfig = { metadata: { name: 'bench', namespace: 'default', uid: 'bench', attempt: 0 }, log_directory: join(ws.dir, 'logs') };
  const t0 = process.hrtime.bigint();
  const { pod_sandbox_id: sb } = await call('RunPodSandbox', { config: podConfig });
  uuids.push(JSON.parse((await call('PodSandboxStatus', { pod_sandbox_id: sb, verbose: true })).info.info).podUuid);
  const ids = [];
  for (let i = 0; i < count; i++) {
    const { container_id: id } = await call('CreateContainer', { pod_sandbox_id: sb, config: { metadata: { name: `c${i}`, attempt: 0 }, image: { image: key }, log_path: `c${i}.log` }, sandbox_config: podConfig });
    await call('StartContainer', { container_id: id });
    ids.push(id);
  }
  const setupMs = since(t0);

  const timed = async (fn) => {
    const s = process.hrtime.bigint();
    const r = await fn();
    return { ms: since(s), r };
  };
  const cold = await timed(() => call('ListContainerStats', {}));
  if (cold.r.stats.length !== count) throw new Error(`ListContainerStats answered ${cold.r.stats.length} stats, expected ${count}`);
  const samples = { list: [], one: [], pod: [], listPods: [] };
  const cpu0 = process.cpuUsage();
  const srvStat0 = serverCpuMs(server.pid);
  for (let i = 0; i < runs; i++) {
    samples.list.push((await timed(() => call('ListContainerStats', {}))).ms);
    samples.one.push((await timed(() => call('ContainerStats', { container_id: ids[i % ids.length] }))).ms);
    samples.pod.push((await timed(() => call('PodSandboxStats', { pod_sandbox_id: sb }))).ms);
    samples.listPods.push((await timed(() => call('ListPodSandboxStats', {}))).ms);
  }
  const srvCpu = serverCpuMs(server.pid) - srvStat0;
  const clientCpu = (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000;
  // as the kubelet asks (every 10 s or more): every layer walked again
  const walked = [];
  for (let i = 0; i < walks; i++) {
    await new Promise((r) => setTimeout(r, 5200));
    walked.push((await timed(() => call('ListContainerStats', {}))).ms);
  }
  const last = await call('ListContainerStats', {});
  const withRate = last.stats.filter((s) => s.cpu.usage_nano_cores !== null).length;

  const row = (name, v) => {
    const s = stats(v);
    return [name, fmt(s.median), fmt(s.p90), fmt(s.min)];
  };
  console.log(`load average: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`1 sandbox, ${count} running containers (set up in ${fmt(setupMs)}), ${runs} rounds of the four calls\n`);
  console.log(
    table(
      [
        [`ListContainerStats (${count}), first call`, fmt(cold.ms), '', ''],
        row(`ListContainerStats (${count}), layer sizes cached`, samples.list),
        row(`ListContainerStats (${count}), every layer walked (${walks} calls 5.2 s apart)`, walked),
        row('ContainerStats (1)', samples.one),
        row(`PodSandboxStats (1 sandbox, ${count} containers)`, samples.pod),
        row('ListPodSandboxStats (1)', samples.listPods),
      ],
      ['call', 'median', 'p90', 'min'],
    ),
  );
  console.log(`\nserver CPU for the ${runs * 4} calls: ${fmt(srvCpu)} (${fmt(srvCpu / (runs * 4))} per call); client CPU ${fmt(clientCpu)}`);
  console.log(`containers with a CPU rate in the last listing: ${withRate} of ${count}`);
  await call('RemovePodSandbox', { pod_sandbox_id: sb });
} finally {
  client?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  ws.rkt(['gc', '--grace-period=0s']);
  const left = leftovers({ dataDir: ws.dataDir, uuids });
  if (left.length) console.log(`\nLEFT BEHIND:\n${left.join('\n')}`);
  ws.cleanup();
}

/** utime + stime of a process, ms (clock ticks of 10 ms, Linux's USER_HZ). */
function serverCpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(f[11]) || 0) + (Number(f[12]) || 0)) * 10;
}
