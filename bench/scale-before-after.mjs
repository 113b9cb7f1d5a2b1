#!/usr/bin/env node
// Before/after of the scale fixes, on the same data in the same run: a "before" rkt bundle is
// built from the current tree with the files the fixes touched taken back from git, and both
// bundles are timed interleaved on `rkt list`/`rkt status` among 1,000 pods, `rkt run`, and
// `rkt gc` of exited pods (two identical data dirs, one per bundle).
// Usage (root; build stage0 and stage1-coreos first):
//   node bench/scale-before-after.mjs [--pods=1000] [--gc-pods=300] [--runs=15]
//
// "before" = src/pod/info.ts, src/pod/commands/gc.ts, src/pod/commands/stop.ts at commit c6bf726
// (asynchronous reads, one pod at a time), src/cli/main.ts and @rktnetes/schema's validate.ts at
// HEAD (yargs for every command, defineProperty for every parsed field). Everything else is the
// current tree, so only those changes differ.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync, closeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import {
  REPO, RKT, STAGE1_COREOS, check, childrenCpuMs, fmt, fmtS, isRoot, leftovers, podSynthesis, requireBuilt, runOnce, since, table, timeCase, workspace, writeBusyboxAci,
} from './lib.mjs';

const opt = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const PODS = Number(opt.pods ?? 1000);
const GC_PODS = Number(opt['gc-pods'] ?? 300);
const RUNS = Number(opt.runs ?? 15);
requireBuilt(RKT, STAGE1_COREOS);
if (!isRoot()) throw new Error('run as root');

/** Builds the "before" bundle under `dir`; returns its path. */
async function buildBefore(dir) {
  const stage0 = join(dir, 'stage0');
  const schema = join(dir, 'schema');
  cpSync(join(REPO, 'packages/stage0/src'), join(stage0, 'src'), { recursive: true });
  cpSync(join(REPO, 'packages/schema/src'), join(schema, 'src'), { recursive: true });
  const fromGit = (rev, path, to) => writeFileSync(to, execFileSync('git', ['-C', REPO, 'show', `${rev}:${path}`]));
  for (const f of ['src/pod/info.ts', 'src/pod/commands/gc.ts', 'src/pod/commands/stop.ts']) fromGit('c6bf726', `packages/stage0/${f}`, join(stage0, f));
  fromGit('HEAD', 'packages/stage0/src/cli/main.ts', join(stage0, 'src/cli/main.ts'));
  fromGit('HEAD', 'packages/schema/src/validate.ts', join(schema, 'src/validate.ts'));
  const pkg = JSON.parse(readFileSync(join(REPO, 'packages/stage0/package.json'), 'utf8'));
  const out = join(stage0, 'dist', 'rkt.mjs');
  await build({
    entryPoints: [join(stage0, 'src/bin/rkt.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: Object.keys(pkg.dependencies ?? {}),
    alias: { 'string-width': join(REPO, 'tools/shims/string-width.mjs'), '@rktnetes/schema': join(schema, 'src/index.ts') },
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __rktCreateRequire } from 'node:module';\nconst require = __rktCreateRequire(import.meta.url);" },
    legalComments: 'none',
    minifySyntax: true,
    define: { 'process.env.RKT_BUILD_VERSION': JSON.stringify(pkg.version) },
    logLevel: 'warning',
    tsconfig: join(REPO, 'tsconfig.base.json'),
  });
  chmodSync(out, 0o755);
  return out;
}

const tmp = join(REPO, 'bench', `.before-${process.pid}`);
mkdirSync(tmp, { recursive: true });
const { common, sys, readTemplate, synthesizePod, POD_MIX } = await podSynthesis();
const rows = [];
const locks = [];
const spaces = [];
try {
  const before = await buildBefore(tmp);
  const ws = workspace('before-after');
  spaces.push(ws);
  const after = ws.rktPath;
  const bin = { before, after };
  const aci = writeBusyboxAci(join(ws.dir, 'true.aci'), { exec: ['/bin/true'] });
  const fetchId = (file) => check(ws.rkt(['fetch', '--insecure-options=image', file]), `rkt fetch ${file}`).stdout.trim().split('\n').pop();
  const imageId = fetchId(aci);
  const s1 = fetchId(STAGE1_COREOS);
  const runArgs = ['run', '--net=none', `--stage1-hash=${s1}`, imageId];
  const first = join(ws.dir, 'uuid');
  check(ws.rkt([...runArgs.slice(0, -1), `--uuid-file-save=${first}`, imageId]), 'rkt run');
  const template = readTemplate(common.podDir(ws.dataDir, 'run', readFileSync(first, 'utf8').trim()));
  let made = 0;
  let exited;
  for (const [k, m] of POD_MIX.entries()) {
    const n = k === POD_MIX.length - 1 ? PODS - 1 - made : Math.round((PODS - 1) * m.share);
    made += n;
    for (let i = 0; i < n; i++) {
      const { uuid, pod } = synthesizePod(ws.dataDir, template, m.dir, { ran: !!m.ran, withNet: i % 2 === 0 });
      if (m.name === 'exited') exited = uuid;
      if (m.lock) {
        const fd = sys.openDirFd(pod);
        sys.flock(fd, 'ex', { nonBlocking: true });
        locks.push(fd);
      }
    }
  }
  const cases = [
    [`rkt list (${PODS} pods)`, ['list']],
    ['rkt list --format=json', ['list', '--format=json']],
    [`rkt status UUID (among ${PODS})`, ['status', exited]],
    ['rkt run --net=none (coreos, /bin/true)', runArgs],
  ];
  for (const [name, args] of cases) {
    const r = {};
    for (const round of [0, 1]) {
      for (const which of ['before', 'after']) {
        const t = timeCase(process.execPath, [bin[which], ...ws.globals, ...args], { runs: Math.ceil(RUNS / 2), warmup: round === 0 ? 1 : 0 });
        r[which] = r[which] ? { median: (r[which].median + t.median) / 2, p90: Math.max(r[which].p90, t.p90), cpu: (r[which].cpu + t.cpu) / 2 } : t;
      }
    }
    rows.push([name, fmt(r.before.median), fmt(r.after.median), `${(r.before.median / r.after.median).toFixed(2)}×`, fmt(r.before.cpu), fmt(r.after.cpu), `${(r.before.cpu / r.after.cpu).toFixed(2)}×`]);
  }
  for (const fd of locks.splice(0)) closeSync(fd);
  check(ws.rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']), 'rkt gc');

  // gc: the same exited pods in two data dirs, one per bundle
  const gcRows = {};
  for (const which of ['before', 'after']) {
    const g = workspace(`gc-${which}`);
    spaces.push(g);
    for (const f of [aci, STAGE1_COREOS]) check(g.rkt(['fetch', '--insecure-options=image', f]), 'rkt fetch');
    const u = join(g.dir, 'uuid');
    check(g.rkt([...runArgs.slice(0, -1), `--uuid-file-save=${u}`, imageId]), 'rkt run');
    const t = readTemplate(common.podDir(g.dataDir, 'run', readFileSync(u, 'utf8').trim()));
    for (let i = 1; i < GC_PODS; i++) synthesizePod(g.dataDir, t, 'run', { ran: true, withNet: false });
    const c0 = childrenCpuMs();
    const t0 = process.hrtime.bigint();
    const r = check(runOnce(process.execPath, [bin[which], ...g.globals, 'gc', '--grace-period=0s']), `rkt gc (${which})`);
    gcRows[which] = { ms: since(t0), cpu: childrenCpuMs() - c0, n: (r.stdout.match(/^Garbage collecting/gm) ?? []).length };
  }
  const b = gcRows.before;
  const a = gcRows.after;
  rows.push([`rkt gc of ${GC_PODS} exited pods (${b.n} / ${a.n} collected)`, fmtS(b.ms), fmtS(a.ms), `${(b.ms / a.ms).toFixed(2)}×`, fmtS(b.cpu), fmtS(a.cpu), `${(b.cpu / a.cpu).toFixed(2)}×`]);
  console.log(`## before/after of the scale fixes (same data, same run)\n\nload average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${Math.ceil(RUNS / 2) * 2} runs per case and bundle, interleaved; ${process.env.NODE_EXTRA_CA_CERTS ? 'with' : 'without'} NODE_EXTRA_CA_CERTS; CPU = user+sys of rkt and everything it ran\n`);
  console.log(table(rows, ['command', 'before: median', 'after: median', 'speed-up', 'before: CPU', 'after: CPU', 'CPU ratio']));
} finally {
  for (const fd of locks) closeSync(fd);
  for (const s of spaces) {
    s.rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']);
    const left = leftovers({ dataDir: s.dataDir });
    if (left.length) console.error(`leftovers in ${s.dir}:\n${left.join('\n')}`);
    else s.cleanup();
  }
  rmSync(tmp, { recursive: true, force: true });
}
