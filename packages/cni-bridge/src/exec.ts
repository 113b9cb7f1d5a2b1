/**
 * Running the system tools the plugin drives (`ip`, `nsenter`, `iptables`): synchronous, found in
 * PATH or the usual sbin directories, since runtimes often exec plugins with a short PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { CniErrorCodes } from '@rktnetes/schema';
import { cniError } from './errors';

/** The outcome of one tool run. */
export interface ToolResult {
  /** exit status; null when killed by a signal */
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runTool}. */
export interface ToolOptions {
  /** written to the tool's stdin */
  input?: string | Buffer;
  /** run inside this network namespace (a path), through `nsenter --net=` */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  /** stderr goes to this process's stderr instead of being captured */
  inheritStderr?: boolean;
}

/** Something that runs a tool: the real {@link runTool}, or a fake in unit tests. */
export type ToolRunner = (tool: string, args: readonly string[], opts?: ToolOptions) => ToolResult;

const FALLBACK_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const found = new Map<string, string>();

/**
 * The absolute path of `tool`, searched in PATH and then the usual system directories.
 *
 * @throws code 5 (`cni.tool-missing`) when it is nowhere
 */
export function findTool(tool: string, env: NodeJS.ProcessEnv = process.env): string {
  const cached = found.get(tool);
  if (cached) return cached;
  const dirs = [...(env['PATH'] ?? '').split(':').filter(Boolean), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const p = join(dir, tool);
    try {
      accessSync(p, fsConstants.X_OK);
      found.set(tool, p);
      return p;
    } catch {
      // not here
    }
  }
  throw cniError(CniErrorCodes.ioFailure, 'cni.tool-missing', `cannot find ${tool} in PATH or ${FALLBACK_DIRS.join(':')}`);
}

/** Runs a tool and returns its status and output; never throws for a non-zero exit. */
export const runTool: ToolRunner = (tool, args, opts = {}) => {
  const file = opts.netns === undefined ? findTool(tool) : findTool('nsenter');
  const argv = opts.netns === undefined ? [...args] : [`--net=${opts.netns}`, '--', findTool(tool), ...args];
  const r = spawnSync(file, argv, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  // a tool that exits before reading its input (nsenter failing to enter) breaks the pipe
  const epipe = (r.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' && r.status !== null;
  if (r.error && !epipe) {
    throw cniError(CniErrorCodes.ioFailure, 'cni.exec', `cannot run ${tool}`, { cause: r.error });
  }
  return { status: r.status, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
};

/** Something that runs a tool without blocking: the real {@link runToolAsync}, or a fake in unit tests. */
export type AsyncToolRunner = (tool: string, args: readonly string[], opts?: ToolOptions) => Promise<ToolResult>;

/**
 * Like {@link runTool}, but the tool runs while this process goes on: the plugin overlaps a
 * slow kernel change (deleting a veth waits for RCU grace periods) with work that does not
 * depend on it. Resolves once the tool exited and its output is read; never rejects for a
 * non-zero exit.
 */
export const runToolAsync: AsyncToolRunner = (tool, args, opts = {}) =>
  new Promise((resolve, reject) => {
    let file: string;
    let argv: string[];
    try {
      file = opts.netns === undefined ? findTool(tool) : findTool('nsenter');
      argv = opts.netns === undefined ? [...args] : [`--net=${opts.netns}`, '--', findTool(tool), ...args];
    } catch (e) {
      reject(e);
      return;
    }
    const child = spawn(file, argv, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    // a tool that exits before reading its input (nsenter failing to enter) breaks the pipe
    child.stdin?.on('error', () => {});
    child.once('error', (e) => reject(cniError(CniErrorCodes.ioFailure, 'cni.exec', `cannot run ${tool}`, { cause: e })));
    child.once('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin?.end(opts.input ?? '');
  });

/** The last non-empty line of a tool's stderr (where iproute2 and iptables put the reason). */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}
