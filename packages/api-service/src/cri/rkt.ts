/**
 * The CRI server drives the runtime only through the `rkt` CLI (and reads on-disk state): this
 * module finds the executable, builds the global flags every invocation carries, runs
 * commands with timeouts and bounded output, and starts the long-running `rkt app sandbox`
 * supervisor detached from the server so that pods outlive it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemError, userError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';

/** Where the server finds rkt and what it tells every rkt it runs. */
export interface RktOptions {
  /** the rkt executable: an `.mjs`/`.js` bundle (run with this Node) or any executable */
  rktPath: string;
  dataDir: string;
  localConfig?: string;
  systemConfig?: string;
  userConfig?: string;
  /** `--insecure-options` for fetches and pods (image is always added for fetches) */
  insecureOptions?: readonly string[];
  debug?: boolean;
  log?: Logger;
}

/** The outcome of one rkt command. */
export interface RktResult {
  /** exit status; null when killed by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** the timeout fired and the command was killed */
  timedOut: boolean;
  /** stdout or stderr went beyond the limit and was cut */
  truncated: boolean;
}

/** Options of one command. */
export interface RunOptions {
  /** kill the command (its whole process group) after this many ms */
  timeoutMs?: number;
  /** bytes kept of stdout and of stderr (default 16 MiB) */
  maxOutput?: number;
  /** override the user configuration directory (temporary credentials) */
  userConfig?: string;
  /** `--insecure-options` for this command instead of the server's */
  insecureOptions?: readonly string[];
}

/** The default output limit: the largest message a kubelet accepts is 16 MiB. */
export const MAX_OUTPUT = 16 << 20;

/**
 * The environment of the rkt commands the server runs: its own, without `NOTIFY_SOCKET` — when
 * systemd runs the server as a notify service, the pods it starts must not report their
 * readiness to the server's unit (stage1-coreos forwards READY=1 to that socket).
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { NOTIFY_SOCKET: _notify, ...rest } = env;
  return rest;
}

/**
 * The rkt next to this bundle (`packages/stage0/dist/rkt.mjs` in the repository and in an npm
 * install of the @rktnetes packages), else `rkt` on PATH. Undefined when there is none.
 */
export function defaultRktPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  // dist/rkt-api-service.mjs and src/cri/rkt.ts are one and two levels below the package
  for (const rel of ['../../stage0/dist/rkt.mjs', '../../../stage0/dist/rkt.mjs']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'rkt'))) return join(dir, 'rkt');
  }
  return undefined;
}

/** The last meaningful line rkt printed on stderr (warnings skipped, `rkt: ` dropped). */
export function rktMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^rkt: warning:/.test(l));
  return (lines.at(-1) ?? '').replace(/^rkt: /, '');
}

/** Runs rkt commands for the CRI server. */
export class Rkt {
  constructor(readonly opts: RktOptions) {}

  /** The global flags of every invocation. */
  globalArgs(o: Pick<RunOptions, 'userConfig' | 'insecureOptions'> = {}): string[] {
    const args = ['--dir', this.opts.dataDir];
    if (this.opts.localConfig !== undefined) args.push('--local-config', this.opts.localConfig);
    if (this.opts.systemConfig !== undefined) args.push('--system-config', this.opts.systemConfig);
    const user = o.userConfig ?? this.opts.userConfig;
    if (user !== undefined) args.push('--user-config', user);
    const insecure = o.insecureOptions ?? this.opts.insecureOptions ?? [];
    if (insecure.length) args.push(`--insecure-options=${[...new Set(insecure)].join(',')}`);
    if (this.opts.debug) args.push('--debug');
    return args;
  }

  /** argv[0] and the arguments before the command's own. */
  private command(args: readonly string[], o: RunOptions): { file: string; argv: string[] } {
    const js = /\.(?:mjs|cjs|js)$/.test(this.opts.rktPath);
    const argv = [...(js ? [this.opts.rktPath] : []), ...this.globalArgs(o), ...args];
    return { file: js ? process.execPath : this.opts.rktPath, argv };
  }

  /** Runs `rkt <global flags> <args>` and collects its output; never throws for an exit status. */
  run(args: readonly string[], o: RunOptions = {}): Promise<RktResult> {
    const { file, argv } = this.command(args, o);
    const max = o.maxOutput ?? MAX_OUTPUT;
    this.opts.log?.debug(`running rkt ${args.join(' ')}`);
    return new Promise((resolve, reject) => {
      // its own process group, so that a timeout kills what it started too (app exec's command)
      const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: childEnv() });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      let truncated = false;
      let timedOut = false;
      const keep = (chunks: Buffer[], len: number, d: Buffer): number => {
        const room = max - len;
        if (room <= 0) {
          truncated = true;
          return len;
        }
        if (d.length > room) truncated = true;
        chunks.push(d.length > room ? d.subarray(0, room) : d);
        return len + Math.min(room, d.length);
      };
      child.stdout!.on('data', (d: Buffer) => (outLen = keep(out, outLen, d)));
      child.stderr!.on('data', (d: Buffer) => (errLen = keep(err, errLen, d)));
      const timer =
        o.timeoutMs !== undefined && o.timeoutMs > 0
          ? setTimeout(() => {
              timedOut = true;
              killGroup(child);
            }, o.timeoutMs)
          : undefined;
      child.once('error', (e) => {
        if (timer) clearTimeout(timer);
        reject(systemError('cri.rkt-exec', `cannot run ${this.opts.rktPath}`, { cause: e }));
      });
      child.once('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut, truncated });
      });
    });
  }

  /**
   * Runs a command that must succeed: a non-zero status is an error `cri.rkt-failed` (kind as
   * `kind`, system by default) whose message is `what` and rkt's own message.
   */
  async runOk(args: readonly string[], what: string, o: RunOptions & { kind?: 'user' | 'system' } = {}): Promise<RktResult> {
    const r = await this.run(args, o);
    if (r.code !== 0) throw rktFailure(r, what, o.kind);
    return r;
  }

  /**
   * Starts a long-running rkt command in a session of its own, with stdout and stderr appended
   * to `logFile`, not waited for by the server's exit. The child is returned for the caller to
   * watch while it starts.
   */
  spawnDetached(args: readonly string[], logFile: string): ChildProcess {
    const { file, argv } = this.command(args, {});
    this.opts.log?.debug(`starting rkt ${args.join(' ')}`);
    const fd = openSync(logFile, 'a', 0o600);
    try {
      const child = spawn(file, argv, { stdio: ['ignore', fd, fd], detached: true, env: childEnv() });
      child.unref();
      return child;
    } finally {
      closeSync(fd);
    }
  }
}

/** Kills a child's whole process group (it was started detached, as its leader). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** The error for a failed rkt command. */
export function rktFailure(r: Pick<RktResult, 'code' | 'signal' | 'stderr' | 'timedOut'>, what: string, kind: 'user' | 'system' = 'system') {
  const why = r.timedOut ? 'timed out' : rktMessage(r.stderr.toString()) || (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`);
  const make = kind === 'user' ? userError : systemError;
  return make('cri.rkt-failed', `${what}: ${why}`, { details: { status: r.code } });
}
