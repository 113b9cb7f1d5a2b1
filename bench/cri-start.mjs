#!/usr/bin/env node
// Pod start through the CRI, rktnetes next to containerd, in one run: for each runtime, N
// iterations of RunPodSandbox -> CreateContainer -> StartContainer (app `/bin/sleep 3600`), timed
// as one latency and step by step by a real grpc-js client (the api-service package's
// dependencies and proto/cri/api.proto); then ContainerStatus checks the app runs and
// StopContainer, StopPodSandbox and RemovePodSandbox tear it down, outside the timing. The two
// runtimes alternate per iteration (which one goes first alternates too), so that load from
// elsewhere hits both alike.
//
// - rktnetes: the bundled `rkt-api-service cri` (a copy of packages/api-service/dist, the rkt
//   bundle and stage1-coreos, so a rebuild in the middle of a run changes nothing) on a temp
//   socket over a temp data dir, stage1-coreos fetched once and named by hash, rkt's default
//   network (bridge `rkt-default`, 172.16.28.0/24, masqueraded).
// - containerd: Debian's containerd 1.6 with its CRI plugin and runc, from a config of its own
//   (temp root, state, socket; snapshotter overlayfs; cgroupfs; runc's state under the temp state
//   dir; network namespaces under the state dir), CNI from a conflist of its own: Debian's
//   /usr/lib/cni `bridge` with `host-local` IPAM on a private 10.213.x.0/24 and its own bridge,
//   gateway, default route and masquerading, like rkt's default network. Its sandbox ("pause")
//   image is busybox `sleep`, from the same registry.
// Both pull the same image, a testkit busybox layout pushed with skopeo into Debian's
// docker-registry on 127.0.0.1, once before timing; the requests are the same for both (pod
// cgroup parent /rkbench-<pid>-<runtime>, which rkt may ignore; log directory and path; no DNS
// config; a PID namespace per container).
// With --host-network both run their pods in the host's network namespace instead.
//
// Everything is removed at the end, also on failure and on SIGINT/SIGTERM: sandboxes through the
// CRI, then containerd stopped, runc containers and shims it left killed, mounts under the temp
// dir unmounted, its iptables rules and chains, bridge, cgroups and CNI cache files removed; rkt's
// pods stopped and `rkt gc`'d. Leftovers are listed (and make the exit status 2).
//
// Usage: node bench/cri-start.mjs [--iterations=20] [--warmup=1] [--runtimes=rkt,containerd]
//                                 [--host-network] [--with-ca] [--verbose]
// (as root; build first: stage0, stage1-coreos, api-service; needs containerd, runc,
// containernetworking-plugins, docker-registry, skopeo). Prints a Markdown table, then one JSON line.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { REPO, RKT, STAGE1_COREOS, cgroupsMatching, check, fmt, isRoot, leftovers, loadPackages, mountsUnder, processTable, ratio, requireBuilt, runOnce, since, stats, table, workspace } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    iterations: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '1' },
    runtimes: { type: 'string', default: 'rkt,containerd' },
    'host-network': { type: 'boolean', default: false },
    'with-ca': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const ITERATIONS = Number(opt.iterations);
const WARMUP = Number(opt.warmup);
const RUNTIMES = opt.runtimes.split(',').filter(Boolean);
const HOST_NETWORK = opt['host-network'];
if (!Number.isInteger(ITERATIONS) || ITERATIONS < 1 || !Number.isInteger(WARMUP) || WARMUP < 0) throw new Error('--iterations must be >= 1 and --warmup >= 0');
for (const r of RUNTIMES) if (r !== 'rkt' && r !== 'containerd') throw new Error(`unknown runtime ${r} (rkt, containerd)`);
if (!isRoot()) throw new Error('needs root (pods, mounts, cgroups, network)');

const API_PKG = join(REPO, 'packages/api-service');
const API_BUNDLE = join(API_PKG, 'dist/rkt-api-service.mjs');
const PROTO = join(API_PKG, 'proto/cri/api.proto');
requireBuilt(RKT, STAGE1_COREOS, API_BUNDLE);
for (const tool of ['docker-registry', 'skopeo', ...(RUNTIMES.includes('containerd') ? ['containerd', 'containerd-shim-runc-v2', 'runc'] : [])]) {
  if (runOnce('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install containerd runc docker-registry skopeo)`);
}

// gRPC from the api-service package's own dependencies
const requireApi = createRequire(join(API_PKG, 'package.json'));
const grpc = requireApi('@grpc/grpc-js');
const protoLoader = requireApi('@grpc/proto-loader');
const CRI = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })).runtime.v1;

const STEPS = ['RunPodSandbox', 'CreateContainer', 'StartContainer'];
const TAG = `rkbench-${process.pid}`; // containerd's CNI network name, and (without the dash) its bridge
/** The pods' cgroup parent of a runtime (the same kind of path for both, one each to clean up apart). */
const cgroupParent = (runtime) => `${TAG}-${runtime}`;
const log = (...a) => console.error('cri-start:', ...a);
const debug = (...a) => opt.verbose && log(...a);

// ---------------------------------------------------------------------------------------------
// small helpers

/** A free loopback TCP port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A child process whose stderr (and stdout) go to a log file; detached in its own process group, so a terminal's ^C reaches only this script. */
function daemon(cmd, args, logFile, { env = process.env } = {}) {
  writeFileSync(logFile, '');
  const out = openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.logFile = logFile;
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  return child;
}

const tail = (path, n = 20) => {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
};

/** Sends SIGTERM, then SIGKILL after `ms`; resolves when the process exited. */
async function stopDaemon(child, ms = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await child.exited;
  clearTimeout(timer);
}

/** CPU busy fraction of the whole machine between two /proc/stat samples. */
function cpuSample() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}
const busy = (a, b) => 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);

// ---------------------------------------------------------------------------------------------
// the CRI client

/** Promise-returning runtime.v1 calls on a unix socket, each with a deadline. */
function criClient(socket) {
  const runtime = new CRI.RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());
  const image = new CRI.ImageService(`unix:${socket}`, grpc.credentials.createInsecure());
  const call = (c, method, req, ms) =>
    new Promise((resolve, reject) => c[method](req, { deadline: Date.now() + ms }, (err, res) => (err ? reject(new Error(`${method}: ${err.details || err.message}`)) : resolve(res))));
  return {
    runtime: (method, req = {}, ms = 180_000) => call(runtime, method, req, ms),
    image: (method, req = {}, ms = 300_000) => call(image, method, req, ms),
    close: () => {
      runtime.close();
      image.close();
    },
  };
}

async function waitReady(client, what) {
  await waitFor(`${what} to be ready`, async () => {
    try {
      const st = await client.runtime('Status', {}, 5_000);
      return st.status.conditions.every((c) => c.status);
    } catch {
      return false;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// the image, in a local registry

async function startRegistry(work) {
  const dir = join(work, 'registry');
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const config = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'storage')}`, 'http:', `  addr: 127.0.0.1:${port}`];
  writeFileSync(join(dir, 'config.yml'), `${config.join('\n')}\n`);
  const child = daemon('docker-registry', ['serve', join(dir, 'config.yml')], join(dir, 'registry.log'));
  await waitFor('docker-registry', () => {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${tail(child.logFile)}`);
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  });
  return { host: `127.0.0.1:${port}`, child };
}

/** Pushes the app image (busybox, Cmd sh) and the containerd sandbox image (same layer, Entrypoint sleep). */
async function pushImages(work, registry) {
  const { testkit } = await loadPackages('testkit');
  const layer = testkit.busyboxTree({ probe: false });
  const images = {
    app: { name: 'bench/busybox:1', config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] } },
    pause: { name: 'bench/pause:1', config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Entrypoint: ['/bin/sleep', '2147483647'] } },
  };
  const refs = {};
  for (const [key, { name, config }] of Object.entries(images)) {
    const dir = join(work, `oci-${key}`);
    await testkit.buildOciLayout(dir, { layers: [layer], config, ref: 'src' });
    check(runOnce('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests', `oci:${dir}:src`, `docker://${registry.host}/${name}`]), `skopeo copy ${name}`);
    rmSync(dir, { recursive: true, force: true });
    refs[key] = `${registry.host}/${name}`;
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------
// rktnetes

async function startRkt(work, env) {
  const ws = workspace('cri', { root: join(work, 'rkt') });
  // the whole of stage0's dist next to the copied rkt.mjs (a bundle may come with files it loads:
  // a .cjs body, a V8 code cache), and a copy of the api-service package's dist and proto laid
  // out as in the package (the service finds ../proto from dist/)
  cpSync(join(REPO, 'packages/stage0/dist'), join(ws.dir, 'stage0'), { recursive: true });
  cpSync(join(API_PKG, 'dist'), join(ws.dir, 'api-service', 'dist'), { recursive: true });
  cpSync(join(API_PKG, 'proto'), join(ws.dir, 'api-service', 'proto'), { recursive: true });
  const svc = join(ws.dir, 'api-service', 'dist', 'rkt-api-service.mjs');
  const stage1 = join(ws.dir, 'stage1-coreos.aci');
  copyFileSync(STAGE1_COREOS, stage1);
  const stage1Hash = check(ws.rkt(['fetch', '--insecure-options=image', stage1], { env }), 'rkt fetch stage1').stdout.trim().split('\n').pop();
  const socket = join(ws.dir, 'cri.sock');
  const args = [svc, 'cri', '--cri-socket', socket, '--dir', ws.dataDir, '--rkt-path', ws.rktPath, '--local-config', ws.localConfig, '--system-config', ws.systemConfig, '--user-config', ws.localConfig, '--insecure-options=http,image', `--stage1-hash=${stage1Hash}`];
  const child = daemon(process.execPath, args, join(ws.dir, 'rkt-api-service.log'), { env });
  const client = criClient(socket);
  try {
    await waitFor('rkt-api-service', () => {
      if (child.exitCode !== null) throw new Error(`rkt-api-service exited ${child.exitCode}: ${tail(child.logFile)}`);
      return /rkt-api-service: ready$/m.test(readFileSync(child.logFile, 'utf8'));
    });
    await waitReady(client, 'rkt-api-service');
  } catch (e) {
    client.close();
    await stopDaemon(child);
    throw e;
  }
  const uuids = new Set();
  return {
    name: 'rkt',
    label: 'rktnetes (rkt-api-service cri, stage1-coreos)',
    client,
    logDir: join(ws.dir, 'logs'),
    ips: new Set(),
    /** Records the pod behind a sandbox (for the leak check) from a verbose PodSandboxStatus. */
    noteInfo(info) {
      const uuid = JSON.parse(info.info ?? '{}').podUuid;
      if (uuid) uuids.add(uuid);
    },
    async stop() {
      client.close();
      await stopDaemon(child);
      // pods the server left (a failure, an interruption): stopped, then collected
      const runDir = join(ws.dataDir, 'pods', 'run');
      const running = existsSync(runDir) ? readdirSync(runDir) : [];
      if (running.length) ws.rkt(['stop', '--force', ...running], { env });
      for (let i = 0; i < 2; i++) ws.rkt(['gc', '--grace-period=0s'], { env });
      removeCgroups(cgroupParent('rkt'));
    },
    leftovers: () => [...leftovers({ dataDir: ws.dataDir, uuids: [...uuids] }), ...cgroupsMatching([cgroupParent('rkt')]).map((c) => `cgroup: ${c}`)],
    log: () => tail(child.logFile),
  };
}

// ---------------------------------------------------------------------------------------------
// containerd

const q = (s) => JSON.stringify(s); // a TOML basic string

function containerdConfig({ root, state, socket, netDir, pauseImage, registryHost }) {
  const cri = '[plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${q(root)}
state = ${q(state)}
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = ${q(socket)}

[ttrpc]
  address = ${q(`${socket}.ttrpc`)}

[debug]
  address = ""

[metrics]
  address = ""

${cri}]
  sandbox_image = ${q(pauseImage)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # the sandbox's oom_score_adj (-998) clamped to containerd's own: this machine's root lacks
  # CAP_SYS_RESOURCE, so runc cannot lower it and fails ("can't get final child's PID from pipe")
  restrict_oom_score_adj = true

  ${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    ${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      ${cri}.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = ${q(join(state, 'runc'))}
        SystemdCgroup = false

  ${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(netDir)}
    max_conf_num = 1

  ${cri}.registry.mirrors.${q(registryHost)}]
    endpoint = [${q(`http://${registryHost}`)}]
`;
}

const BRIDGE = TAG.replace('-', ''); // rkbench<pid>: at most 14 characters
const SUBNET = `10.213.${(process.pid % 254) + 1}.0/24`;
const SHIM_SOCKETS = '/run/containerd/s';
const CNI_CACHE = '/var/lib/cni/results';

function listDir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function startContainerd(work, images, registryHost) {
  const dir = join(work, 'containerd');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const netDir = join(dir, 'net.d');
  for (const d of [root, state, netDir, join(dir, 'ipam')]) mkdirSync(d, { recursive: true, mode: 0o711 });
  const socket = join(dir, 'containerd.sock');
  const conflist = {
    cniVersion: '0.4.0',
    name: TAG,
    plugins: [{ type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') } }],
  };
  writeFileSync(join(netDir, '10-rkbench.conflist'), JSON.stringify(conflist, null, 1));
  const config = join(dir, 'config.toml');
  writeFileSync(config, containerdConfig({ root, state, socket, netDir, pauseImage: images.pause, registryHost }));
  const shimSocketsBefore = new Set(listDir(SHIM_SOCKETS));
  const runContainerdExisted = existsSync('/run/containerd');
  const cniCacheExisted = existsSync(CNI_CACHE);
  const child = daemon('containerd', ['--config', config, '--root', root, '--state', state, '--address', socket, '--log-level', 'warn'], join(dir, 'containerd.log'));
  const rt = {
    name: 'containerd',
    label: `containerd ${containerdVersion()} (CRI plugin, runc ${runcVersion()}, overlayfs, cgroupfs)`,
    client: undefined,
    logDir: join(dir, 'logs'),
    ips: new Set(),
    noteInfo: () => {},
    async stop() {
      rt.client?.close();
      await stopDaemon(child);
      forceCleanContainerd({ dir, state, socket, shimSocketsBefore, runContainerdExisted, cniCacheExisted });
    },
    leftovers: () => containerdLeftovers({ dir, shimSocketsBefore }),
    log: () => tail(child.logFile),
  };
  try {
    await waitFor('containerd socket', () => {
      if (child.exitCode !== null) throw new Error(`containerd exited ${child.exitCode}: ${tail(child.logFile)}`);
      return existsSync(socket);
    });
    rt.client = criClient(socket);
    await waitReady(rt.client, 'containerd');
  } catch (e) {
    await rt.stop();
    throw e;
  }
  return rt;
}

function containerdVersion() {
  return /containerd \S+ (\S+)/.exec(runOnce('containerd', ['--version']).stdout)?.[1] ?? '?';
}
function runcVersion() {
  return /runc version (\S+)/.exec(runOnce('runc', ['--version']).stdout)?.[1] ?? '?';
}

/** Removes the cgroups below (and of) a cgroup parent in every hierarchy, deepest first, when empty. */
function removeCgroups(name) {
  for (const c of cgroupsMatching([name]).sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(c);
    } catch {
      // busy or gone: reported as a leftover
    }
  }
}

/** The nat rules of our CNI network (`iptables -S` lines) and the chains they jump to. */
function natRules() {
  const r = runOnce('iptables', ['-w', '-t', 'nat', '-S']);
  if (r.status !== 0) return { lines: [], chains: new Set() };
  const lines = r.stdout.split('\n').filter((l) => l.includes(`\\"${TAG}\\"`));
  const chains = new Set();
  for (const l of lines) {
    const jump = /-j (CNI-\S+)/.exec(l)?.[1];
    if (jump) chains.add(jump);
    const own = /^-A (CNI-\S+)/.exec(l)?.[1];
    if (own) chains.add(own);
  }
  return { lines, chains };
}

/** Whatever containerd left after it stopped: containers, shims, mounts, netns, nat rules, bridge, cgroups, CNI cache, shim sockets. */
function forceCleanContainerd({ dir, state, socket, shimSocketsBefore, runContainerdExisted, cniCacheExisted }) {
  // containers runc still knows: killed and deleted (their shims exit with them)
  const runcRoot = join(state, 'runc');
  for (const ns of listDir(runcRoot)) {
    const root = join(runcRoot, ns);
    for (const id of listDir(root)) runOnce('runc', ['--root', root, 'delete', '--force', id]);
  }
  for (const p of processTable().values()) {
    if (p.pid !== process.pid && p.cmdline.includes(socket)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  // mounts (snapshots, netns bind mounts, shm), deepest first
  for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    if (runOnce('umount', [m]).status !== 0) runOnce('umount', ['-l', m]);
  }
  // nat rules of the bridge plugin's masquerading: the jumps first, then the chains
  const { lines, chains } = natRules();
  for (const l of lines) if (!/^-A CNI-/.test(l)) runOnce('sh', ['-c', `iptables -w -t nat ${l.replace(/^-A /, '-D ')}`]);
  for (const c of chains) {
    runOnce('iptables', ['-w', '-t', 'nat', '-F', c]);
    runOnce('iptables', ['-w', '-t', 'nat', '-X', c]);
  }
  runOnce('ip', ['link', 'del', BRIDGE]);
  removeCgroups(cgroupParent('containerd'));
  for (const f of listDir(CNI_CACHE)) if (f.startsWith(`${TAG}-`)) rmSync(join(CNI_CACHE, f), { force: true });
  for (const s of listDir(SHIM_SOCKETS)) if (!shimSocketsBefore.has(s)) rmSync(join(SHIM_SOCKETS, s), { force: true });
  // directories containerd or libcni made for this run, when empty
  const made = [...(runContainerdExisted ? [] : [SHIM_SOCKETS, '/run/containerd']), ...(cniCacheExisted ? [] : [CNI_CACHE])];
  for (const d of made) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (someone else's) or absent
    }
  }
}

function containerdLeftovers({ dir, shimSocketsBefore }) {
  const out = [];
  for (const m of mountsUnder(dir)) out.push(`mount: ${m}`);
  for (const p of processTable().values()) if (p.pid !== process.pid && p.cmdline.includes(dir)) out.push(`process: ${p.pid} ${p.cmdline}`);
  for (const c of cgroupsMatching([cgroupParent('containerd')])) out.push(`cgroup: ${c}`);
  for (const l of natRules().lines) out.push(`iptables: ${l}`);
  if (runOnce('ip', ['link', 'show', BRIDGE]).status === 0) out.push(`link: ${BRIDGE}`);
  for (const f of listDir(CNI_CACHE)) if (f.startsWith(`${TAG}-`)) out.push(`cni cache: ${join(CNI_CACHE, f)}`);
  for (const s of listDir(SHIM_SOCKETS)) if (!shimSocketsBefore.has(s)) out.push(`shim socket: ${join(SHIM_SOCKETS, s)}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// one iteration

function sandboxConfig(rt, i) {
  return {
    metadata: { name: `bench-${i}`, namespace: `cri-start-${rt.name}`, uid: `${TAG}-${rt.name}-${i}`, attempt: 0 },
    hostname: HOST_NETWORK ? '' : `bench-${i}`,
    log_directory: join(rt.logDir, `pod-${i}`),
    labels: { 'io.kubernetes.pod.name': `bench-${i}`, bench: 'cri-start' },
    linux: {
      cgroup_parent: `/${cgroupParent(rt.name)}`,
      security_context: { namespace_options: { network: HOST_NETWORK ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

function containerConfig(rt) {
  return {
    metadata: { name: 'sleep', attempt: 0 },
    image: { image: rt.imageRef },
    command: ['/bin/sleep', '3600'],
    log_path: 'sleep/0.log',
    labels: { 'io.kubernetes.container.name': 'sleep' },
    linux: { security_context: { namespace_options: { network: HOST_NETWORK ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

/**
 * Outside the timing: the sandbox's IP (from the runtime's own network, checked: none with host
 * networking), and what the runtime wants to know of it for its leak check.
 */
async function note(rt, sandboxId) {
  const st = await rt.client.runtime('PodSandboxStatus', { pod_sandbox_id: sandboxId, verbose: true });
  rt.noteInfo(st.info ?? {});
  const ip = st.status?.network?.ip ?? '';
  if (HOST_NETWORK !== (ip === '')) throw new Error(`sandbox ${sandboxId} has ip '${ip}' with ${HOST_NETWORK ? 'host' : 'pod'} networking`);
  if (ip) rt.ips.add(ip);
}

/** Runs one sandbox + container start; returns the ms of each step, the total and the teardown. */
async function iteration(rt, i) {
  const { client } = rt;
  const sandbox = sandboxConfig(rt, i);
  const ms = {};
  let sandboxId;
  try {
    const t0 = process.hrtime.bigint();
    let t = t0;
    const step = (name) => {
      const now = process.hrtime.bigint();
      ms[name] = Number(now - t) / 1e6;
      t = now;
    };
    ({ pod_sandbox_id: sandboxId } = await client.runtime('RunPodSandbox', { config: sandbox }));
    step('RunPodSandbox');
    const { container_id: containerId } = await client.runtime('CreateContainer', { pod_sandbox_id: sandboxId, config: containerConfig(rt), sandbox_config: sandbox });
    step('CreateContainer');
    await client.runtime('StartContainer', { container_id: containerId });
    step('StartContainer');
    ms.total = Number(t - t0) / 1e6;
    // outside the timing: the app runs, and the pod is noted for the leak check
    const st = (await client.runtime('ContainerStatus', { container_id: containerId })).status;
    if (st.state !== 'CONTAINER_RUNNING') throw new Error(`container ${containerId} is ${st.state} after StartContainer (${st.reason} ${st.message})`);
    await note(rt, sandboxId);
    const t1 = process.hrtime.bigint();
    await client.runtime('StopContainer', { container_id: containerId, timeout: 0 });
    await client.runtime('StopPodSandbox', { pod_sandbox_id: sandboxId });
    await client.runtime('RemovePodSandbox', { pod_sandbox_id: sandboxId });
    ms.teardown = since(t1);
    sandboxId = undefined;
    return ms;
  } finally {
    if (sandboxId) {
      await note(rt, sandboxId).catch(() => undefined);
      await client.runtime('StopPodSandbox', { pod_sandbox_id: sandboxId }, 60_000).catch(() => undefined);
      await client.runtime('RemovePodSandbox', { pod_sandbox_id: sandboxId }, 60_000).catch(() => undefined);
    }
  }
}

/** Removes every sandbox a runtime still lists (best effort, short deadlines). */
async function removeAllSandboxes(rt) {
  if (!rt.client) return;
  try {
    const { items } = await rt.client.runtime('ListPodSandbox', {}, 10_000);
    for (const s of items) {
      await note(rt, s.id).catch(() => undefined);
      await rt.client.runtime('StopPodSandbox', { pod_sandbox_id: s.id }, 60_000).catch(() => undefined);
      await rt.client.runtime('RemovePodSandbox', { pod_sandbox_id: s.id }, 60_000).catch(() => undefined);
    }
  } catch {
    // the server is gone: the runtime's stop() cleans up below it
  }
}

// ---------------------------------------------------------------------------------------------
// main

const work = mkdtempSync(join(tmpdir(), 'rkt-bench-cri-'));
const started = [];
let registry;
let cleaning;
let interrupted = false;

/** Stops and removes everything, once (from the end of the run, a failure, or a signal). Returns the leftovers. */
function cleanup() {
  cleaning ??= (async () => {
    for (const rt of started) await removeAllSandboxes(rt);
    for (const rt of started) {
      try {
        await rt.stop();
      } catch (e) {
        log(`stopping ${rt.name}: ${e.message}`);
      }
    }
    await stopDaemon(registry?.child);
    const left = started.flatMap((rt) => rt.leftovers().map((l) => `${rt.name}: ${l}`));
    if (mountsUnder(work).length === 0) rmSync(work, { recursive: true, force: true });
    else left.push(`work dir kept (mounts below it): ${work}`);
    return left;
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: cleaning up`);
    cleanup().then(
      (left) => {
        for (const l of left) log(`leftover: ${l}`);
        process.exit(130);
      },
      (e) => {
        log(`cleanup failed: ${e.stack ?? e}`);
        process.exit(130);
      },
    );
  });
}

async function main() {
  const env = { ...process.env };
  if (!opt['with-ca']) delete env.NODE_EXTRA_CA_CERTS;
  registry = await startRegistry(work);
  const images = await pushImages(work, registry);
  debug('images pushed', images);

  const runtimes = [];
  for (const name of RUNTIMES) {
    if (interrupted) return undefined;
    const rt = name === 'rkt' ? await startRkt(work, env) : await startContainerd(work, images, registry.host);
    started.push(rt);
    runtimes.push(rt);
    // pulled once, before timing: the app image (and containerd's sandbox image)
    rt.imageRef = (await rt.client.image('PullImage', { image: { image: images.app } })).image_ref;
    if (name === 'containerd') await rt.client.image('PullImage', { image: { image: images.pause } });
    debug(`${name} ready, image ${rt.imageRef}`);
  }

  const samples = Object.fromEntries(runtimes.map((rt) => [rt.name, { RunPodSandbox: [], CreateContainer: [], StartContainer: [], total: [], teardown: [] }]));
  const failures = Object.fromEntries(runtimes.map((rt) => [rt.name, []]));
  for (let w = 0; w < WARMUP; w++) {
    for (const rt of runtimes) await iteration(rt, `w${w}`);
  }
  const load0 = loadavg();
  const cpu0 = cpuSample();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS && !interrupted; i++) {
    const order = i % 2 ? [...runtimes].reverse() : runtimes;
    for (const rt of order) {
      if (interrupted || failures[rt.name].length >= 3) continue;
      try {
        const ms = await iteration(rt, i);
        for (const [k, v] of Object.entries(ms)) samples[rt.name][k].push(v);
        debug(`${rt.name} #${i}: ${Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
      } catch (e) {
        failures[rt.name].push(e.message);
        log(`${rt.name} iteration ${i} failed: ${e.message}`);
      }
    }
  }
  const wallMs = since(t0);
  return { runtimes, samples, failures, load: [load0, loadavg()], cpuBusy: busy(cpu0, cpuSample()), wallMs };
}

let result;
let exitCode = 0;
try {
  result = await main();
} catch (e) {
  log(`failed: ${e.stack ?? e}`);
  for (const rt of started) log(`${rt.name} log:\n${rt.log()}`);
  exitCode = 1;
}
const left = await cleanup();
if (interrupted) await new Promise(() => {}); // the signal handler exits
for (const l of left) log(`leftover: ${l}`);
if (left.length) exitCode = 2;

if (result) {
  const { runtimes, samples, failures, load, cpuBusy, wallMs } = result;
  const st = Object.fromEntries(runtimes.map((rt) => [rt.name, Object.fromEntries(Object.entries(samples[rt.name]).map(([k, v]) => [k, stats(v)]))]));
  const both = st.rkt && st.containerd;
  const rows = [...STEPS, 'total', 'teardown'].map((k) => {
    const label = k === 'total' ? '**sandbox + create + start**' : k === 'teardown' ? 'teardown (stop container, stop + remove sandbox; not timed above)' : k;
    const row = [label];
    for (const rt of runtimes) row.push(fmt(st[rt.name][k].median), fmt(st[rt.name][k].p90));
    if (both) row.push(ratio(st.rkt[k].median, st.containerd[k].median), ratio(st.rkt[k].p90, st.containerd[k].p90));
    return row;
  });
  const headers = ['step', ...runtimes.flatMap((rt) => [`${rt.name} p50`, `${rt.name} p90`]), ...(both ? ['rkt/containerd p50', 'rkt/containerd p90'] : [])];
  const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`CRI pod start, ${ITERATIONS} iterations per runtime (after ${WARMUP} warm-up), alternating; network: ${HOST_NETWORK ? 'host (both)' : `CNI bridge (rkt: rkt-default 172.16.28.0/24; containerd: ${BRIDGE} ${SUBNET})`}; app /bin/sleep 3600 (busybox from docker-registry on 127.0.0.1)`);
  const ipsOf = (rt) => (rt.ips.size ? `; pod IPs ${[...rt.ips].sort().slice(0, 3).join(', ')}${rt.ips.size > 3 ? ', ...' : ''}` : '');
  for (const rt of runtimes) console.log(`- ${rt.name}: ${rt.label}${ipsOf(rt)}`);
  console.log(`- ${cpus().length} CPUs; load average ${la(load[0])} before, ${la(load[1])} after; whole-machine CPU busy ${(cpuBusy * 100).toFixed(0)}% during the ${(wallMs / 1000).toFixed(1)} s run; rkt ${opt['with-ca'] ? 'with' : 'without'} NODE_EXTRA_CA_CERTS\n`);
  console.log(table(rows, headers));
  for (const rt of runtimes) if (failures[rt.name].length) console.log(`\n${rt.name}: ${failures[rt.name].length} failed iterations; last: ${failures[rt.name].at(-1)}`);
  console.log(`\nleftovers: ${left.length}`);
  const round = (x) => Math.round(x * 10) / 10;
  const json = {
    bench: 'cri-start',
    iterations: ITERATIONS,
    warmup: WARMUP,
    network: HOST_NETWORK ? 'host' : 'cni-bridge',
    cpus: cpus().length,
    loadavg: { before: load[0].map(round), after: load[1].map(round) },
    cpuBusy: Math.round(cpuBusy * 100) / 100,
    nodeExtraCaCerts: Boolean(opt['with-ca']),
    runtimes: Object.fromEntries(
      runtimes.map((rt) => [
        rt.name,
        {
          label: rt.label,
          failures: failures[rt.name].length,
          steps: Object.fromEntries(Object.entries(st[rt.name]).map(([k, s]) => [k, { p50: round(s.median), p90: round(s.p90), min: round(s.min), max: round(s.max), runs: s.runs, samples: samples[rt.name][k].map(round) }])),
        },
      ]),
    ),
    ...(both ? { ratioRktToContainerd: Object.fromEntries([...STEPS, 'total'].map((k) => [k, { p50: Math.round((st.rkt[k].median / st.containerd[k].median) * 100) / 100, p90: Math.round((st.rkt[k].p90 / st.containerd[k].p90) * 100) / 100 }])) } : {}),
    leftovers: left.length,
  };
  console.log(JSON.stringify(json));
  if (runtimes.some((rt) => samples[rt.name].total.length === 0)) exitCode ||= 1;
}
process.exit(exitCode);
