/**
 * The hostile-input harness. A case builds its inputs (in `inputs/`), then rkt runs on them and
 * must fail the documented way: exit status 254 and exactly one line on stderr, `rkt: ...`,
 * naming the object and the reason. Around each group of cases the harness proves that nothing
 * else happened: the workspace tree (data dir, configuration dirs, `outside/`) is byte-for-byte
 * the same, the store lists the same images and trees, the mount table under the workspace is
 * the same, no file named with the escape token exists anywhere a hostile archive could have
 * reached, and the bystander pods — one running, one prepared — are still running and prepared.
 */
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { busyboxImage, isRoot, mountPoints, type CommandResult } from '@rktnetes/testkit';
import { createFaultEnv, errorLines, parseStatus, until, type FaultEnv, type Spawned } from './env';
import { diffSnapshots, storeListing, treeSnapshot, volatileDataPath, type TreeSnapshot } from './snapshot';

/** One hostile input. */
export interface HostileCase {
  /** what is hostile about it (test output) */
  name: string;
  /** builds the inputs and returns rkt's argv (without the global flags) */
  prepare(h: Harness): Promise<string[]> | string[];
  /** the exit status rkt must end with (default 254) */
  code?: number;
  /** the one error line must match this: it names the object and says what is wrong */
  expect: RegExp;
  /** stdin for rkt */
  input?: string;
  /**
   * lines on stderr (default 1): commands acting on several objects (`rkt image rm`) report
   * each object they cannot handle and then a summary, as rkt does
   */
  lines?: number;
}

/** A fault environment with bystander pods and an escape token. */
export interface Harness {
  env: FaultEnv;
  /** a string hostile inputs put in the names of what they try to write outside */
  token: string;
  /** the busybox image every pod uses */
  base: string;
  /** the bystander pods (only as root) */
  bystanders: { running?: string; prepared?: string; child?: Spawned };
}

/** Paths a hostile archive could reach besides the workspace: its ancestors, /tmp, / and /etc. */
function escapeRoots(h: Harness): string[] {
  const roots = new Set<string>(['/', '/tmp', '/etc', '/var/tmp']);
  for (let d = h.env.data; d !== '/'; d = dirname(d)) roots.add(d);
  return [...roots];
}

/** Files named with the escape token: anywhere in the workspace, or directly in an escape root. */
export function escapedFiles(h: Harness): string[] {
  const found: string[] = [];
  const mounts = new Set(mountPoints());
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.name.includes(h.token)) found.push(p);
      if (e.isDirectory() && !mounts.has(p)) walk(p);
    }
  };
  walk(h.env.root);
  for (const root of escapeRoots(h)) {
    try {
      for (const n of readdirSync(root)) if (n.includes(h.token)) found.push(join(root, n));
    } catch {
      // unreadable: nothing was written there either
    }
  }
  return [...new Set(found)].filter((p) => !p.startsWith(`${h.env.inputs}/`));
}

/**
 * Creates the harness: a fault env with the busybox image and, as root, the stage1 images and
 * two bystander pods: a running coreos pod (`sleep`) and a prepared fly pod. Dispose of it with
 * `h.env.dispose()` (in `test.after.always`).
 */
export async function createHarness(prefix: string): Promise<Harness> {
  const root = isRoot();
  // importing the stage1 images needs no privileges; running them does
  const env = await createFaultEnv(prefix, { stage1: ['coreos', 'fly'] });
  const base = await env.fetch(env.input('base.aci', await busyboxImage({ name: 'example.com/fault-base', exec: ['/bin/sh', '-c', 'echo ok'] })));
  const h: Harness = { env, token: `rktfault-escape-${randomBytes(4).toString('hex')}`, base, bystanders: {} };
  if (root) {
    const uuidFile = join(env.inputs, 'bystander-running');
    h.bystanders.child = env.spawnRkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=none', `--uuid-file-save=${uuidFile}`, base, '--exec=/bin/sleep', '--', '3600']);
    h.bystanders.running = await until('the bystander pod to run', async () => {
      let u: string;
      try {
        u = readFileSync(uuidFile, 'utf8').trim();
      } catch {
        return undefined;
      }
      const st = parseStatus((await env.rkt(['status', u])).stdout);
      return st.state === 'running' ? u : undefined;
    });
    const p = await env.rkt(['prepare', '--quiet', `--stage1-hash=${env.stage1.fly}`, base]);
    if (p.code !== 0) throw new Error(`cannot prepare the bystander pod: ${p.stderr}`);
    h.bystanders.prepared = p.stdout.trim();
  }
  return h;
}

/** What must not change; compared by {@link assertUnchanged}. */
export interface Picture {
  tree: TreeSnapshot;
  store: string[];
  mounts: string[];
}

const skipInWorkspace = (rel: string) => rel === 'inputs' || (rel.startsWith('data/') && volatileDataPath(rel.slice('data/'.length)));

/** Takes the picture of everything a hostile input must leave alone. */
export function picture(h: Harness): Picture {
  return {
    tree: treeSnapshot(h.env.root, { skip: skipInWorkspace }),
    store: storeListing(h.env.data),
    mounts: mountPoints().filter((m) => m.startsWith(`${h.env.root}/`)).sort(),
  };
}

/** What changed since `before`, what escaped, and what happened to the bystanders (empty: nothing). */
export async function changesSince(h: Harness, before: Picture): Promise<string[]> {
  const after = picture(h);
  const out = diffSnapshots(before.tree, after.tree).map((d) => `workspace: ${d}`);
  if (JSON.stringify(after.store) !== JSON.stringify(before.store)) out.push(`store changed: ${JSON.stringify(before.store)} => ${JSON.stringify(after.store)}`);
  if (JSON.stringify(after.mounts) !== JSON.stringify(before.mounts)) out.push(`mounts changed: ${JSON.stringify(before.mounts)} => ${JSON.stringify(after.mounts)}`);
  out.push(...escapedFiles(h).map((p) => `written outside: ${p}`));
  out.push(...(await bystanderProblems(h)));
  return out;
}

/** Asserts {@link changesSince} finds nothing. */
export async function assertUnchanged(t: ExecutionContext, h: Harness, before: Picture, what: string): Promise<void> {
  t.deepEqual(await changesSince(h, before), [], `${what}: something changed`);
}

/** The running bystander must still run, the prepared one still be prepared. */
export async function bystanderProblems(h: Harness): Promise<string[]> {
  const out: string[] = [];
  const { running, prepared } = h.bystanders;
  const stateOf = async (u: string) => parseStatus((await h.env.rkt(['status', u])).stdout).state;
  if (running && (await stateOf(running)) !== 'running') out.push(`the running bystander ${running} is ${await stateOf(running)}`);
  if (prepared && (await stateOf(prepared)) !== 'prepared') out.push(`the prepared bystander ${prepared} is ${await stateOf(prepared)}`);
  return out;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** What is wrong with one case's result (status, one line, `rkt: ` prefix, wording), if anything. */
export function refusalProblem(c: HostileCase, r: CommandResult): string | undefined {
  const errs = errorLines(r.stderr);
  const wrong: string[] = [];
  if (r.code !== (c.code ?? 254)) wrong.push(`exit status ${r.code ?? r.signal}, expected ${c.code ?? 254}`);
  if (errs.length !== (c.lines ?? 1)) wrong.push(`${errs.length} lines on stderr, expected ${c.lines ?? 1}`);
  else if (!/^rkt: \S/.test(errs[0]!)) wrong.push('no "rkt: " prefix');
  else if (!c.expect.test(errs[0]!)) wrong.push(`does not match ${c.expect}`);
  return wrong.length ? `${c.name}: ${wrong.join('; ')}\n    stderr: ${r.stderr.trim().replace(/\n/g, '\n            ')}` : undefined;
}

/**
 * Runs a group of cases: inputs first, then a picture, then rkt on every case (a few at a
 * time), then the comparison. All problems are reported together. Returns how many cases ran.
 */
export async function runCorpus(t: ExecutionContext, h: Harness, title: string, cases: readonly HostileCase[], opts: { concurrency?: number } = {}): Promise<number> {
  const argvs: string[][] = [];
  for (const c of cases) argvs.push(await c.prepare(h));
  const before = picture(h);
  const results = await mapLimit(
    cases.map((c, i) => ({ c, argv: argvs[i]! })),
    opts.concurrency ?? 3,
    async ({ c, argv }) => ({ c, r: await h.env.rkt(argv, c.input !== undefined ? { input: c.input } : {}) }),
  );
  const problems = results.map(({ c, r }) => refusalProblem(c, r)).filter((p): p is string => p !== undefined);
  problems.push(...(await changesSince(h, before)));
  t.deepEqual(problems, [], `${title}: ${problems.length} problem(s)`);
  t.log(`${title}: ${cases.length} cases`);
  return cases.length;
}
