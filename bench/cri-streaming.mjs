#!/usr/bin/env node
// The CRI streaming server against the bundled `rkt-api-service cri`: one sandbox (stage1-coreos,
// default network) with a busybox container (`sleep 3600`) and two servers in its network
// namespace (`nc -ll -e`): an echo (`cat`) on 8080 and a source of 64 MiB of zeros on 8081.
//
// - exec round trip, command `true`: ExecSync (one gRPC call); Exec + a SPDY session from
//   spdy-transport in this process (v4: error and stdout streams, the status read); `crictl exec`
//   (a Go client process, its start included) when /tmp/cri-tools-bin/crictl exists;
// - port forward over one SPDY connection (spdy-transport): a new forwarded connection (error and
//   data streams, the connection made in the pod's namespace, one byte echoed, both ends closed);
//   a one-byte round trip on an open forwarded connection; 64 MiB downloaded; 16 MiB echoed;
// - the same download through `crictl port-forward` (Go client, local TCP port) when crictl exists.
// Also: the server's CPU time for the downloads.
// Usage: sudo node bench/cri-streaming.mjs [runs=50]   (build first: stage0, stage1-coreos, api-service)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RKT, REPO, STAGE1_COREOS, check, fmt, isRoot, leftovers, requireBuilt, runOnce, since, stats, table, workspace, writeBusyboxAci, startCriServer, CRI_BIN } from './lib.mjs';

const runs = Number(process.argv[2] ?? 50);
const PROTO = join(REPO, 'packages/api-service/proto/cri/api.proto');
const CRICTL = '/tmp/cri-tools-bin/crictl';
const DOWNLOAD = 64 << 20;
const ECHO = 16 << 20;
if (!isRoot()) throw new Error('needs root (pods)');
requireBuilt(RKT, STAGE1_COREOS, CRI_BIN);

const require = createRequire(join(REPO, 'packages/api-service/package.json'));
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const transport = require('spdy-transport');

const ws = workspace('cri-streaming');
const socket = join(ws.dir, 'cri.sock');
const uuids = [];
let server;
let client;
let sandboxId;
const children = [];
const call = (method, req = {}) => new Promise((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));


/** A SPDY/3.1 connection to a streaming URL (spdy-transport), with its negotiated protocol. */
function spdy(url, protocols) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols.join(', ') } });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`not upgraded: ${res.statusCode}`)));
    req.on('upgrade', (_res, sock, head) => {
      if (head.length) sock.unshift(head);
      const conn = transport.connection.create(sock, { protocol: 'spdy', isServer: false });
      conn.on('error', () => undefined);
      sock.on('error', () => undefined);
      conn.start(3.1);
      const open = (headers) =>
        new Promise((ok, fail) => {
          const s = conn.request({ method: 'POST', path: '/', host: 'x', headers }, (e) => (e ? fail(e) : ok(s)));
          s.on('error', () => undefined);
        });
      resolve({ open, close: () => sock.destroy() });
    });
    req.end();
  });
}

// spdy-transport's streams are readable-stream 2: no readableEnded
const hasEnded = (s) => s.readableEnded || s._readableState?.endEmitted || s.destroyed;
const drainedOnce = (s) => new Promise((r) => (hasEnded(s) ? r() : (s.once('end', r), s.once('close', r), s.resume())));

/** Exec `cmd` through the RPC and a SPDY session; resolves with stdout and the status. */
async function spdyExec(cid, cmd) {
  const { url } = await call('Exec', { container_id: cid, cmd, stdout: true });
  const c = await spdy(url, ['v4.channel.k8s.io']);
  const error = await c.open({ streamtype: 'error' });
  const stdout = await c.open({ streamtype: 'stdout' });
  let out = '';
  let status = '';
  stdout.on('data', (d) => (out += d));
  error.on('data', (d) => (status += d));
  await Promise.all([drained(error), drained(stdout)]);
  c.close();
  return { out, status };
}

/** Opens a forwarded connection (error + data streams) to `port`. */
async function forward(c, port, id) {
  const h = { port: String(port), requestid: String(id) };
  const error = await c.open({ ...h, streamtype: 'error' });
  error.end();
  const data = await c.open({ ...h, streamtype: 'data' });
  return { error, data };
}

const drained = (s) => within(30_000, 'a stream end', drainedOnce(s));

const readBytes = (s, n) =>
  new Promise((resolve) => {
    let got = 0;
    const on = (d) => {
      got += d.length;
      if (got >= n) {
        s.off('data', on);
        resolve(got);
      }
    };
    s.on('data', on);
  });

function serverCpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(f[11]) || 0) + (Number(f[12]) || 0)) * 10;
}

/** Rejects after `ms`: no phase may hang the benchmark. */
const within = (ms, what, p) => Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what} took more than ${ms} ms`)))]);
const progress = (m) => process.env.VERBOSE && console.error(`# ${m}`);
let cleaning;
async function cleanup() {
  cleaning ??= (async () => {
    for (const ch of children) if (ch.exitCode === null) ch.kill('SIGKILL');
    if (sandboxId) await call('RemovePodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    client?.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    for (const u of uuids) ws.rkt(['stop', '--force', u]);
    ws.rkt(['gc', '--grace-period=0s']);
    const left = leftovers({ dataDir: ws.dataDir, uuids });
    if (left.length) console.log(`\nLEFT BEHIND (${ws.dir} kept):\n${left.join('\n')}`);
    else ws.cleanup();
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void cleanup().then(() => process.exit(130)));

const mbps = (bytes, ms) => `${((bytes / (1 << 20)) / (ms / 1000)).toFixed(0)} MiB/s`;

try {
  const aci = writeBusyboxAci(join(ws.dir, 'box.aci'), { name: 'example.com/bench-stream', exec: ['/bin/sleep', '3600'], applets: ['sh', 'sleep', 'true', 'cat', 'echo', 'nc', 'dd', 'head'] });
  const key = check(ws.rkt(['fetch', '--insecure-options=image', aci]), 'rkt fetch').stdout.trim();
  check(ws.rkt(['fetch', '--insecure-options=image', STAGE1_COREOS]), 'rkt fetch stage1');
  server = await startCriServer(ws, socket);
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const v1 = grpc.loadPackageDefinition(def).runtime.v1;
  client = new v1.RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());

  const podConfig = { metadata: { name: 'bench', namespace: 'default', uid: 'bench', attempt: 0 }, log_directory: join(ws.dir, 'logs') };
  const { pod_sandbox_id: sb } = await call('RunPodSandbox', { config: podConfig });
  sandboxId = sb;
  uuids.push(JSON.parse((await call('PodSandboxStatus', { pod_sandbox_id: sb, verbose: true })).info.info).podUuid);
  const start = async (name, command) => {
    const { container_id: id } = await call('CreateContainer', { pod_sandbox_id: sb, config: { metadata: { name, attempt: 0 }, image: { image: key }, command, log_path: `${name}.log` }, sandbox_config: podConfig });
    await call('StartContainer', { container_id: id });
    return id;
  };
  const main = await start('main', ['/bin/sleep', '3600']);
  await start('echo', ['nc', '-ll', '-p', '8080', '-e', 'cat']);
  await start('source', ['nc', '-ll', '-p', '8081', '-e', 'dd', 'if=/dev/zero', 'bs=65536', `count=${DOWNLOAD / 65536}`]);

  progress('pod and servers started');
  // exec
  const timed = async (fn) => {
    const t0 = process.hrtime.bigint();
    await fn();
    return since(t0);
  };
  const execSync = [];
  const execSpdy = [];
  const execCrictl = [];
  const crictl = existsSync(CRICTL) ? [CRICTL, '--runtime-endpoint', `unix://${socket}`, '--image-endpoint', `unix://${socket}`] : undefined;
  for (let i = 0; i < 3; i++) await spdyExec(main, ['true']);
  for (let i = 0; i < runs; i++) {
    execSync.push(await timed(() => call('ExecSync', { container_id: main, cmd: ['true'], timeout: 10 })));
    execSpdy.push(
      await timed(async () => {
        const r = await spdyExec(main, ['true']);
        if (!r.status.includes('Success')) throw new Error(`exec: ${r.status}`);
      }),
    );
    if (crictl) execCrictl.push(await timed(async () => check(runOnce(crictl[0], [...crictl.slice(1), 'exec', main, 'true']), 'crictl exec')));
  }

  progress('exec done');
  // port forward, in-process SPDY client
  const { url } = await call('PortForward', { pod_sandbox_id: sb });
  const c = await spdy(url, ['portforward.k8s.io']);
  let id = 0;
  for (let i = 0; i < 100; i++) {
    const f = await forward(c, 8080, ++id);
    f.data.end('p');
    let got = '';
    f.data.on('data', (d) => (got += d));
    await drained(f.data);
    if (got === 'p') break;
    await sleep(100);
  }
  progress('echo server reachable');
  const newConn = [];
  for (let i = 0; i < runs; i++) {
    newConn.push(
      await timed(async () => {
        const f = await forward(c, 8080, ++id);
        const echoed = readBytes(f.data, 1);
        f.data.write('x');
        await echoed;
        f.data.end();
        await drained(f.data);
      }),
    );
  }
  const rtt = [];
  {
    const f = await forward(c, 8080, ++id);
    for (let i = 0; i < runs * 4; i++) {
      rtt.push(
        await timed(async () => {
          const echoed = readBytes(f.data, 1);
          f.data.write('x');
          await echoed;
        }),
      );
    }
    f.data.end();
    await drained(f.data);
  }
  progress('latencies done');
  c.close();
  // a connection per transfer, as a client forwarding one port at a time would have
  const d = await spdy((await call('PortForward', { pod_sandbox_id: sb })).url, ['portforward.k8s.io']);
  const cpu0 = serverCpuMs(server.pid);
  const down = await timed(async () => {
    const f = await forward(d, 8081, 1);
    const n = readBytes(f.data, DOWNLOAD);
    let seen = 0;
    f.data.on('data', (d) => (seen += d.length));
    f.error.on('data', (d) => progress(`error stream: ${d}`));
    const tick = setInterval(() => progress(`downloaded ${seen}`), 2000);
    f.data.end();
    await within(120_000, 'the download', n);
    clearInterval(tick);
    // busybox nc may keep the connection after its command exited: the bytes are what counts
    f.data.destroy();
  });
  const downCpu = serverCpuMs(server.pid) - cpu0;
  const echo = await timed(async () => {
    const f = await forward(d, 8080, 2);
    const n = readBytes(f.data, ECHO);
    const chunk = Buffer.alloc(64 << 10, 'e');
    for (let sent = 0; sent < ECHO; sent += chunk.length) if (!f.data.write(chunk)) await new Promise((r) => f.data.once('drain', r));
    f.data.end();
    await n;
    await drained(f.data);
  });
  d.close();

  progress('transfers done');
  // through crictl port-forward (Go's SPDY client) and a local TCP port
  let crictlDown;
  let crictlConn = [];
  if (crictl) {
    const local = 20000 + (process.pid % 20000);
    const pf = spawn(crictl[0], [...crictl.slice(1), 'port-forward', sb, `${local}:8081`, `${local + 1}:8080`], { stdio: 'ignore' });
    children.push(pf);
    await sleep(1500);
    const tcp = (port, send, expect) =>
      new Promise((resolve, reject) => {
        let got = 0;
        const s = net.connect(port, '127.0.0.1', () => (send ? s.end(send) : s.end()));
        s.on('data', (d) => (got += d.length));
        s.on('close', () => (got >= expect ? resolve(got) : reject(new Error(`got ${got} of ${expect} bytes`))));
        s.on('error', reject);
      });
    await tcp(local + 1, 'p', 1);
    crictlDown = await timed(() => tcp(local, undefined, DOWNLOAD));
    for (let i = 0; i < runs; i++) crictlConn.push(await timed(() => tcp(local + 1, 'x', 1)));
    pf.kill('SIGTERM');
  }

  const row = (name, v) => {
    const s = stats(v);
    return [name, fmt(s.median), fmt(s.p90), fmt(s.min)];
  };
  console.log(`load average: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${runs} runs each\n`);
  console.log(
    table(
      [
        row('ExecSync `true`', execSync),
        row('Exec `true`: RPC + SPDY session (spdy-transport, in process)', execSpdy),
        ...(crictl ? [row('`crictl exec` `true` (process included)', execCrictl)] : []),
        row('port forward: new connection, 1 byte echoed, closed (SPDY, in process)', newConn),
        row('port forward: 1-byte round trip on an open connection', rtt),
        ...(crictl ? [row('`crictl port-forward`: new local TCP connection, 1 byte echoed', crictlConn)] : []),
      ],
      ['case', 'median', 'p90', 'min'],
    ),
  );
  console.log('');
  console.log(
    table(
      [
        [`download ${DOWNLOAD >> 20} MiB (SPDY, in process)`, fmt(down), mbps(DOWNLOAD, down), `server CPU ${fmt(downCpu)}`],
        [`echo ${ECHO >> 20} MiB up and back (SPDY, in process)`, fmt(echo), mbps(ECHO, echo), ''],
        ...(crictlDown ? [[`download ${DOWNLOAD >> 20} MiB through \`crictl port-forward\``, fmt(crictlDown), mbps(DOWNLOAD, crictlDown), '']] : []),
      ],
      ['transfer', 'time', 'rate', ''],
    ),
  );
  await call('RemovePodSandbox', { pod_sandbox_id: sb });
  sandboxId = undefined;
} finally {
  await cleanup();
}
