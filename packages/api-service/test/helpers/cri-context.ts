/**
 * Test helper: a CRI handler context over a temp data directory with a scripted rkt, for the
 * handlers' record keeping without privileges. The rkt commands are answered by `script` (the
 * arguments after the global flags) and recorded; `rkt app sandbox` is a child process that
 * runs `sandbox` (a Node one-liner) after `onSandbox` saw its arguments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { tmpDir } from '@rktnetes/testkit';
import type { CriContext } from '../../src/cri/context';
import type { CriImages } from '../../src/cri/images';
import { KeyedLocks } from '../../src/cri/locks';
import { Rkt, type RktResult, type RunOptions } from '../../src/cri/rkt';
import { CriState } from '../../src/cri/state';
import { PodView } from '../../src/pods/view';

/** What the scripted rkt answers: an exit status and stderr. */
export interface ScriptedResult {
  code: number;
  stderr?: string;
}

export interface FakeRktOptions {
  /** answers `rkt <args>` (default: success) */
  script?: (args: readonly string[]) => ScriptedResult | Promise<ScriptedResult>;
  /** sees the arguments of `rkt app sandbox` before its process starts */
  onSandbox?: (args: readonly string[]) => void;
  /** the Node code the `rkt app sandbox` process runs (default: exits 1 at once) */
  sandbox?: string;
}

/** An rkt runner whose commands are scripted. */
export class FakeRkt extends Rkt {
  /** every command run, in order (arguments after the global flags) */
  readonly calls: string[][] = [];

  constructor(
    dataDir: string,
    private readonly fake: FakeRktOptions = {},
  ) {
    super({ rktPath: '/nonexistent/rkt', dataDir });
  }

  override async run(args: readonly string[], _o: RunOptions = {}): Promise<RktResult> {
    this.calls.push([...args]);
    const r = (await this.fake.script?.(args)) ?? { code: 0 };
    return { code: r.code, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.from(r.stderr ?? ''), timedOut: false, truncated: false };
  }

  override spawnDetached(args: readonly string[], logFile: string): ChildProcess {
    this.calls.push([...args]);
    this.fake.onSandbox?.(args);
    const fd = openSync(logFile, 'a', 0o600);
    try {
      return spawn(process.execPath, ['-e', this.fake.sandbox ?? 'process.exit(1)'], { stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
  }
}

/** A context over a fresh data directory (removed in teardown). */
export async function fakeCriContext(t: { teardown(fn: () => unknown): void }, fake: FakeRktOptions = {}): Promise<{ ctx: CriContext; rkt: FakeRkt; dataDir: string }> {
  const dataDir = await tmpDir('cri-ctx', t);
  const rkt = new FakeRkt(dataDir, fake);
  const ctx: CriContext = {
    rkt,
    state: new CriState(dataDir),
    images: {} as CriImages,
    pods: new PodView(dataDir),
    locks: new KeyedLocks(),
    settings: { stage1Args: [], sandboxStartTimeoutMs: 10_000, sandboxStopTimeoutMs: 1_000 },
    reserved: new Set(),
  };
  return { ctx, rkt, dataDir };
}

/** The value of `--NAME=` in an argument list. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
