/**
 * Leak checks: snapshot the host resources a runtime may leave behind, then list what is new.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { hasTool } from './compress';
import { runCommand } from './exec';
import { unescapeMountField } from './tmp';

/** What {@link leakCheck} watches; each is on by default. */
export interface LeakKinds {
  /** `/proc/self/mountinfo` entries (mount point, fs type, source) */
  mounts?: boolean;
  /** named network namespaces (`ip netns list`) */
  netns?: boolean;
  /** veth links (`ip -o link show type veth`) */
  veth?: boolean;
  /** iptables nat and filter rules mentioning rkt or cni */
  iptables?: boolean;
  /** directories below `cgroupRoots` */
  cgroups?: boolean;
  /** processes descending from this one */
  processes?: boolean;
}

/** Options of {@link leakCheck}. */
export interface LeakCheckOptions extends LeakKinds {
  /**
   * cgroup directories to watch recursively: absolute paths, or paths relative to every hierarchy
   * mounted under /sys/fs/cgroup (e.g. `machine.slice`)
   */
  cgroupRoots?: string[];
  /**
   * report only leaks whose line matches (a substring or RegExp): ava runs test files in parallel,
   * so scope the check to names your test owns (a pod uuid, a tmp dir)
   */
  match?: string | RegExp;
}

/** Compares the current state with the snapshot and returns one line per leaked resource. */
export type LeakCompare = () => Promise<string[]>;

function readMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-');
      return `mount: ${unescapeMountField(f[4] ?? '')} ${f[sep + 1] ?? ''} ${unescapeMountField(f[sep + 2] ?? '')}`;
    });
}

async function readNetns(): Promise<string[]> {
  if (hasTool('ip')) {
    const r = await runCommand('ip', ['netns', 'list']);
    if (r.code === 0) {
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => `netns: ${l.split(' ')[0]}`);
    }
  }
  try {
    return readdirSync('/run/netns').map((n) => `netns: ${n}`);
  } catch {
    return [];
  }
}

async function readVeths(): Promise<string[]> {
  if (!hasTool('ip')) return [];
  const r = await runCommand('ip', ['-o', 'link', 'show', 'type', 'veth']);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n)
    .map((n) => `veth: ${n}`);
}

async function readIptables(): Promise<string[]> {
  if (!hasTool('iptables')) return [];
  const out: string[] = [];
  for (const table of ['nat', 'filter']) {
    const r = await runCommand('iptables', ['-w', '-t', table, '-S']);
    if (r.code !== 0) continue;
    for (const l of r.stdout.split('\n')) if (/rkt|cni/i.test(l)) out.push(`iptables: -t ${table} ${l}`);
  }
  return out;
}

function walkDirs(dir: string, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      if (statSync(p).isDirectory()) {
        out.push(p);
        walkDirs(p, out);
      }
    } catch {
      // raced with removal
    }
  }
}

function readCgroups(roots: readonly string[]): string[] {
  const dirs: string[] = [];
  for (const root of roots) {
    if (isAbsolute(root)) {
      walkDirs(root, dirs);
      continue;
    }
    let hierarchies: string[] = [];
    try {
      hierarchies = readdirSync('/sys/fs/cgroup');
    } catch {
      // no cgroup fs
    }
    const v2 = (() => {
      try {
        return statSync('/sys/fs/cgroup/cgroup.controllers').isFile();
      } catch {
        return false;
      }
    })();
    if (v2) walkDirs(join('/sys/fs/cgroup', root), dirs);
    else for (const h of hierarchies) walkDirs(join('/sys/fs/cgroup', h, root), dirs);
  }
  return dirs.map((d) => `cgroup: ${d}`);
}

function readDescendants(): string[] {
  const children = new Map<number, Array<{ pid: number; comm: string }>>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(name), comm });
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: string[] = [];
  const visit = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      out.push(`process: ${c.pid} ${c.comm}`);
      visit(c.pid);
    }
  };
  visit(process.pid);
  return out;
}

async function snapshot(opts: LeakCheckOptions): Promise<string[]> {
  const lines: string[] = [];
  if (opts.mounts ?? true) lines.push(...readMounts());
  if (opts.netns ?? true) lines.push(...(await readNetns()));
  if (opts.veth ?? true) lines.push(...(await readVeths()));
  if (opts.iptables ?? true) lines.push(...(await readIptables()));
  if ((opts.cgroups ?? true) && opts.cgroupRoots?.length) lines.push(...readCgroups(opts.cgroupRoots));
  // last, so that the helpers spawned above have exited
  if (opts.processes ?? true) lines.push(...readDescendants());
  return lines;
}

/** What identifies a resource: a process by pid alone (its name changes when it execs). */
function identity(line: string): string {
  return line.startsWith('process: ') ? line.split(' ', 2).join(' ') : line;
}

function counts(lines: readonly string[]): Map<string, { n: number; line: string }> {
  const m = new Map<string, { n: number; line: string }>();
  for (const line of lines) {
    const id = identity(line);
    m.set(id, { n: (m.get(id)?.n ?? 0) + 1, line });
  }
  return m;
}

/**
 * Snapshots mounts, named netns, veths, rkt/cni iptables rules, cgroups under `cgroupRoots` and
 * child processes, and returns a function that lists what appeared since (each line prefixed by
 * its kind: `mount:`, `netns:`, `veth:`, `iptables:`, `cgroup:`, `process:`). An empty list
 * means no leak. Missing tools (`ip`, `iptables`) make their part empty rather than failing.
 */
export async function leakCheck(opts: LeakCheckOptions = {}): Promise<LeakCompare> {
  const before = counts(await snapshot(opts));
  const matches = (l: string): boolean =>
    opts.match === undefined ? true : typeof opts.match === 'string' ? l.includes(opts.match) : opts.match.test(l);
  return async () => {
    const after = counts(await snapshot(opts));
    const leaks: string[] = [];
    for (const [id, { n, line }] of after) {
      const extra = n - (before.get(id)?.n ?? 0);
      for (let i = 0; i < extra; i++) if (matches(line)) leaks.push(line);
    }
    return leaks;
  };
}

/** The part of ava's assertions {@link assertNoLeaks} uses. */
export interface DeepEqualAssertion {
  deepEqual(actual: unknown, expected: unknown, message?: string): unknown;
}

/** Asserts that `compare` finds no leaks (a test failure listing them otherwise). */
export async function assertNoLeaks(t: DeepEqualAssertion, compare: LeakCompare): Promise<void> {
  t.deepEqual(await compare(), [], 'resources leaked');
}
