/**
 * A private network namespace standing in for the host in tests that run `rkt` with CNI
 * networks: bridges, veths, nat rules and sysctls of the pods stay inside it. The namespace is
 * named (`/run/netns/<name>`); commands run in it through `nsenter --net`.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { runCommand, runCommandOk, type CommandResult } from '@rktnetes/testkit';

/**
 * The environment `rkt` and the tests' host commands run with: the test's own, without
 * NODE_EXTRA_CA_CERTS (nothing there opens TLS, and loading a bundle costs every start), with
 * this Node's directory first in PATH.
 */
export function rktEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = { ...base };
  delete env['NODE_EXTRA_CA_CERTS'];
  env['PATH'] = `${dirname(process.execPath)}:${env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  return env;
}

/** The path of the named network namespace `name`. */
export const netnsPath = (name: string): string => `/run/netns/${name}`;

/** The `nsenter` arguments that run `cmd args` in the network namespace at `netns` (a path). */
export function nsenterArgs(netns: string, cmd: string, args: readonly string[]): string[] {
  return [`--net=${netns}`, '--', cmd, ...args];
}

/**
 * Creates the named network namespace `name` with its loopback up; returns its path.
 *
 * @throws when `ip` fails (testkit `testkit.exec`), for one when it exists already
 */
export async function addNetns(name: string): Promise<string> {
  await runCommandOk('ip', ['netns', 'add', name]);
  await runCommandOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return netnsPath(name);
}

/** Deletes the named network namespace `name` when it exists. */
export async function deleteNetns(name: string): Promise<void> {
  if (existsSync(netnsPath(name))) await runCommand('ip', ['netns', 'del', name]);
}

/** Runs `cmd args` in the network namespace at `netns` with {@link rktEnv} and waits for it (killed after `timeoutMs`). */
export function runInNetns(netns: string, cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
  return runCommand('nsenter', nsenterArgs(netns, cmd, args), { env: rktEnv(), timeoutMs });
}

/**
 * An HTTP GET of `url` from inside the network namespace at `netns`, with Node's fetch: the
 * body, or undefined when it fails or takes more than `timeoutMs`.
 */
export async function httpGetIn(netns: string, url: string, timeoutMs = 3000): Promise<string | undefined> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(${timeoutMs}) }).then((r) => r.text()).then((t) => process.stdout.write(t), () => process.exit(1))`;
  const r = await runInNetns(netns, process.execPath, ['-e', script], timeoutMs + 10_000);
  return r.code === 0 ? r.stdout : undefined;
}

/** The names of the veth links in the network namespace at `netns`. */
export async function vethsIn(netns: string): Promise<string[]> {
  const r = await runInNetns(netns, 'ip', ['-o', 'link', 'show', 'type', 'veth']);
  return r.stdout.split('\n').flatMap((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? []);
}

/** One iptables rule (`-S` form) of a table. */
export interface TableRule {
  table: 'nat' | 'filter';
  rule: string;
}

/** The nat and filter rules of the network namespace at `netns` that mention rkt or CNI. */
export async function rktRulesIn(netns: string): Promise<TableRule[]> {
  const out: TableRule[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const r = await runInNetns(netns, 'iptables', ['-w', '-t', table, '-S']);
    out.push(...r.stdout.split('\n').filter((l) => /rkt|cni/i.test(l)).map((rule) => ({ table, rule })));
  }
  return out;
}
