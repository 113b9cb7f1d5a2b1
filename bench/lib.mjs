// Small helpers shared by the benchmark scripts: run a command N times, report median and p90;
// throw-away rkt workspaces, busybox images, process/memory inspection and leak checks for the
// scale benchmarks. Nothing here loads TypeScript unless asked (`loadPackages`).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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

export const fmt = (ms) => (ms === undefined || Number.isNaN(ms) ? 'n/a' : `${ms.toFixed(1)} ms`);
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

export function table(rows, headers) {
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// statistics and timing

/** median, p90, min, max and mean of a list of numbers (same quantile rule as timeCommand). */
export function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return { median: NaN, p90: NaN, min: NaN, max: NaN, mean: NaN, runs: 0 };
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p90: q(0.9), min: s[0], max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length, runs: s.length };
}

/** ms elapsed since `t0` (a process.hrtime.bigint() value). */
export const since = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Runs a command once, synchronously: its status, output and wall time. */
export function runOnce(cmd, args, { env = process.env, cwd, input, stdio } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd, input, encoding: 'utf8', maxBuffer: 256 << 20, ...(stdio ? { stdio } : {}) });
  return { ms: since(t0), status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** Like runOnce, asynchronous (for concurrent runs). */
export function runAsync(cmd, args, { env = process.env, cwd, detached = false } = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, cwd, detached, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => resolve({ ms: since(t0), status: null, stdout, stderr, error }));
    child.on('close', (status, signal) => resolve({ ms: since(t0), status, signal, stdout, stderr }));
  });
}

/** Times `fn` (sync or async) `runs` times after `warmup` calls; returns stats of the wall times. */
export async function timeFn(fn, { runs = 20, warmup = 2 } = {}) {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    samples.push(since(t0));
  }
  return stats(samples);
}

/**
 * Like timeCommand, but a failing run is counted (and its stderr kept) instead of thrown, so
 * one hiccup (say, a bundle being rebuilt by someone else) does not lose a whole table.
 */
export function timeCase(cmd, args, { runs = 20, warmup = 2, env = process.env, cwd } = {}) {
  for (let i = 0; i < warmup; i++) spawnSync(cmd, args, { env, cwd, stdio: 'ignore' });
  const samples = [];
  let failures = 0;
  let lastError = '';
  const cpu0 = childrenCpuMs();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const ms = since(t0);
    if (r.status !== 0) {
      failures++;
      lastError = `status ${r.status}: ${(r.stderr ?? '').trim().split('\n').pop()}`;
      continue;
    }
    samples.push(ms);
  }
  const cpu = (childrenCpuMs() - cpu0) / runs;
  return { ...stats(samples), cpu, failures, lastError };
}

/**
 * CPU time (user + system, ms) used by this process's waited-for children so far, from
 * /proc/self/stat (10 ms ticks: average it over many runs). Unlike wall time it hardly grows when
 * other work competes for the CPUs, so it shows a command's own cost on a busy machine.
 */
export function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 16 and 17 (cutime, cstime), counted from 1 with pid and comm as 1 and 2
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

/** Runs `fn(item, index)` over `items` with at most `limit` at a time; results in order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export const fmtS = (ms) => (ms === undefined || Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
export const fmtKb = (kb) => (kb === undefined || Number.isNaN(kb) ? 'n/a' : `${kb.toLocaleString('en-US')} kB`);
export const pass = (ok) => (ok ? 'yes' : '**NO**');

// ---------------------------------------------------------------------------------------------
// the repository's executables

export const REPO = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const RKT = join(REPO, 'packages/stage0/dist/rkt.mjs');
export const STAGE1_COREOS = join(REPO, 'packages/stage1-coreos/dist/stage1-coreos.aci');
export const STAGE1_FLY = join(REPO, 'packages/stage1-fly/dist/stage1-fly.aci');

/** Fails early, with the build command, when an artifact is missing. */
export function requireBuilt(...paths) {
  for (const p of paths) {
    try {
      statSync(p);
    } catch {
      throw new Error(`${p} is missing: build first (npm run build, or node ../../tools/build.mjs in its package)`);
    }
  }
}

export const isRoot = () => process.getuid?.() === 0;

/** The bundled CRI server. */
export const CRI_BIN = join(REPO, 'packages/api-service/dist/rkt-api-service.mjs');

/**
 * Starts `rkt-api-service cri` on `socket` over a workspace (see workspace) with stage1-coreos;
 * resolves with the child once it printed `ready`.
 */
export function startCriServer(ws, socket) {
  return new Promise((resolve, reject) => {
    const args = [CRI_BIN, 'cri', '--cri-socket', socket, '--dir', ws.dataDir, '--rkt-path', ws.rktPath, '--local-config', ws.localConfig, '--system-config', ws.systemConfig, `--stage1-path=${STAGE1_COREOS}`, '--insecure-options=image'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (/rkt-api-service: ready$/m.test(err)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`CRI server exited with ${code}: ${err}`)));
  });
}

/**
 * Copies the rkt bundle into `dir` (with a node_modules link, so that its external packages still
 * resolve), so that a benchmark keeps running the same build while others rebuild stage0. Waits
 * up to a minute for a bundle being rebuilt. Returns the copy's path.
 */
export function snapshotRkt(dir) {
  for (let i = 0; i < 120 && !existsSync(RKT); i++) spawnSync('sleep', ['0.5']);
  const stage0 = join(dir, 'stage0');
  mkdirSync(join(stage0, 'bin'), { recursive: true });
  // the executables run the bundle (next to rkt.mjs, above bin/rkt.cjs) with its code cache
  // (tools/build.mjs); the CommonJS one is the package's bin, the one users run
  for (const f of ['rkt.mjs', 'rkt.cjs', 'rkt.cjs.cache', 'bin/rkt.cjs']) copyFileSync(join(dirname(RKT), f), join(stage0, f));
  const copy = join(stage0, 'bin', 'rkt.cjs');
  chmodSync(copy, 0o755);
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return copy;
}

/**
 * A throw-away rkt installation: data dir and the three config dirs under one tmp dir, and a
 * snapshot of the rkt bundle (see snapshotRkt). `rkt(args)` runs stage0 synchronously,
 * `rktAsync(args)` asynchronously; `argv(args)` is the full argument vector (for spawn).
 * `cleanup()` removes the tree (after `rkt gc` and stopping pods, which is the caller's business).
 */
export function workspace(name, { root } = {}) {
  const dir = root ?? mkdtempSync(join(tmpdir(), `rkt-bench-${name}-`));
  const dataDir = join(dir, 'data');
  const localConfig = join(dir, 'etc');
  const systemConfig = join(dir, 'lib');
  for (const d of [dataDir, localConfig, systemConfig]) mkdirSync(d, { recursive: true });
  const rkt = snapshotRkt(dir);
  const globals = [`--dir=${dataDir}`, `--local-config=${localConfig}`, `--system-config=${systemConfig}`];
  const argv = (args) => [rkt, ...globals, ...args];
  return {
    dir,
    rktPath: rkt,
    dataDir,
    localConfig,
    systemConfig,
    globals,
    argv,
    rkt: (args, opts) => runOnce(process.execPath, argv(args), opts),
    rktAsync: (args, opts) => runAsync(process.execPath, argv(args), opts),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A workspace whose rkt runs inside a private network namespace (so pod networks stay off the
 * host's), without the CA bundle: `ns`, `nsPath`, `env`, `ws` (see workspace), `inNs(args)` the
 * nsenter argv running rkt with `args` there, `rkt(args)` running it synchronously, `create()`
 * (the namespace with lo up) and `destroy()`.
 */
export function netnsWorkspace(name) {
  const ns = `rkt-bench-${randomBytes(3).toString('hex')}`;
  const nsPath = `/run/netns/${ns}`;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const ws = workspace(name);
  const inNs = (args) => ['--net=' + nsPath, '--', process.execPath, ...ws.argv(args)];
  return {
    ns,
    nsPath,
    env,
    ws,
    inNs,
    rkt: (args) => runOnce('nsenter', inNs(args), { env }),
    create() {
      check(runOnce('ip', ['netns', 'add', ns]), 'ip netns add');
      check(runOnce('ip', ['-n', ns, 'link', 'set', 'lo', 'up']), 'lo up');
    },
    destroy: () => spawnSync('ip', ['netns', 'del', ns]),
  };
}

/** Throws with the command's stderr when a runOnce/runAsync result is not a success. */
export function check(r, what) {
  if (r.status !== 0) throw new Error(`${what} failed (status ${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim().slice(-2000)}`);
  return r;
}

/**
 * Writes an uncompressed busybox ACI with the system tar: Debian's static /bin/busybox, applet
 * links, /etc/passwd and /etc/group, and an empty /usr (systemd-nspawn refuses a tree without
 * one, and the peers run the same tree). `exec` defaults to `sleep 3600`. Returns the path.
 */
export function writeBusyboxAci(path, { name = 'example.com/bench-busybox', version = '1', exec = ['/bin/sleep', '3600'], applets = ['sh', 'sleep', 'true', 'cat', 'echo', 'ls'], extra = {} } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'rkt-bench-aci-'));
  try {
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'usr']) mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
    for (const [p, content] of Object.entries(extra)) {
      mkdirSync(join(rootfs, p, '..'), { recursive: true });
      writeFileSync(join(rootfs, p), content);
    }
    const manifest = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name,
      labels: [
        { name: 'version', value: version },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: { exec, user: '0', group: '0' },
    };
    writeFileSync(join(work, 'manifest'), JSON.stringify(manifest));
    check(runOnce('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', work, '-cf', path, 'manifest', 'rootfs']), `tar ${path}`);
    return path;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Writes an uncompressed ACI with the system tar: `manifest` (an object) and `files` under
 * rootfs/ (relative path -> string or Buffer content, or { content, mode }). Returns the path.
 */
export function writeAci(path, { manifest, files = {} }) {
  const work = mkdtempSync(join(tmpdir(), 'rkt-bench-aci-'));
  try {
    mkdirSync(join(work, 'rootfs'));
    for (const [p, f] of Object.entries(files)) {
      mkdirSync(join(work, 'rootfs', p, '..'), { recursive: true });
      const plain = typeof f === 'string' || Buffer.isBuffer(f);
      writeFileSync(join(work, 'rootfs', p), plain ? f : f.content);
      if (!plain && f.mode !== undefined) chmodSync(join(work, 'rootfs', p), f.mode);
    }
    writeFileSync(join(work, 'manifest'), JSON.stringify(manifest));
    check(runOnce('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', work, '-cf', path, 'manifest', 'rootfs']), `tar ${path}`);
    return path;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Loads the workspace's TypeScript packages through tsx (for seeding through the libraries). */
export async function loadPackages(...names) {
  const { register } = await import('tsx/esm/api');
  register();
  const out = {};
  for (const n of names) out[n] = await import(`@rktnetes/${n}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// processes, memory, leaks

/** Every process: pid -> { pid, ppid, comm, cmdline }. */
export function processTable() {
  const procs = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ');
      } catch {
        // a zombie or gone
      }
      procs.set(Number(name), { pid: Number(name), ppid, comm, cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return procs;
}

/** The descendants of `pid` in a processTable(), depth first. */
export function descendants(procs, pid) {
  const children = new Map();
  for (const p of procs.values()) {
    const l = children.get(p.ppid) ?? [];
    l.push(p);
    children.set(p.ppid, l);
  }
  const out = [];
  const visit = (id) => {
    for (const c of children.get(id) ?? []) {
      out.push(c);
      visit(c.pid);
    }
  };
  visit(pid);
  return out;
}

/** VmRSS and Pss (from smaps_rollup) of a process, in kB; undefined when it is gone. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rssKb: kb(status, 'VmRSS'), pssKb: kb(rollup, 'Pss'), pssAnonKb: kb(rollup, 'Pss_Anon'), pssFileKb: kb(rollup, 'Pss_File') };
  } catch {
    return undefined;
  }
}

/** Mount points at or below `dir` in this process's mount namespace. */
export function mountsUnder(dir) {
  const out = [];
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = l.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out;
}

/** Directories under /sys/fs/cgroup whose name contains one of `needles` (depth-limited walk). */
export function cgroupsMatching(needles, { root = '/sys/fs/cgroup', maxDepth = 8 } = {}) {
  const out = [];
  const walk = (dir, depth) => {
    let ents;
    try {
      ents = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (needles.some((n) => e.name.includes(n))) out.push(p);
      if (depth < maxDepth) walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

/**
 * What a set of pods left on the host: mounts below the data dir, cgroups named after a pod,
 * processes whose command line names the data dir or a pod, network namespaces (nsfs mounts or
 * /run/netns entries naming a pod), veths and iptables rules naming a pod. One line each.
 */
export function leftovers({ dataDir, uuids = [], extraProcessPattern }) {
  const lines = [];
  for (const m of mountsUnder(dataDir)) lines.push(`mount: ${m}`);
  const ids = uuids.map((u) => u.toLowerCase());
  if (ids.length) for (const c of cgroupsMatching(ids.map((u) => `rkt-${u}`))) lines.push(`cgroup: ${c}`);
  for (const p of processTable().values()) {
    if (p.pid === process.pid) continue;
    if (p.cmdline.includes(dataDir) || (extraProcessPattern && extraProcessPattern.test(p.cmdline))) lines.push(`process: ${p.pid} ${p.cmdline}`);
  }
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    const sep = f.indexOf('-');
    if (sep > 0 && f[sep + 1] === 'nsfs' && (f[4]?.includes(dataDir) || ids.some((u) => f[4]?.includes(u)))) lines.push(`netns: ${f[4]}`);
  }
  try {
    for (const n of readdirSync('/run/netns')) if (ids.some((u) => n.includes(u) || n.includes(u.slice(0, 8)))) lines.push(`netns: /run/netns/${n}`);
  } catch {
    // no named namespaces
  }
  const ipt = runOnce('iptables', ['-w', '-t', 'nat', '-S']);
  if (ipt.status === 0) for (const l of ipt.stdout.split('\n')) if (ids.some((u) => l.includes(u))) lines.push(`iptables: ${l}`);
  return lines;
}

/** Disk usage of a path in kB (`du -sk`, counting hard-linked files once per invocation). */
export function duKb(...paths) {
  const r = check(runOnce('du', ['-skc', ...paths]), 'du');
  const last = r.stdout.trim().split('\n').pop() ?? '0';
  return Number(last.split(/\s+/)[0]);
}

// ---------------------------------------------------------------------------------------------
// kernel timeline (ftrace)

/**
 * Kernel events of every process, timestamped on CLOCK_MONOTONIC (the clock of
 * process.hrtime), through a private ftrace instance: exec (with the file name), fork (parent
 * and child), exit, and the namespace and root calls (unshare, setns, pivot_root). Costs no
 * ptrace stop, so the traced programs run at full speed. tracefs is mounted at `<dir>/tracefs`
 * for as long as the trace lives; `close()` disables the events, removes the instance and
 * unmounts. Returns undefined when tracefs is not available.
 */
export function kernelTrace(dir, { events = ['sched/sched_process_exec', 'sched/sched_process_fork', 'sched/sched_process_exit', 'syscalls/sys_enter_unshare', 'syscalls/sys_enter_setns', 'syscalls/sys_enter_pivot_root'] } = {}) {
  const mnt = join(dir, 'tracefs');
  mkdirSync(mnt, { recursive: true });
  if (runOnce('mount', ['-t', 'tracefs', 'tracefs', mnt]).status !== 0) return undefined;
  const inst = join(mnt, 'instances', `rkt-bench-${process.pid}`);
  const enabled = [];
  const close = () => {
    try {
      writeFileSync(join(inst, 'tracing_on'), '0');
      for (const e of enabled) writeFileSync(join(inst, 'events', e, 'enable'), '0');
    } catch {
      // already gone
    }
    spawnSync('rmdir', [inst]);
    spawnSync('umount', [mnt]);
    process.removeListener('exit', close);
  };
  process.on('exit', close);
  try {
    mkdirSync(inst);
    writeFileSync(join(inst, 'trace_clock'), 'mono');
    writeFileSync(join(inst, 'buffer_size_kb'), '8192');
    for (const e of events) {
      writeFileSync(join(inst, 'events', e, 'enable'), '1');
      enabled.push(e);
    }
    writeFileSync(join(inst, 'tracing_on'), '1');
  } catch (e) {
    close();
    return undefined;
  }
  return {
    /** Empties the buffer. */
    clear: () => writeFileSync(join(inst, 'trace'), ''),
    /** Parsed events since the last clear: { pid, ts (ms, monotonic), event, text }. */
    read: () => parseTrace(readFileSync(join(inst, 'trace'), 'utf8')),
    close,
  };
}

/** Parses ftrace's text output into { pid, ts, event, text } with ts in ms. */
export function parseTrace(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^\s*.*?-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+(\w+)(?::|\()\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ pid: Number(m[1]), ts: Number(m[2]) * 1000, event: m[3], text: m[4] });
  }
  return out;
}

/**
 * The events of the process tree rooted at `rootPid` (threads included), in time order, with
 * the fork/exec/exit fields decoded: fork { child }, exec { filename }, exit {}.
 */
export function treeEvents(events, rootPid) {
  const inTree = new Set([rootPid]);
  const out = [];
  for (const e of events) {
    if (!inTree.has(e.pid)) continue;
    const ev = { ...e };
    if (e.event === 'sched_process_fork') {
      ev.child = Number(/child_pid=(\d+)/.exec(e.text)?.[1]);
      inTree.add(ev.child);
    } else if (e.event === 'sched_process_exec') {
      ev.filename = /filename=(\S+)/.exec(e.text)?.[1];
    }
    out.push(ev);
  }
  return out;
}

/** ms between CLOCK_MONOTONIC (hrtime) and the wall clock, to place epoch stamps on the trace. */
export function monoMinusEpochMs() {
  const epoch = performance.timeOrigin + performance.now();
  return Number(process.hrtime.bigint()) / 1e6 - epoch;
}

// ---------------------------------------------------------------------------------------------
// synthesized pods

/**
 * Writing pod directories without running them, for the scale benchmarks: the files stage0 and
 * stage1-coreos write (docs/on-disk-format.md), through @rktnetes/common's path functions,
 * copied from a real pod (`readTemplate(podDir)` of an exited overlay pod) into any state
 * directory (`synthesizePod(dataDir, template, dirState, { ran, withNet })`). `POD_MIX` is the
 * mix of states the list benchmark uses; `sys` is the real system call interface (to lock pods).
 */
export async function podSynthesis() {
  const { common, sys } = await loadPackages('common', 'sys');
  const { randomUUID } = await import('node:crypto');
  /** Reads what a synthesized pod copies from a real (exited, overlay) pod. */
  function readTemplate(pod) {
    const manifestText = readFileSync(common.podManifestPath(pod), 'utf8');
    const manifest = JSON.parse(manifestText);
    const s1id = readFileSync(common.stage1TreeStoreIdPath(pod), 'utf8').trim();
    const apps = manifest.apps.map((a) => ({
      name: a.name,
      treeStoreId: readFileSync(common.appTreeStoreIdPath(pod, a.name), 'utf8').trim(),
      manifest: readFileSync(common.appInfoManifestPath(pod, a.name), 'utf8'),
    }));
    return {
      manifestText,
      s1id,
      apps,
      stage1Manifest: readFileSync(common.stage1ManifestPath(pod), 'utf8'),
      runtimeConfig: readFileSync(common.runtimeConfigPath(pod), 'utf8'),
      uuid: pod.split('/').pop(),
    };
  }

  const touch = (p, mode = 0o640) => closeSync(openSync(p, 'a', mode));

  /**
   * Writes one pod directory in `dirState` with the files it has at that point of its life:
   * prepared files always; run files (pid, subcgroup, runtime-config, exit status in the stage1
   * upper dir, net-info.json for some) for pods that ran.
   */
  function synthesizePod(dataDir, t, dirState, { ran, withNet }) {
    const uuid = randomUUID();
    const pod = common.podDir(dataDir, dirState, uuid);
    mkdirSync(common.stage1RootfsPath(pod), { recursive: true, mode: 0o750 });
    writeFileSync(common.stage1ManifestPath(pod), t.stage1Manifest, { mode: 0o640 });
    writeFileSync(common.stage1TreeStoreIdPath(pod), t.s1id, { mode: 0o640 });
    for (const a of t.apps) {
      mkdirSync(common.appInfoDir(pod, a.name), { recursive: true, mode: 0o750 });
      writeFileSync(common.appInfoManifestPath(pod, a.name), a.manifest, { mode: 0o640 });
      writeFileSync(common.appTreeStoreIdPath(pod, a.name), a.treeStoreId, { mode: 0o640 });
    }
    touch(common.podManifestLockPath(pod), 0o600);
    // each pod's manifest differs (a user annotation), as pods made by an orchestrator do, so that
    // nothing can be shared between pods by their manifest text
    const manifest = JSON.parse(t.manifestText);
    manifest.userAnnotations = { 'bench/pod': uuid };
    writeFileSync(common.podManifestPath(pod), JSON.stringify(manifest), { mode: 0o640 });
    touch(common.podCreatedPath(pod));
    touch(common.overlayPreparedPath(pod));
    if (ran) {
      const upper = common.overlayUpperDir(pod, t.s1id);
      mkdirSync(common.appsStatusDirIn(upper), { recursive: true, mode: 0o755 });
      mkdirSync(common.overlayWorkDir(pod, t.s1id), { recursive: true, mode: 0o750 });
      for (const a of t.apps) {
        mkdirSync(common.overlayUpperDir(pod, a.treeStoreId, a.name), { recursive: true, mode: 0o755 });
        mkdirSync(common.overlayWorkDir(pod, a.treeStoreId, a.name), { recursive: true, mode: 0o750 });
        mkdirSync(common.appDir(pod, a.name), { recursive: true, mode: 0o750 });
        writeFileSync(common.appStatusPathIn(upper, a.name), common.formatIntFile(Math.random() < 0.8 ? 0 : 1));
      }
      writeFileSync(common.runtimeConfigPath(pod), t.runtimeConfig.replaceAll(t.uuid, uuid), { mode: 0o644 });
      writeFileSync(common.subcgroupPath(pod), `rkt-${uuid}`, { mode: 0o644 });
      writeFileSync(common.podPidPath(pod), common.formatIntFile(4_000_000 - Math.floor(Math.random() * 1000)), { mode: 0o644 });
      if (withNet) {
        const ip = `172.16.28.${2 + Math.floor(Math.random() * 250)}`;
        writeFileSync(common.netInfoPath(pod), common.formatNetInfo([{ netName: 'default', netConf: 'net/99-default.conf', pluginPath: 'stage1/rootfs/usr/lib/rkt/plugins/net/ptp', ifName: 'eth0', ip, args: '', mask: '255.255.255.0' }]));
      }
    }
    return { uuid, pod };
  }

  /** The mix of states among synthesized pods (fractions of the total). */
    const POD_MIX = [
    { name: 'exited', dir: 'run', share: 0.45, ran: true },
    { name: 'running', dir: 'run', share: 0.1, ran: true, lock: true },
    { name: 'prepared', dir: 'prepared', share: 0.15 },
    { name: 'exited garbage', dir: 'exited-garbage', share: 0.15, ran: true },
    { name: 'aborted prepare', dir: 'prepare', share: 0.05 },
    { name: 'garbage', dir: 'garbage', share: 0.05 },
    { name: 'embryo', dir: 'embryo', share: 0.05 },
  ];
  return { common, sys: sys.realSys(), readTemplate, synthesizePod, POD_MIX };
}
