/**
 * The stub stage1 program: bundled into every entrypoint of the stub image by
 * `stubStage1Image`. It runs on the host with the pod directory as cwd, parses its argv with
 * `@rktnetes/stage1-abi` (so a malformed argv fails as it would with a real stage1), logs the
 * invocation, and does the least a stage1 must: run writes its pid and every app's exit status,
 * stop signals the pod, enter runs the command, gc and the app entrypoints succeed.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, fstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EXIT_FAILURE, appsStatusDirIn, exitStatusOf, readPodPid, writeAppStatus, writePodPid } from '@rktnetes/common';
import { isRktError } from '@rktnetes/errors';
import {
  lockFdFromEnv,
  parseAppAddArgs,
  parseAppArgs,
  parseAttachArgs,
  parseEnterArgs,
  parseGcArgs,
  parseRunArgs,
  parseStopArgs,
} from '@rktnetes/stage1-abi';
import { STUB_CONFIG_FILE, STUB_LOG_FILE, type StubBehaviour, type StubInvocation } from './types';

/** `/stub-app-add` -> `app/add`, `/stub-run` -> `run`. */
export function entrypointOf(scriptPath: string): string {
  const name = basename(scriptPath).replace(/^stub-/, '');
  return name.startsWith('app-') ? `app/${name.slice(4)}` : name;
}

function lockFdHeld(): boolean {
  try {
    const fd = fstatSync(lockFdFromEnv());
    const cwd = statSync(process.cwd());
    return fd.ino === cwd.ino && fd.dev === cwd.dev;
  } catch {
    return false;
  }
}

function rktEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('RKT_') && e[1] !== undefined));
}

function log(cfg: StubBehaviour | undefined, rec: StubInvocation): void {
  if (!cfg?.logDir) return;
  appendFileSync(join(cfg.logDir, STUB_LOG_FILE), `${JSON.stringify(rec)}\n`);
}

function parseFor(entrypoint: string, argv: string[]): unknown {
  switch (entrypoint) {
    case 'run':
      return parseRunArgs(argv);
    case 'gc':
      return parseGcArgs(argv);
    case 'stop':
      return parseStopArgs(argv);
    case 'enter':
      return parseEnterArgs(argv);
    case 'app/add':
      return parseAppAddArgs(argv);
    case 'app/start':
    case 'app/stop':
    case 'app/rm':
      return parseAppArgs(argv, entrypoint);
    case 'attach':
      return parseAttachArgs(argv);
    default:
      throw new Error(`unknown stub entrypoint ${entrypoint}`);
  }
}

function podApps(cwd: string): string[] {
  const pod = JSON.parse(readFileSync(join(cwd, 'pod'), 'utf8')) as { apps?: Array<{ name?: unknown }> | null };
  return (pod.apps ?? []).map((a) => String(a.name));
}

/** Waits `ms` (forever when negative); resolves with the signal that cut it short, if any. */
function sleep(ms: number): Promise<NodeJS.Signals | undefined> {
  return new Promise((resolve) => {
    const done = (sig?: NodeJS.Signals) => {
      if (timer) clearTimeout(timer);
      process.removeListener('SIGTERM', onTerm);
      process.removeListener('SIGINT', onInt);
      resolve(sig);
    };
    const onTerm = () => done('SIGTERM');
    const onInt = () => done('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    const timer = ms >= 0 ? setTimeout(() => done(), ms) : setInterval(() => undefined, 1 << 30);
  });
}

async function run(cfg: StubBehaviour, stage1Root: string): Promise<number> {
  const cwd = process.cwd();
  const apps = podApps(cwd);
  await writePodPid(cwd, process.pid, cfg.pidFile ?? 'pid');
  if (cfg.runStdout) process.stdout.write(cfg.runStdout);
  const signal = cfg.runSleepMs ? await sleep(cfg.runSleepMs) : undefined;
  const signalled = signal === undefined ? undefined : exitStatusOf(null, signal);
  // a stage1 creates its status directory itself
  mkdirSync(appsStatusDirIn(stage1Root), { recursive: true });
  const statuses = apps.map((app) => signalled ?? cfg.appExitCodes?.[app] ?? cfg.appExitCode ?? 0);
  for (const [i, app] of apps.entries()) await writeAppStatus(stage1Root, app, statuses[i] ?? 0);
  return signalled ?? cfg.exitCode ?? statuses.find((s) => s !== 0) ?? 0;
}

async function stop(cfg: StubBehaviour, force: boolean): Promise<number> {
  const pid = await readPodPid(process.cwd());
  if (pid) {
    try {
      process.kill(pid.pid, force ? 'SIGKILL' : 'SIGTERM');
    } catch {
      // already gone
    }
  }
  return cfg.stopExitCode ?? 0;
}

function enter(command: string[]): number {
  const [cmd, ...args] = command;
  const r = spawnSync(cmd ?? '', args, { stdio: 'inherit' });
  return r.error ? EXIT_FAILURE : exitStatusOf(r.status, r.signal);
}

/** Runs the entrypoint named by `scriptPath` with `argv`; resolves with the exit status. */
export async function main(scriptPath: string, argv: string[]): Promise<number> {
  const entrypoint = entrypointOf(scriptPath);
  const stage1Root = dirname(scriptPath);
  let cfg: StubBehaviour | undefined;
  const rec: StubInvocation = { entrypoint, argv, cwd: process.cwd(), pid: process.pid, env: rktEnv(), lockFdHeld: lockFdHeld() };
  try {
    cfg = JSON.parse(readFileSync(join(stage1Root, STUB_CONFIG_FILE), 'utf8')) as StubBehaviour;
    const parsed = parseFor(entrypoint, argv);
    rec.parsed = parsed;
    if (entrypoint === 'run') rec.apps = podApps(rec.cwd);
    log(cfg, rec);
    if ((parsed as { debug?: boolean }).debug) process.stderr.write(`stub stage1 ${entrypoint}: ${argv.join(' ')}\n`);
    switch (entrypoint) {
      case 'run':
        return await run(cfg, stage1Root);
      case 'stop':
        return await stop(cfg, (parsed as { force: boolean }).force);
      case 'enter':
        return enter((parsed as { command: string[] }).command);
      case 'gc':
        return cfg.gcExitCode ?? 0;
      default:
        return 0;
    }
  } catch (e) {
    rec.error = { code: isRktError(e) ? e.code : 'stub.failed', message: e instanceof Error ? e.message : String(e) };
    try {
      log(cfg, rec);
    } catch {
      // nowhere to log
    }
    process.stderr.write(`stub stage1 ${entrypoint}: ${rec.error.message}\n`);
    return EXIT_FAILURE;
  }
}
