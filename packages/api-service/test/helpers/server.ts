/**
 * Test helpers: the bundled rkt-api-service started as a child process, and gRPC clients made
 * from the package's .proto with @grpc/grpc-js.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';

const PKG = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(PKG, 'dist', 'rkt-api-service.mjs');
const PROTO = join(PKG, 'proto', 'v1alpha', 'api.proto');

function newestMtime(dir: string): number {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    max = Math.max(max, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return max;
}

/** Builds dist/ when it is missing or older than src/ (one test process at a time). */
export function ensureBuilt(): void {
  const fresh = () => existsSync(BIN) && statSync(BIN).mtimeMs >= newestMtime(join(PKG, 'src'));
  if (fresh()) return;
  const lock = join(PKG, '.build-lock');
  for (let i = 0; i < 600; i++) {
    try {
      mkdirSync(lock);
    } catch {
      spawnSync('sleep', ['0.1']);
      continue;
    }
    try {
      if (!fresh()) {
        const r = spawnSync(process.execPath, [join(PKG, '..', '..', 'tools', 'build.mjs')], { cwd: PKG, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
      }
      return;
    } finally {
      rmdirSync(lock);
    }
  }
  throw new Error('timed out waiting for another build');
}

/** A running service child. */
export interface ServiceChild {
  child: ChildProcess;
  /** `listening on` addresses it printed */
  addresses: string[];
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Starts the bundled service with `args`; resolves when it prints `ready`. */
export async function startService(args: string[], opts: SpawnOptions & { viaShell?: boolean; bin?: string } = {}): Promise<ServiceChild> {
  ensureBuilt();
  const bin = opts.bin ?? BIN;
  // viaShell: the shell sets LISTEN_PID to its own pid, then execs (the pid stays), as systemd does
  const child = opts.viaShell
    ? spawn('/bin/sh', ['-c', `LISTEN_PID=$$ exec "${process.execPath}" "${bin}" "$@"`, 'sh', ...args], { ...opts, stdio: opts.stdio ?? ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, [bin, ...args], { ...opts, stdio: opts.stdio ?? ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const addresses: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/rkt-api-service: ready$/m.test(err)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${err}`)));
  });
  for (const m of err.matchAll(/listening on (\S+)/g)) addresses.push(m[1]!);
  return {
    child,
    addresses,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

/** A v1alpha PublicAPI client with promise-returning unary calls and raw streaming calls. */
export interface ApiClient {
  raw: grpc.Client & Record<string, any>;
  call<T = any>(method: string, req?: object): Promise<T>;
  close(): void;
}

export function apiClient(address: string): ApiClient {
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const raw = new pkg.v1alpha.PublicAPI(address, grpc.credentials.createInsecure());
  return {
    raw,
    call: (method, req = {}) => new Promise((resolve, reject) => (raw[method] as Unary).call(raw, req, (err, res) => (err ? reject(err) : resolve(res)))),
    close: () => raw.close(),
  };
}

/** Collects a server stream's messages; resolves with them and the final status. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<{ messages: T[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on('end', () => resolve({ messages }));
  });
}

export { grpc };
