/**
 * A small promise wrapper around child processes for test helpers.
 */
import { spawn } from 'node:child_process';
import { systemError } from '@rktnetes/errors';

/** Result of {@link runCommand}. */
export interface CommandResult {
  /** exit status, or null when killed by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBuffer: Buffer;
}

/** Options of {@link runCommand}. */
export interface CommandOptions {
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** kill the process (SIGKILL) after this many milliseconds */
  timeoutMs?: number;
}

/**
 * Runs `cmd` with `args` (no shell) and collects its output. Resolves whatever the exit status;
 * use {@link runCommandOk} to require success.
 *
 * @throws RktError `testkit.exec` when the program cannot be started
 */
export function runCommand(cmd: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(systemError('testkit.exec', `cannot run ${cmd}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdoutBuffer = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBuffer.toString(), stderr: Buffer.concat(err).toString(), stdoutBuffer });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Like {@link runCommand} but requires exit status 0.
 *
 * @throws RktError `testkit.exec` when the program fails, with its stderr in the message
 */
export async function runCommandOk(cmd: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) {
    throw systemError('testkit.exec', `${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`, {
      details: { stdout: r.stdout, stderr: r.stderr },
    });
  }
  return r;
}
