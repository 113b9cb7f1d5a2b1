// Shared helpers for the real-syscall tests (not a test file itself).
import { spawnSync, type StdioOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const child = fileURLToPath(new URL('./fixtures/child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a mode of fixtures/child.ts in a fresh Node process and waits for it. */
export function runChild(mode: string, args: Record<string, unknown> = {}, stdio: StdioOptions = 'pipe'): ChildResult {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS; // no TLS in the child: skip parsing the CA bundle
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, mode, JSON.stringify(args)], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    stdio,
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The last JSON line a child printed. */
export function childJson<T>(r: ChildResult): T {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`child printed no JSON (status ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
}

/** Fields of the shell probe (SHELL_PROBE in fixtures/child.ts). */
export function parseProbe(stdout: string): { lines: string[]; fds: number[]; status: Record<string, string> } {
  const lines = stdout.split('\n');
  const start = lines.indexOf('fds:');
  const end = lines.indexOf(':fds');
  const fds = start >= 0 && end > start ? lines.slice(start + 1, end).map(Number) : [];
  const status: Record<string, string> = {};
  for (const l of lines) {
    const m = /^(\w+):\s*(.*)$/.exec(l);
    if (m?.[1] && m[2] !== undefined) status[m[1]] = m[2].trim();
  }
  return { lines, fds, status };
}

/** Whether signal `sig` is set in a /proc status signal mask (hex). */
export function maskHas(hex: string | undefined, sig: number): boolean {
  return ((BigInt(`0x${hex ?? '0'}`) >> BigInt(sig - 1)) & 1n) === 1n;
}

const isRoot = process.getuid?.() === 0;
/** `test` when running as root, else `test.skip` with the reason in the title. */
export const rootTest = isRoot ? test : test.skip;
/** Title suffix saying why a root test may be skipped. */
export const needsRoot = isRoot ? '' : ' [skipped: needs root]';
