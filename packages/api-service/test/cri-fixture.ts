/**
 * Fixtures of the CRI tests: Debian's `docker-registry` on 127.0.0.1 (optionally behind
 * htpasswd) with busybox images pushed by skopeo from testkit OCI layouts, the bundled
 * `rkt-api-service cri` on a temp socket over a temp data directory, and a runtime.v1 client
 * made from the package's proto with grpc-js. Nothing leaves loopback; everything stops in
 * teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import type { ExecutionContext } from 'ava';
import { buildOciLayout, busyboxTree, leakCheck, pushLayout, startRegistry, removeTree, runCommand, stopChild, tmpDir, type LeakCompare, type OciLayoutOptions, type FileTree, type Registry } from '@rktnetes/testkit';
import { BIN, ensureBuilt } from './helpers/server';

const PKG = fileURLToPath(new URL('..', import.meta.url));
export const PROTO = join(PKG, 'proto', 'cri', 'api.proto');
export const RKT = fileURLToPath(new URL('../../stage0/dist/rkt.mjs', import.meta.url));
export const STAGE1 = fileURLToPath(new URL('../../stage1-coreos/dist/stage1-coreos.aci', import.meta.url));

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export { freePort, startRegistry, type Registry } from '@rktnetes/testkit';

/** Builds an OCI layout and pushes it with skopeo as `<registry>/<name>` for every name. */
export async function pushImage(t: Teardownable, registry: Pick<Registry, 'host'>, names: string[], layout: OciLayoutOptions, creds?: { user: string; password: string }): Promise<void> {
  const dir = await tmpDir('cri-oci', t);
  await buildOciLayout(dir, { ...layout, ref: 'src' });
  for (const name of names) await pushLayout(registry, dir, 'src', name, creds ? { creds } : {});
}

/** A running CRI server child. */
export interface CriServer {
  socket: string;
  dataDir: string;
  configDir: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** Whether the bundles the CRI tests need are built (rkt, stage1-coreos). */
export const bundlesPresent = () => existsSync(RKT) && existsSync(STAGE1);

/**
 * Starts `rkt-api-service cri` over a fresh data dir and config dir (or those of `reuse`, a
 * server stopped before); resolves once it printed `ready`.
 */
export async function startCri(t: Teardownable, extra: string[] = [], reuse?: CriServer): Promise<CriServer> {
  ensureBuilt();
  const work = reuse ? join(reuse.dataDir, '..') : await tmpDir('cri', t);
  const dataDir = join(work, 'data');
  const configDir = join(work, 'config');
  mkdirSync(configDir, { recursive: true });
  const socket = join(work, 'cri.sock');
  const args = [BIN, 'cri', '--cri-socket', socket, '--dir', dataDir, '--rkt-path', RKT, '--local-config', configDir, '--system-config', configDir, '--user-config', configDir, '--insecure-options=http', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/rkt-api-service: ready$/m.test(err)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`CRI server exited with ${code}: ${err}`)));
  });
  const stop = () => stopChild(child, 10_000);
  t.teardown(stop);
  return { socket, dataDir, configDir, child, stderr: () => err, stop };
}

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

/** A runtime.v1 client: promise-returning calls on either service. */
export interface CriClient {
  runtime<T = any>(method: string, req?: object): Promise<T>;
  image<T = any>(method: string, req?: object): Promise<T>;
  raw: { runtime: grpc.Client & Record<string, any>; image: grpc.Client & Record<string, any> };
  close(): void;
}

export function criClient(socket: string): CriClient {
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const v1 = (grpc.loadPackageDefinition(def) as any).runtime.v1;
  const runtime = new v1.RuntimeService(`unix:${socket}`, grpc.credentials.createInsecure());
  const image = new v1.ImageService(`unix:${socket}`, grpc.credentials.createInsecure());
  const call = (c: any, method: string, req: object) =>
    new Promise<any>((resolve, reject) => (c[method] as Unary).call(c, req, (err, res) => (err ? reject(err) : resolve(res))));
  return {
    runtime: (m, r = {}) => call(runtime, m, r),
    image: (m, r = {}) => call(image, m, r),
    raw: { runtime, image },
    close: () => {
      runtime.close();
      image.close();
    },
  };
}

/** The `rkt` CLI over the server's data and config directories (for gc and checks). */
export function rktOf(cri: CriServer) {
  return (...args: string[]) =>
    runCommand(process.execPath, [RKT, '--dir', cri.dataDir, '--local-config', cri.configDir, '--system-config', cri.configDir, '--user-config', cri.configDir, ...args], { timeoutMs: 180_000 });
}

export { grpc };

/** What {@link startCriSuite} starts. */
export interface CriSuite {
  check: LeakCompare;
  registry: Registry;
  cri: CriServer;
  client: CriClient;
  /** the image pushed and pulled, `<registry>/<name>` */
  image: string;
}

/**
 * How a CRI suite starts: a leak check baseline (cgroups included), a local registry holding
 * image `name` (a busybox tree, `tree` when given, PATH set, `sh`), the server and a client,
 * the image pulled through the server.
 */
export async function startCriSuite(t: Teardownable, name = 'test/busybox:1', tree?: FileTree): Promise<CriSuite> {
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'] });
  const registry = await startRegistry(t);
  await pushImage(t, registry, [name], { layers: [tree ?? busyboxTree()], config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] } });
  const cri = await startCri(t);
  const client = criClient(cri.socket);
  const image = `${registry.host}/${name}`;
  await client.image('PullImage', { image: { image } });
  return { check, registry, cri, client, image };
}

/** What a CRI suite finishes with ({@link finishCri}). */
export interface CriSuiteEnd {
  cri: CriServer;
  client: CriClient;
  check: LeakCompare;
  /** strings (data dir, pod uuids, addresses...) a leaked resource of this suite would name */
  seen: ReadonlySet<string>;
}

/**
 * What every CRI suite does last: remove every sandbox the server lists (`checkRemoved`: and
 * assert none is left), close the client, stop the server; then `rkt gc` must leave no pod,
 * `afterStop` runs (checks of the suite's own), nothing naming one of `seen` may have leaked
 * (`beforeLeakCheck` first removes what the suite made itself), the suite's cleanups run and
 * the data dir goes.
 */
export async function finishCri(
  t: ExecutionContext,
  end: CriSuiteEnd,
  cleanups: Array<() => unknown>,
  opts: { checkRemoved?: boolean; afterStop?: () => unknown; beforeLeakCheck?: () => unknown } = {},
): Promise<void> {
  const { cri, client, check, seen } = end;
  try {
    for (const s of (await client.runtime('ListPodSandbox', {})).items) await client.runtime('RemovePodSandbox', { pod_sandbox_id: s.id }).catch(() => undefined);
    if (opts.checkRemoved) t.deepEqual((await client.runtime('ListPodSandbox', {})).items, [], 'every sandbox removed');
  } finally {
    client.close();
    await cri.stop();
  }
  await opts.afterStop?.();
  const rkt = rktOf(cri);
  await rkt('gc', '--grace-period=0s');
  t.is((await rkt('list', '--no-legend')).stdout.trim(), '', 'no pods left');
  await opts.beforeLeakCheck?.();
  const pattern = new RegExp([...seen].map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
  t.deepEqual((await check()).filter((l) => pattern.test(l)), [], 'resources leaked');
  for (const fn of cleanups.reverse()) await fn();
  await removeTree(join(cri.dataDir, '..'));
}

/** The error a call failed with; throws when it succeeded. */
export async function fails(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}
