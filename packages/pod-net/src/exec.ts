/**
 * Running the programs the pod networking drives (CNI plugins, `unshare`, `nsenter`, `ip`, `tc`, `iptables`):
 * synchronously as a rule, since run ends in execve; a plugin's ADD may also run in the
 * background ({@link runCommandAsync}) while run prepares what does not depend on it. Everything
 * goes through a {@link CommandRunner} (or {@link AsyncCommandRunner}) so that unit tests can
 * record the calls instead.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { systemError } from '@rktnetes/errors';

/** The outcome of one program run. */
export interface CommandResult {
  /** exit status; null when killed by a signal or not started */
  status: number | null;
  stdout: string;
  stderr: string;
  /** set when the program could not be started or timed out */
  error?: Error;
}

/** Options of one program run. */
export interface CommandOptions {
  /** written to stdin */
  input?: string | Buffer;
  /** the whole environment (default: this process's) */
  env?: NodeJS.ProcessEnv;
  /** stderr goes to this process's stderr instead of being captured */
  inheritStderr?: boolean;
  /** killed (SIGKILL) after this long; default 120 s */
  timeoutMs?: number;
}

/** Something that runs a program: {@link runCommandSync}, or a fake in unit tests. */
export type CommandRunner = (file: string, args: readonly string[], opts?: CommandOptions) => CommandResult;

/** Default time a helper may take before it is killed. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

/** Runs a program to its end and returns its status and output; never throws for a failure. */
export const runCommandSync: CommandRunner = (file, args, opts = {}) => {
  const r = spawnSync(file, args, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const out: CommandResult = { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (r.error) out.error = r.error;
  return out;
};

/**
 * Options of a program run in the background. Its stdin is a file (read to its end) rather than
 * data written through a pipe: the program gets its whole input and EOF at once, whatever the
 * caller's event loop is doing (a caller busy with synchronous work would otherwise hold them back).
 */
export interface AsyncCommandOptions extends Omit<CommandOptions, 'input'> {
  /** the file given as stdin (default: /dev/null) */
  inputFile?: string;
}

/** Something that starts a program and resolves with its outcome: {@link runCommandAsync}, or a fake. */
export type AsyncCommandRunner = (file: string, args: readonly string[], opts?: AsyncCommandOptions) => Promise<CommandResult>;

/**
 * Starts a program (before it returns) and resolves when it has ended, with its status and
 * output, as {@link runCommandSync} returns them; never rejects. Its stdout and stderr are read by
 * the event loop: a program that writes more than a pipe holds (64 KiB) waits until the caller
 * lets the loop run.
 */
export const runCommandAsync: AsyncCommandRunner = (file, args, opts = {}) => {
  let input: number | 'ignore' = 'ignore';
  try {
    if (opts.inputFile !== undefined) input = openSync(opts.inputFile, 'r');
  } catch (e) {
    return Promise.resolve({ status: null, stdout: '', stderr: '', error: e as Error });
  }
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let error: Error | undefined;
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: [input, 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'] });
    if (typeof input === 'number') closeSync(input);
    const timer = setTimeout(() => {
      error = new Error(`${file} timed out`);
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e) => {
      error ??= e;
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      // a program that could not start closes with a negative errno as its status
      const r: CommandResult = { status: error ? null : status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (error) r.error = error;
      resolve(r);
    });
  });
};

/** Directories searched after PATH: runtimes often start stage1 with a short PATH. */
export const FALLBACK_TOOL_DIRS: readonly string[] = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

const toolCache = new Map<string, string>();

/**
 * The absolute path of a system tool (`ip`, `tc`, `iptables`, `unshare`, `nsenter`), searched in PATH and then
 * {@link FALLBACK_TOOL_DIRS}. Throws a system error `stage1.net.tool-missing` naming the Debian
 * package when it is nowhere.
 */
export function findTool(tool: string, env: NodeJS.ProcessEnv = process.env): string {
  const cached = toolCache.get(tool);
  if (cached) return cached;
  for (const dir of [...(env['PATH'] ?? '').split(':').filter(Boolean), ...FALLBACK_TOOL_DIRS]) {
    const p = join(dir, tool);
    try {
      // a miss is the rule (PATH is long): told without an exception, which costs more than the lookup
      if (!statSync(p, { throwIfNoEntry: false })) continue;
      accessSync(p, fsConstants.X_OK);
      toolCache.set(tool, p);
      return p;
    } catch {
      // not here, or not executable
    }
  }
  const pkg = tool.startsWith('iptables') ? 'iptables' : tool === 'ip' || tool === 'tc' ? 'iproute2' : 'util-linux';
  throw systemError('stage1.net.tool-missing', `cannot find ${tool} in PATH (Debian package ${pkg}), needed for pod networking`, { details: { tool } });
}

/** A one-line description of why a run failed: its stderr, or how it ended. */
export function failureText(r: CommandResult): string {
  if (r.error) return r.error.message;
  const err = r.stderr.trim().split('\n').filter(Boolean).join('; ');
  if (err) return err;
  return r.status === null ? 'killed by a signal' : `exit status ${r.status}`;
}
