/**
 * Network test sandboxes: the whole of `rkt` (stage0, stage1, CNI plugins, iptables) runs
 * inside a private "host" network namespace made for the test, so bridges, veths, nat rules and
 * sysctls never touch the machine's own namespace and every address the pods use stays inside
 * it. Pods are run through the real CLI (`packages/stage0/dist/rkt.mjs`) with the real
 * stage1-coreos image and temporary data and configuration directories.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NetInfo, parseNetInfo } from '@rktnetes/common';
import { realSys, unmountTree } from '@rktnetes/sys';
import { addNetns, deleteNetns, httpGetIn, netnsPath, nsenterArgs, rktEnv, rktRulesIn, runInNetns, vethsIn } from '@rktnetes/stage1-kit/testing';
import { type CommandResult, type LeakCompare, busyboxImage, leakCheck, removeTree, runCommand, runCommandOk, tmpDir, type BusyboxImageOptions } from '@rktnetes/testkit';
import { ensureStage1Aci } from './pod';

const here = dirname(fileURLToPath(import.meta.url));
/** The stage0 bundle the tests drive. */
export const RKT = join(here, '..', '..', '..', 'stage0', 'dist', 'rkt.mjs');
/** Debian's containernetworking-plugins. */
export const DEBIAN_CNI = '/usr/lib/cni';
/** host-local's default directory, used by the built-in networks. */
export const CNI_NETWORKS_DIR = '/var/lib/cni/networks';

/** A pod started in the background. */
export interface BackgroundPod {
  uuid: string;
  child: ChildProcess;
  /** resolves with the status and output of `rkt run` */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  output(): string;
}

/** A private host network namespace with rkt directories. */
export class NetSandbox {
  readonly id = randomBytes(3).toString('hex');
  readonly hostNs = `rkt-nt-${this.id}-h`;
  readonly hostPath = netnsPath(this.hostNs);
  root = '';
  dataDir = '';
  localConfig = '';
  systemConfig = '';
  stage1 = '';
  private leaks: LeakCompare | undefined;
  private readonly images = new Map<string, string>();
  private readonly uuids = new Set<string>();
  private readonly ownVeths = new Set<string>();

  /** Creates the namespace (loopback up) and the directories; snapshots mounts and processes. */
  async open(): Promise<this> {
    this.stage1 = ensureStage1Aci();
    this.root = await tmpDir(`netsb-${this.id}`);
    this.dataDir = join(this.root, 'data');
    this.localConfig = join(this.root, 'local');
    this.systemConfig = join(this.root, 'system');
    for (const d of [this.dataDir, join(this.localConfig, 'net.d'), this.systemConfig]) mkdirSync(d, { recursive: true });
    await addNetns(this.hostNs);
    this.leaks = await leakCheck({ match: new RegExp(`${this.root}|rkt-nt-${this.id}`), veth: false, iptables: false });
    return this;
  }

  /**
   * A veth pair in the sandbox host, up (an interface for macvlan to hang off: this kernel has no
   * dummy links); left out of {@link leftovers}.
   */
  async hostVethPair(name: string): Promise<void> {
    await runCommandOk('nsenter', [`--net=${this.hostPath}`, '--', 'ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    await runCommandOk('nsenter', [`--net=${this.hostPath}`, '--', 'ip', 'link', 'set', name, 'up']);
    this.ownVeths.add(name).add(`${name}p`);
  }

  /** Writes a network configuration into the local `net.d`. */
  writeNet(file: string, conf: Record<string, unknown>): void {
    writeFileSync(join(this.localConfig, 'net.d', file), JSON.stringify(conf, null, 2));
  }

  /** Builds (once per name) a busybox image and returns its path. */
  async image(name: string, opts: BusyboxImageOptions): Promise<string> {
    const cached = this.images.get(name);
    if (cached) return cached;
    const file = join(this.root, `${name}.aci`);
    writeFileSync(file, await busyboxImage({ name: `example.com/${name}`, ...opts, busybox: { extraApplets: ['httpd'], ...opts.busybox } }));
    this.images.set(name, file);
    return file;
  }

  private argv(args: readonly string[]): string[] {
    return nsenterArgs(this.hostPath, process.execPath, [RKT, `--dir=${this.dataDir}`, `--local-config=${this.localConfig}`, `--system-config=${this.systemConfig}`, ...args]);
  }

  /** Runs `rkt <args>` in the sandbox and waits for it. */
  rkt(args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return runCommand('nsenter', this.argv(args), { env: rktEnv(), timeoutMs });
  }

  /** Starts `rkt <args>` in the sandbox (stdio ignored unless `pipe`). */
  spawnRkt(args: readonly string[], pipe = false): ChildProcess {
    return spawn('nsenter', this.argv(args), { env: rktEnv(), stdio: ['ignore', pipe ? 'pipe' : 'ignore', pipe ? 'pipe' : 'ignore'] });
  }

  /** `rkt run` arguments with the test's stage1 and an image file. */
  runArgs(image: string, flags: readonly string[] = [], uuidFile?: string): string[] {
    return ['run', '--insecure-options=image', `--stage1-path=${this.stage1}`, ...(uuidFile ? [`--uuid-file-save=${uuidFile}`] : []), ...flags, image];
  }

  /** Runs a pod to its end; returns the result and its uuid. */
  async runPod(image: string, flags: readonly string[] = []): Promise<CommandResult & { uuid: string }> {
    const file = join(this.root, `uuid-${randomBytes(4).toString('hex')}`);
    const r = await this.rkt(this.runArgs(image, flags, file));
    const uuid = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    if (uuid) this.uuids.add(uuid);
    return { ...r, uuid };
  }

  /** Starts a pod in the background and waits until its networks are recorded. */
  async startPod(image: string, flags: readonly string[] = []): Promise<BackgroundPod> {
    const file = join(this.root, `uuid-${randomBytes(4).toString('hex')}`);
    const child = this.spawnRkt(this.runArgs(image, flags, file), true);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout: out, stderr: out })));
    let exited = false;
    void done.then(() => (exited = true));
    const uuid = await waitFor('the pod uuid', () => (exited ? fail(`rkt run exited early: ${out}`) : existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined));
    this.uuids.add(uuid);
    await waitFor('the pod networks', () => (exited ? fail(`rkt run exited early: ${out}`) : this.netInfo(uuid).every((n) => n.ip !== '') && this.netInfo(uuid).length > 0 ? true : undefined), 60_000);
    return { uuid, child, done, output: () => out };
  }

  /** The pod directory of a uuid, whatever state it is in. */
  podDir(uuid: string): string | undefined {
    for (const state of ['run', 'exited-garbage', 'garbage', 'prepared']) {
      const d = join(this.dataDir, 'pods', state, uuid);
      if (existsSync(d)) return d;
    }
    return undefined;
  }

  /** The pod's `net-info.json` (empty when absent). */
  netInfo(uuid: string): NetInfo[] {
    const d = this.podDir(uuid);
    if (!d || !existsSync(join(d, 'net-info.json'))) return [];
    try {
      return parseNetInfo(readFileSync(join(d, 'net-info.json'), 'utf8'));
    } catch {
      return [];
    }
  }

  /** Runs a host command inside the sandbox namespace. */
  inHost(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
    return runInNetns(this.hostPath, cmd, args, timeoutMs);
  }

  /**
   * An HTTP GET from inside a network namespace (the sandbox host by default) with Node's fetch;
   * resolves with the body, or undefined when it fails within `timeoutMs`.
   */
  httpGet(url: string, netns: string = this.hostPath, timeoutMs = 3000): Promise<string | undefined> {
    return httpGetIn(netns, url, timeoutMs);
  }

  /** The veth links of the sandbox host. */
  veths(): Promise<string[]> {
    return vethsIn(this.hostPath);
  }

  /** nat and filter rules of the sandbox host that mention rkt or CNI. */
  async rules(): Promise<string[]> {
    return (await rktRulesIn(this.hostPath)).map((r) => `${r.table}: ${r.rule}`);
  }

  /** host-local reservations (files naming a container id) in the given IPAM directories. */
  leases(uuids: readonly string[], dirs: readonly string[] = [CNI_NETWORKS_DIR]): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
      let names: string[] = [];
      try {
        names = readdirSync(d);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(d, n);
        try {
          const text = readFileSync(p, 'utf8');
          if (uuids.some((u) => text.startsWith(u))) out.push(p);
        } catch {
          walk(p);
        }
      }
    };
    for (const d of dirs) walk(d);
    return out;
  }

  /** The named namespaces of the given pods still in /run/netns. */
  podNetns(uuids: readonly string[]): string[] {
    return uuids.filter((u) => existsSync(`/run/netns/rkt-${u}`)).map((u) => `/run/netns/rkt-${u}`);
  }

  /** Adds a pod started with {@link spawnRkt} to those checked and cleaned up. */
  track(uuid: string): void {
    this.uuids.add(uuid);
  }

  /** Every pod this sandbox started. */
  pods(): string[] {
    return [...this.uuids];
  }

  /**
   * What the pods left behind: veths, rkt/CNI rules, pod namespaces, leases (also in
   * `ipamDirs`), mounts and processes below the sandbox. Empty means clean.
   */
  async leftovers(ipamDirs: readonly string[] = []): Promise<string[]> {
    const uuids = this.pods();
    return [
      ...(await this.veths()).filter((v) => !this.ownVeths.has(v)).map((v) => `veth: ${v}`),
      ...(await this.rules()).map((r) => `iptables: ${r}`),
      ...this.podNetns(uuids).map((n) => `netns: ${n}`),
      ...this.leases(uuids, [CNI_NETWORKS_DIR, ...ipamDirs]).map((l) => `lease: ${l}`),
      ...(this.leaks ? await this.leaks() : []),
    ];
  }

  /** Garbage-collects every exited pod (`rkt gc --grace-period=0s`). */
  gc(): Promise<CommandResult> {
    return this.rkt(['gc', '--grace-period=0s']);
  }

  /** Stops what is left, garbage-collects every pod, removes the namespace and the directories. */
  async close(): Promise<void> {
    if (!this.root) return;
    for (const u of this.uuids) if (this.podDir(u)?.includes('/pods/run/')) await this.rkt(['stop', '--force', u], 30_000).catch(() => undefined);
    // stopped pods count as exited once their lock is released: gc until none is left
    for (let i = 0; i < 20 && this.pods().some((u) => this.podDir(u)); i++) {
      await this.rkt(['gc', '--grace-period=0s'], 120_000).catch(() => undefined);
      if (this.pods().some((u) => this.podDir(u))) await new Promise((r) => setTimeout(r, 250));
    }
    await deleteNetns(this.hostNs);
    try {
      unmountTree(this.root, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(this.root);
    this.root = '';
  }
}

function fail(message: string): never {
  throw new Error(message);
}

/** Polls `check` every 50 ms until it returns a value; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether the end-to-end network tests can run here. */
export function canRunNetTests(): boolean {
  return process.getuid?.() === 0 && existsSync(RKT) && existsSync('/bin/busybox') && existsSync('/usr/bin/nsenter') && existsSync('/usr/sbin/iptables');
}
