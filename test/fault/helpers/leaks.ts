/**
 * Leak checks scoped to one fault test: testkit's `leakCheck` over mounts, netns, veths,
 * iptables, this process's own cgroups (stage1-coreos creates `rkt-<uuid>` below the caller's
 * cgroup in every hierarchy) and child processes, filtered to the test's workspace and pod
 * uuids; plus processes left in the process groups of killed rkt runs, which the kernel
 * re-parents away from the test (so testkit's descendant scan cannot see them), and CNI
 * address leases held for the test's pods.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { leakCheck, type LeakCompare } from '@rktnetes/testkit';

/** This process's cgroup directory in every mounted hierarchy (v1 and v2). */
export function ownCgroupDirs(): string[] {
  const out: string[] = [];
  let text = '';
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const [, controllers = '', path = '/'] = line.split(':');
    const candidates =
      controllers === ''
        ? ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']
        : [join('/sys/fs/cgroup', controllers.replace(/^name=/, '')), ...controllers.split(',').map((c) => join('/sys/fs/cgroup', c.replace(/^name=/, '')))];
    for (const mount of candidates) {
      if (controllers === '' && mount === '/sys/fs/cgroup' && !existsSync('/sys/fs/cgroup/cgroup.controllers')) continue;
      const dir = join(mount, path);
      try {
        if (statSync(dir).isDirectory()) {
          out.push(dir);
          break;
        }
      } catch {
        // not this one
      }
    }
  }
  return [...new Set(out)];
}

/** The live (not zombie) processes of process group `pgid`. */
export function pidsInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Processes (pid, pgid, command) whose process group is one of `pgids`. */
export function processesInGroups(pgids: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      const state = fields[0];
      const pgid = Number(fields[2]);
      if (state !== 'Z' && pgids.has(pgid)) out.push(`process: ${name} (group ${pgid}) ${stat.slice(stat.indexOf('(') + 1, close)}`);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * host-local address leases (files named by the address, holding the container id) below
 * `dirs` whose content mentions one of `owned`: the reference plugin's and cni-bridge's default
 * `/var/lib/cni/networks`, shared with every other user of CNI on the host.
 */
export function cniLeases(owned: Iterable<string>, dirs: readonly string[] = ['/var/lib/cni/networks']): string[] {
  const names = [...owned];
  const out: string[] = [];
  for (const root of dirs) {
    let nets: string[] = [];
    try {
      nets = readdirSync(root);
    } catch {
      continue;
    }
    for (const net of nets) {
      const dir = join(root, net);
      let files: string[] = [];
      try {
        files = readdirSync(dir);
      } catch {
        continue;
      }
      for (const f of files) {
        if (f === 'lock' || f.startsWith('last_reserved_ip')) continue;
        try {
          const content = readFileSync(join(dir, f), 'utf8');
          if (names.some((n) => content.includes(n))) out.push(`lease: ${net}/${f} (${content.split(/\s/)[0]})`);
        } catch {
          // released meanwhile
        }
      }
    }
  }
  return out;
}

/** A leak check for one test; call {@link ScopedLeakCheck.compare} at the end. */
export interface ScopedLeakCheck {
  /** adds a name (pod uuid) whose resources belong to this test */
  own(name: string): void;
  /** the leaked resources: new lines mentioning the workspace or an owned name, and stray processes */
  compare(pgids: ReadonlySet<number>): Promise<string[]>;
}

/** Starts a leak check for resources that mention `workspace` or a name passed to `own`. */
export async function scopedLeakCheck(workspace: string, opts: { cniDataDirs?: string[] } = {}): Promise<ScopedLeakCheck> {
  const owned = new Set<string>([workspace]);
  const check: LeakCompare = await leakCheck({ cgroupRoots: ownCgroupDirs() });
  return {
    own: (name) => void owned.add(name),
    async compare(pgids) {
      const mentions = (l: string) => [...owned].some((n) => l.includes(n));
      // every new descendant of this test process is a leak, whatever its name
      const leaks = (await check()).filter((l) => l.startsWith('process: ') || mentions(l));
      leaks.push(...processesInGroups(pgids));
      leaks.push(...cniLeases(owned, [...(opts.cniDataDirs ?? []), '/var/lib/cni/networks', join(workspace, 'data', 'networks')]));
      return [...new Set(leaks)];
    },
  };
}
