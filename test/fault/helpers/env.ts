/**
 * A throw-away rkt installation for fault tests: a workspace directory holding the data dir,
 * the three configuration dirs, an `inputs/` dir for the files the tests feed to rkt and an
 * `outside/` dir that hostile inputs try to reach. rkt is the bundled `packages/stage0/dist/rkt.mjs`,
 * started as a child process exactly as a user would; nothing touches /var/lib/rkt or /etc/rkt.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realSys, unmountTree } from '@rktnetes/sys';
import { pidsInGroup } from './leaks';
import { removeTree, runCommand, tmpDir, type CommandResult } from '@rktnetes/testkit';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
/** The rkt bundle under test. */
export const RKT = join(REPO, 'packages/stage0/dist/rkt.mjs');
/** The stage1 images the builds of the flavors write. */
export const STAGE1_ACI = {
  coreos: join(REPO, 'packages/stage1-coreos/dist/stage1-coreos.aci'),
  fly: join(REPO, 'packages/stage1-fly/dist/stage1-fly.aci'),
} as const;
export type Flavor = keyof typeof STAGE1_ACI;

/** The warning every `--insecure-options=image` fetch prints; not part of an error report. */
export const INSECURE_WARNING = 'rkt: warning: image signature verification has been disabled';

/** Whether the bundles a test needs are there. */
export function haveBundles(...flavors: Flavor[]): boolean {
  return existsSync(RKT) && flavors.every((f) => existsSync(STAGE1_ACI[f]));
}

/**
 * Waits up to `timeoutMs` for the bundles (a concurrent build removes and rewrites them);
 * false if they never appear, i.e. were not built.
 */
export async function waitForBundles(flavors: Flavor[] = [], timeoutMs = 90_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!haveBundles(...flavors)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
  return true;
}

/** What {@link Spawned.kill} kills. */
export type KillScope = 'process' | 'group' | 'children';

/** A process started with {@link FaultEnv.spawnRkt}, in its own process group. */
export interface Spawned {
  pid: number;
  /** resolves when the process has exited and its output is closed */
  done: Promise<CommandResult>;
  /** what the process is at this moment, from /proc/<pid>/cmdline: `stage0`, `stage1`, `init`, `app` (what stage1 exec'd) or `gone` */
  phase(): 'stage0' | 'stage1' | 'init' | 'app' | 'gone';
  /**
   * SIGKILL to the process alone, to its whole process group, or to every process of its group
   * but itself (what it started: stage1 gc, a decompressor, the pod's PID 1 and apps)
   */
  kill(scope: KillScope): void;
}

export interface RkOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** One rkt installation in a temp dir; see the module comment. */
export interface FaultEnv {
  root: string;
  data: string;
  localConfig: string;
  systemConfig: string;
  userConfig: string;
  inputs: string;
  outside: string;
  /** the global flags naming this installation */
  globals: string[];
  /** runs rkt to completion */
  rkt(args: string[], opts?: RkOptions): Promise<CommandResult>;
  /** starts rkt in a new process group without waiting */
  spawnRkt(args: string[], opts?: RkOptions): Spawned;
  /** writes `data` to `inputs/<name>` and returns the path */
  input(name: string, data: Buffer | string): string;
  /** fetches an image file into the store (`--insecure-options=image`), returns its full key */
  fetch(path: string): Promise<string>;
  /** the stage1 images, fetched into the store; keys by flavor */
  stage1: Partial<Record<Flavor, string>>;
  /** process groups of every rkt started by {@link spawnRkt} (for leak checks) */
  pgids: Set<number>;
  /** force-stops running pods, gc's everything, unmounts and removes the workspace */
  dispose(): Promise<void>;
}

/** The environment rkt runs with: the caller's, minus variables that would point rkt elsewhere. */
function childEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env, ...(extra ?? {}) };
  delete env.RKT_DIR;
  delete env.NODE_OPTIONS;
  return env;
}

async function waitForBundle(): Promise<void> {
  // other engineers rebuild stage0 now and then: wait for the bundle rather than fail
  for (let i = 0; i < 240 && !existsSync(RKT); i++) await new Promise((r) => setTimeout(r, 250));
}

/** The run failed because a concurrent build had the bundle missing or half-written, not because of rkt. */
const isBundleMissing = (r: CommandResult) =>
  r.code !== 0 && r.code !== 254 && (r.stderr.includes(`Cannot find module '${RKT}'`) || (r.stderr.includes('ENOENT') && r.stderr.includes(RKT)) || /SyntaxError/.test(r.stderr));

/** Reads what a process is from its command line. */
function phaseOf(pid: number): ReturnType<Spawned['phase']> {
  let cmd: string;
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return 'gone';
  }
  if (cmd === '') return 'gone'; // zombie
  if (cmd.includes('rkt.mjs')) return 'stage0';
  if (cmd.startsWith('init\0')) return 'init';
  if (/stage1-(coreos|fly)\.mjs|\/stage1\/rootfs\//.test(cmd)) return 'stage1';
  return 'app';
}

/** Creates a fault-test installation; `dispose` it in a teardown. */
export async function createFaultEnv(prefix: string, opts: { stage1?: Flavor[] } = {}): Promise<FaultEnv> {
  const root = await tmpDir(`fault-${prefix}`);
  const data = join(root, 'data');
  const cfg = join(root, 'cfg');
  const localConfig = join(cfg, 'local');
  const systemConfig = join(cfg, 'system');
  const userConfig = join(cfg, 'user');
  const inputs = join(root, 'inputs');
  const outside = join(root, 'outside');
  for (const d of [data, localConfig, systemConfig, userConfig, inputs, outside]) mkdirSync(d, { recursive: true });
  const globals = [`--dir=${data}`, `--local-config=${localConfig}`, `--system-config=${systemConfig}`, `--user-config=${userConfig}`];
  const pgids = new Set<number>();

  const rkt: FaultEnv['rkt'] = async (args, o = {}) => {
    for (let attempt = 0; ; attempt++) {
      await waitForBundle();
      const r = await runCommand(process.execPath, [RKT, ...globals, ...args], {
        timeoutMs: o.timeoutMs ?? 120_000,
        env: childEnv(o.env),
        ...(o.input !== undefined ? { input: o.input } : {}),
      });
      if (attempt < 20 && isBundleMissing(r)) continue;
      return r;
    }
  };

  const spawnRkt: FaultEnv['spawnRkt'] = (args, o = {}) => {
    const child = spawn(process.execPath, [RKT, ...globals, ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(o.env),
    });
    const pid = child.pid!;
    pgids.add(pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => kill('group'), o.timeoutMs);
    const done = new Promise<CommandResult>((resolve) => {
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const stdoutBuffer = Buffer.concat(out);
        resolve({ code, signal, stdout: stdoutBuffer.toString(), stderr: Buffer.concat(err).toString(), stdoutBuffer });
      });
    });
    const kill = (scope: KillScope) => {
      const targets = scope === 'group' ? [-pid] : scope === 'process' ? [pid] : pidsInGroup(pid).filter((p) => p !== pid);
      for (const target of targets) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    return { pid, done, phase: () => phaseOf(pid), kill };
  };

  const input: FaultEnv['input'] = (name, content) => {
    const p = join(inputs, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
    return p;
  };

  const fetch: FaultEnv['fetch'] = async (path) => {
    const r = await rkt(['fetch', '--insecure-options=image', '--full', path]);
    if (r.code !== 0) throw new Error(`rkt fetch ${path} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim().split('\n').pop()!;
  };

  const env: FaultEnv = {
    root,
    data,
    localConfig,
    systemConfig,
    userConfig,
    inputs,
    outside,
    globals,
    rkt,
    spawnRkt,
    input,
    fetch,
    stage1: {},
    pgids,
    async dispose() {
      await stopRunningPods(env).catch(() => undefined);
      await rkt(['gc', '--grace-period=0s', '--expire-prepared=0s']).catch(() => undefined);
      try {
        unmountTree(root, realSys());
      } catch {
        // reported by removeTree
      }
      await removeTree(root);
    },
  };

  for (const flavor of opts.stage1 ?? []) {
    // the dist image may be rewritten by a concurrent build: import a stable copy, retrying
    let lastErr: unknown;
    for (let i = 0; i < 10; i++) {
      try {
        const copy = join(inputs, `stage1-${flavor}.aci`);
        copyFileSync(STAGE1_ACI[flavor], copy);
        env.stage1[flavor] = await fetch(copy);
        lastErr = undefined;
        break;
      } catch (e) {
        lastErr = e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    if (lastErr) throw lastErr;
  }
  return env;
}

/** The uuids of the pods in `pods/<dir>`. */
export function podsIn(env: Pick<FaultEnv, 'data'>, dir: string): string[] {
  try {
    return readdirSync(join(env.data, 'pods', dir)).filter((n) => /^[0-9a-f-]{36}$/.test(n));
  } catch {
    return [];
  }
}

/** Every pod uuid in the data dir, whatever its state. */
export function allPods(env: Pick<FaultEnv, 'data'>): string[] {
  return ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'].flatMap((d) => podsIn(env, d));
}

/** `rkt stop --force` for every pod that is running. */
export async function stopRunningPods(env: FaultEnv): Promise<void> {
  for (const uuid of podsIn(env, 'run')) {
    const st = await env.rkt(['status', uuid]);
    if (/^state=running$/m.test(st.stdout)) await env.rkt(['stop', '--force', uuid]);
  }
  // wait for the stopped pods to release their locks
  for (let i = 0; i < 100; i++) {
    const l = await env.rkt(['list', '--format=json']);
    if (!/"state":"running"/.test(l.stdout)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Parses `rkt status` output into a record. */
export function parseStatus(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Polls `fn` until it returns a value, or throws after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Lines of a text, without empty ones. */
export const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');

/** stderr without the warning `--insecure-options=image` prints. */
export const errorLines = (stderr: string): string[] => lines(stderr).filter((l) => l !== INSECURE_WARNING);
