/**
 * A sandbox for network tests of `rkt run` with the real stage1-coreos image: rkt runs inside a
 * private network namespace made for the test (bridges, veths, nat rules and addresses stay in
 * it), with temporary data and configuration directories. Needs root and the built
 * `packages/stage1-coreos/dist/stage1-coreos.aci`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realSys, unmountTree } from '@rktnetes/sys';
import { type BusyboxImageOptions, type CommandResult, busyboxImage, removeTree, runCommand, runCommandOk, tmpDir } from '@rktnetes/testkit';

const here = dirname(fileURLToPath(import.meta.url));
export const RKT = join(here, '..', 'dist', 'rkt.mjs');
export const STAGE1_COREOS = join(here, '..', '..', 'stage1-coreos', 'dist', 'stage1-coreos.aci');

/** Whether the tests can run: root, busybox, nsenter and both built bundles. */
export const canRunNetTests = (): boolean => process.getuid?.() === 0 && existsSync(RKT) && existsSync(STAGE1_COREOS) && existsSync('/bin/busybox') && existsSync('/usr/bin/nsenter');

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e['NODE_EXTRA_CA_CERTS'];
  return e;
}

/** A private host network namespace and rkt directories. */
export class NetFixture {
  readonly id = randomBytes(3).toString('hex');
  readonly ns = `rkt-s0net-${this.id}`;
  readonly nsPath = `/run/netns/${this.ns}`;
  root = '';
  dataDir = '';
  localConfig = '';

  async open(): Promise<this> {
    this.root = await tmpDir(`s0net-${this.id}`);
    this.dataDir = join(this.root, 'data');
    this.localConfig = join(this.root, 'local');
    mkdirSync(this.dataDir, { recursive: true });
    mkdirSync(join(this.localConfig, 'net.d'), { recursive: true });
    mkdirSync(join(this.root, 'system'), { recursive: true });
    await runCommandOk('ip', ['netns', 'add', this.ns]);
    await runCommandOk('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
    return this;
  }

  writeNet(file: string, conf: Record<string, unknown>): void {
    writeFileSync(join(this.localConfig, 'net.d', file), JSON.stringify(conf));
  }

  async image(name: string, opts: BusyboxImageOptions): Promise<string> {
    const file = join(this.root, `${name}.aci`);
    if (!existsSync(file)) writeFileSync(file, await busyboxImage({ name: `example.com/${name}`, ...opts }));
    return file;
  }

  /** `rkt <args>` inside the namespace. */
  rkt(args: readonly string[]): Promise<CommandResult> {
    const globals = [`--dir=${this.dataDir}`, `--local-config=${this.localConfig}`, `--system-config=${join(this.root, 'system')}`];
    return runCommand('nsenter', [`--net=${this.nsPath}`, '--', process.execPath, RKT, ...globals, ...args], { env: env(), timeoutMs: 120_000 });
  }

  /** `rkt run` of an image file with the stage1-coreos image; also returns the pod uuid. */
  async run(image: string, flags: readonly string[]): Promise<CommandResult & { uuid: string }> {
    const file = join(this.root, `uuid-${randomBytes(4).toString('hex')}`);
    const r = await this.rkt(['run', '--insecure-options=image', `--stage1-path=${STAGE1_COREOS}`, `--uuid-file-save=${file}`, ...flags, image]);
    return { ...r, uuid: existsSync(file) ? readFileSync(file, 'utf8').trim() : '' };
  }

  /** veths and rkt/CNI nat rules left in the namespace. */
  async leftovers(): Promise<string[]> {
    const inNs = (cmd: string, args: string[]) => runCommand('nsenter', [`--net=${this.nsPath}`, '--', cmd, ...args]);
    const veths = (await inNs('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout.split('\n').filter(Boolean);
    const rules = (await inNs('iptables', ['-w', '-t', 'nat', '-S'])).stdout.split('\n').filter((l) => /rkt|cni/i.test(l));
    return [...veths.map((v) => `veth: ${v}`), ...rules.map((r) => `iptables: ${r}`)];
  }

  async close(): Promise<void> {
    if (!this.root) return;
    await this.rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    if (existsSync(this.nsPath)) await runCommand('ip', ['netns', 'del', this.ns]);
    try {
      unmountTree(this.root, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(this.root);
    this.root = '';
  }
}
