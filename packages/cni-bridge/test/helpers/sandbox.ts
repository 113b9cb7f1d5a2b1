/**
 * Test sandboxes: the plugin (ours, bundled from source per test file, or Debian's) runs inside a
 * private "host" network namespace, so its bridge, veth host ends, iptables chains and sysctls
 * never touch the machine's own namespace; containers are further namespaces. Everything is
 * named `rkt-test-<id>-*` and removed by `close()`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { runCommand, runCommandOk, type CommandResult } from '@rktnetes/testkit';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..', '..');
/** node_modules of the workspace, where the bundle's external koffi is found */
export const WORKSPACE_NODE_MODULES = join(pkgDir, '..', '..', 'node_modules');
/** Debian's containernetworking-plugins */
export const DEBIAN_CNI = '/usr/lib/cni';

let bundlePromise: Promise<string> | undefined;
let bundleDir: string | undefined;

/**
 * Bundles `src/bin/cni-bridge.ts` like tools/build.mjs does, into a temp dir (once per test
 * process), and returns the file. koffi stays external: run it with NODE_PATH set to
 * {@link WORKSPACE_NODE_MODULES}, or without to exercise the flock(1) fallback.
 */
export function bundle(): Promise<string> {
  bundlePromise ??= (async () => {
    bundleDir = mkdtempSync(join(tmpdir(), 'cni-bridge-bundle-'));
    const outfile = join(bundleDir, 'cni-bridge.mjs');
    await build({
      entryPoints: [join(pkgDir, 'src', 'bin', 'cni-bridge.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['koffi'],
      banner: {
        js: [
          // the shebang scripts/build-extra.mjs gives dist/cni-bridge.mjs
          '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS CNI_BRIDGE_CA_CERTS=${NODE_EXTRA_CA_CERTS} node',
          "import { createRequire as __rktCreateRequire } from 'node:module';",
          'const require = __rktCreateRequire(import.meta.url);',
        ].join('\n'),
      },
      logLevel: 'warning',
    });
    chmodSync(outfile, 0o755);
    return outfile;
  })();
  return bundlePromise;
}

/** Removes the temp bundle (call from `test.after.always`). */
export function removeBundle(): void {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
}

/** Which plugin executable runs. */
export type Impl = 'ours' | 'debian';

/** Options of one plugin invocation. */
export interface InvokeOptions {
  containerId?: string;
  /** a netns path; `null` leaves CNI_NETNS unset */
  netns?: string | null;
  ifName?: string;
  cniArgs?: string;
  cniPath?: string;
  impl?: Impl;
  /** leave koffi unresolvable (our plugin only) */
  noKoffi?: boolean;
  /** extra or overriding environment */
  env?: Record<string, string | undefined>;
  debug?: boolean;
}

/** The outcome of one invocation: the process result and stdout parsed when it is JSON. */
export interface Invocation extends CommandResult {
  json: Record<string, unknown> | undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A CNI environment without PATH tweaks; the runner's PATH is kept. */
export function cniEnv(command: string, o: InvokeOptions): NodeJS.ProcessEnv {
  // node is found through PATH by the bundle's shebang
  const path = `${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  const env: NodeJS.ProcessEnv = { PATH: path, CNI_COMMAND: command };
  if (process.env['NODE_EXTRA_CA_CERTS']) env['NODE_EXTRA_CA_CERTS'] = process.env['NODE_EXTRA_CA_CERTS'];
  if (o.containerId !== undefined) env['CNI_CONTAINERID'] = o.containerId;
  if (o.netns !== undefined && o.netns !== null) env['CNI_NETNS'] = o.netns;
  if (o.ifName !== undefined) env['CNI_IFNAME'] = o.ifName;
  if (o.cniArgs !== undefined) env['CNI_ARGS'] = o.cniArgs;
  env['CNI_PATH'] = o.cniPath ?? DEBIAN_CNI;
  if (!o.noKoffi) env['NODE_PATH'] = WORKSPACE_NODE_MODULES;
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs our bundled plugin in the current namespace (no sandbox), e.g. for VERSION and errors. */
export async function invokeHere(command: string, conf: unknown, o: InvokeOptions = {}): Promise<Invocation> {
  const file = await bundle();
  const input = typeof conf === 'string' ? conf : JSON.stringify(conf);
  const r = await runCommand(file, o.debug ? ['--debug'] : [], { input, env: cniEnv(command, o), timeoutMs: 60_000 });
  return { ...r, json: parseJson(r.stdout) };
}

/** A private host namespace with container namespaces and an IPAM data dir. */
export class Sandbox {
  readonly id = randomBytes(3).toString('hex');
  readonly prefix = `rkt-test-${this.id}`;
  readonly hostNs = `${this.prefix}-h`;
  readonly hostPath = `/run/netns/${this.hostNs}`;
  readonly dataDir = mkdtempSync(join(tmpdir(), `cni-ipam-${this.id}-`));
  private readonly containers: string[] = [];

  /** Creates the host namespace (with loopback up); the names are known before, for leak checks. */
  async open(): Promise<this> {
    await runCommandOk('ip', ['netns', 'add', this.hostNs]);
    await runCommandOk('ip', ['-n', this.hostNs, 'link', 'set', 'lo', 'up']);
    return this;
  }

  /** Creates a container namespace and returns its path. */
  async container(name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    await runCommandOk('ip', ['netns', 'add', ns]);
    this.containers.push(ns);
    return `/run/netns/${ns}`;
  }

  /** Deletes a container namespace early (for DEL-after-netns-removed). */
  async removeContainer(path: string): Promise<void> {
    const ns = path.split('/').pop() as string;
    await runCommandOk('ip', ['netns', 'del', ns]);
    this.containers.splice(this.containers.indexOf(ns), 1);
  }

  /** Runs a command in the sandbox host namespace. */
  inHost(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    return runCommand('nsenter', [`--net=${this.hostPath}`, '--', cmd, ...args], input === undefined ? {} : { input });
  }

  /** Runs a command in a container namespace. */
  inContainer(netns: string, cmd: string, args: readonly string[]): Promise<CommandResult> {
    return runCommand('nsenter', [`--net=${netns}`, '--', cmd, ...args], { timeoutMs: 30_000 });
  }

  /** Runs a plugin command (ours by default) in the sandbox host namespace. */
  async invoke(command: string, conf: unknown, o: InvokeOptions = {}): Promise<Invocation> {
    const input = typeof conf === 'string' ? conf : JSON.stringify(conf);
    // ours is exec'd through its shebang, as a runtime does
    const argv = o.impl === 'debian' ? [join(DEBIAN_CNI, 'bridge')] : [await bundle(), ...(o.debug ? ['--debug'] : [])];
    const r = await runCommand('nsenter', [`--net=${this.hostPath}`, '--', ...argv], { input, env: cniEnv(command, o), timeoutMs: 60_000 });
    return { ...r, json: parseJson(r.stdout) };
  }

  /** `iptables -t nat -S` lines mentioning CNI chains, in the sandbox host. */
  async natRules(family: 4 | 6 = 4): Promise<string[]> {
    const r = await this.inHost(family === 4 ? 'iptables' : 'ip6tables', ['-w', '-t', 'nat', '-S']);
    return r.stdout.split('\n').filter((l) => l.includes('CNI-'));
  }

  /** Names of the veth links in the sandbox host. */
  async hostVeths(): Promise<string[]> {
    const r = await this.inHost('ip', ['-o', 'link', 'show', 'type', 'veth']);
    return r.stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
  }

  /** Removes every namespace and the data dir. */
  async close(): Promise<void> {
    for (const ns of this.containers.splice(0)) await runCommand('ip', ['netns', 'del', ns]);
    if (existsSync(`/run/netns/${this.hostNs}`)) await runCommand('ip', ['netns', 'del', this.hostNs]);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A bridge network config for tests (overrides merge in; `ipam` fields into the default host-local). */
export function bridgeConf(s: Sandbox, over: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: `net${s.id}`,
    type: 'bridge',
    bridge: `br${s.id}`,
    isGateway: true,
    ipam: { type: 'host-local', subnet: '10.99.0.0/24', dataDir: s.dataDir, ...ipam },
    ...over,
  };
}
