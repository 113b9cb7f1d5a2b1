/**
 * A network sandbox for VM pods run through the real CLI: `rkt` (stage0's bundle) with the
 * kvm stage1 image runs inside a private "host" network namespace made for the test, so the
 * bridges, veths, nat rules and sysctls of the pods' CNI networks never touch the machine's own
 * namespace. Temporary data and configuration directories; everything removed at close.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, deleteNetns, httpGetIn, netnsPath, nsenterArgs, rktEnv, rktRulesIn, runInNetns, vethsIn } from '@rktnetes/stage1-kit/testing';
import { realSys, unmountTree } from '@rktnetes/sys';
import { type CommandResult, runCommand, tmpDir } from '@rktnetes/testkit';
import { PKG_DIR } from './helpers';

/** The stage0 bundle the tests drive. */
export const RKT = join(PKG_DIR, '..', 'stage0', 'dist', 'rkt.mjs');

/** A pod started in the background. */
export interface BackgroundPod {
  uuid: string;
  child: ChildProcess;
  /** resolves with the exit status and output (stdout and stderr interleaved) of `rkt run` */
  done: Promise<{ code: number | null; output: string }>;
  output(): string;
}

/** A private host network namespace with rkt directories. */
export class KvmNetSandbox {
  readonly id = randomBytes(3).toString('hex');
  readonly hostNs = `rkt-kt-${this.id}-h`;
  readonly hostPath = netnsPath(this.hostNs);
  root = '';
  dataDir = '';
  localConfig = '';
  private readonly uuids = new Set<string>();
  private readonly ipamDirs = new Set<string>();

  constructor(readonly stage1: string) {}

  /** Creates the namespace (loopback up) and the directories. */
  async open(): Promise<this> {
    this.root = await tmpDir(`kvmnet-${this.id}`);
    this.dataDir = join(this.root, 'data');
    this.localConfig = join(this.root, 'local');
    for (const d of [this.dataDir, join(this.localConfig, 'net.d')]) mkdirSync(d, { recursive: true });
    await addNetns(this.hostNs);
    return this;
  }

  /** Writes a network configuration into the local `net.d`; a host-local directory of its own is removed at close. */
  writeNet(file: string, conf: Record<string, unknown>): void {
    writeFileSync(join(this.localConfig, 'net.d', file), JSON.stringify(conf, null, 2));
    this.ipamDirs.add(join('/var/lib/cni/networks', String(conf['name'])));
  }

  private argv(args: readonly string[]): string[] {
    return nsenterArgs(this.hostPath, process.execPath, [RKT, `--dir=${this.dataDir}`, `--local-config=${this.localConfig}`, ...args]);
  }

  /** Runs `rkt <args>` in the sandbox and waits for it. */
  rkt(args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return runCommand('nsenter', this.argv(args), { env: rktEnv(), timeoutMs });
  }

  /** Starts `rkt run` of an image file with the kvm stage1 and waits until the pod's uuid is known. */
  async startPod(image: string, flags: readonly string[]): Promise<BackgroundPod> {
    const file = join(this.root, `uuid-${randomBytes(4).toString('hex')}`);
    const args = ['run', '--insecure-options=image', `--stage1-path=${this.stage1}`, `--uuid-file-save=${file}`, ...flags, image];
    const child = spawn('nsenter', this.argv(args), { env: rktEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => resolve({ code, output: out })));
    let exited = false;
    void done.then(() => (exited = true));
    const uuid = await waitFor('the pod uuid', () => {
      if (exited) throw new Error(`rkt run exited early: ${out}`);
      return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
    });
    this.uuids.add(uuid);
    return { uuid, child, done, output: () => out };
  }

  /** Runs a host command inside the sandbox namespace. */
  inHost(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
    return runInNetns(this.hostPath, cmd, args, timeoutMs);
  }

  /** An HTTP GET from the sandbox host with Node's fetch: the body, or undefined on failure. */
  async httpGet(url: string, timeoutMs = 5000): Promise<string | undefined> {
    return httpGetIn(this.hostPath, url, timeoutMs);
  }

  /**
   * What the pods left behind: veths and rkt/CNI nat and filter rules in the sandbox host, the
   * pods' namespaces, host-local leases naming them, processes mentioning them, mounts below
   * the sandbox. Empty means clean.
   */
  async leftovers(): Promise<string[]> {
    const out: string[] = [];
    out.push(...(await vethsIn(this.hostPath)).map((v) => `veth: ${v}`));
    out.push(...(await rktRulesIn(this.hostPath)).map((r) => `iptables: -t ${r.table} ${r.rule}`));
    const uuids = [...this.uuids];
    out.push(...uuids.filter((u) => existsSync(`/run/netns/rkt-${u}`)).map((u) => `netns: rkt-${u}`));
    for (const dir of ['/var/lib/cni/networks/default', ...this.ipamDirs]) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) {
        try {
          const text = readFileSync(join(dir, n), 'utf8');
          if (uuids.some((u) => text.startsWith(u))) out.push(`lease: ${join(dir, n)}`);
        } catch {
          // a directory
        }
      }
    }
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (uuids.some((u) => cmd.includes(u))) out.push(`process: ${pid} ${cmd.split('\0')[0]}`);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
    out.push(...mounts.filter((m) => m.startsWith(`${this.root}/`)).map((m) => `mount: ${m}`));
    return out;
  }

  /** Stops what is left, garbage-collects every pod, removes the namespace and the directories. */
  async close(): Promise<void> {
    if (!this.root) return;
    for (const u of this.uuids) await this.rkt(['stop', '--force', u], 30_000).catch(() => undefined);
    for (let i = 0; i < 10; i++) {
      await this.rkt(['gc', '--grace-period=0s'], 120_000).catch(() => undefined);
      if (!existsSync(join(this.dataDir, 'pods')) || ['run', 'exited-garbage', 'garbage'].every((s) => !existsSync(join(this.dataDir, 'pods', s)) || readdirSync(join(this.dataDir, 'pods', s)).length === 0)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await deleteNetns(this.hostNs);
    for (const d of this.ipamDirs) rmSync(d, { recursive: true, force: true });
    unmountTree(this.root, realSys());
    await runCommand('rm', ['-rf', this.root]);
  }
}

/** Polls `check` every 50 ms until it returns something other than undefined. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
