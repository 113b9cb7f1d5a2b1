/**
 * `rkt logs [--app=NAME] [--follow] [--since=DURATION|RFC3339] [--lines=N] [--timestamps]
 * [--stream=stdout|stderr] UUID`: prints the output of a pod's apps from the per-app logs stage1
 * keeps (`rkt/log/<app>` in the stage1 root), in any state that still has the pod directory.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { appsLogDirIn } from '@rktnetes/common';
import { usageError, userError } from '@rktnetes/errors';
import { isACName, type PodManifest } from '@rktnetes/schema';
import type { GlobalOptions } from '../cli/globals';
import { commandParser, contextOf } from '../pod/cli';
import { parseGoDuration } from '../pod/format';
import { podStatus, readableStage1Root, readPodManifest, type PodStatus } from '../pod/info';
import { findPod } from '../pod/uuid-arg';
import { LogFile, type LogEntry } from './reader';

/** What `rkt logs` prints. */
export interface LogsOptions {
  /** one app; all apps of the pod when undefined */
  app?: string;
  follow: boolean;
  /** entries at or after this time (the CRI timestamp format) only */
  since?: string;
  /** the last N entries of the history (before following) only; all when undefined */
  lines?: number;
  timestamps: boolean;
  stream?: 'stdout' | 'stderr';
}

/** The CRI timestamp (9-digit nanoseconds) of a time, comparable as a string with log times. */
export function logTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/**
 * `--since`: a Go duration before `now` (`10m`, `1h30m`) or an RFC 3339 time. Usage error
 * `cli.invalid-value` otherwise.
 */
export function parseSince(value: string, now: Date = new Date()): string {
  if (/^\d{4}-\d\d-\d\dT/.test(value)) {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --since: not an RFC 3339 time`);
    // keep the sub-millisecond digits an RFC 3339Nano time gives
    const frac = /\.(\d+)/.exec(value)?.[1];
    const base = logTime(new Date(Math.floor(ms / 1000) * 1000)).slice(0, 19);
    return `${base}.${(frac ?? '').padEnd(9, '0').slice(0, 9)}Z`;
  }
  let ms: number;
  try {
    ms = parseGoDuration(value, 'since');
  } catch {
    throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --since: expected a duration (like 10m) or an RFC 3339 time`);
  }
  return logTime(new Date(now.getTime() - Math.abs(ms)));
}

/** Formats entries as printed: `[app] ` when several apps are shown, the timestamp when asked. */
export function formatEntries(entries: ReadonlyArray<LogEntry & { app: string }>, prefixApps: boolean, timestamps: boolean): string {
  let out = '';
  for (const e of entries) out += `${timestamps ? `${e.time} ` : ''}${prefixApps ? `[${e.app}] ` : ''}${e.text}\n`;
  return out;
}

/** Entries of several apps in time order (stable: one app's order is kept for equal times). */
function merge(batches: Array<Array<LogEntry & { app: string }>>): Array<LogEntry & { app: string }> {
  return batches.flat().sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

function selectApps(manifest: PodManifest, app: string | undefined, uuid: string): string[] {
  if (app === undefined) return manifest.apps.map((a) => a.name);
  if (!manifest.apps.some((a) => a.name === app)) throw userError('pod.no-such-app', `app ${app} is not present in pod ${uuid}`, { details: { uuid, app } });
  return [app];
}

async function logDirOf(p: PodStatus): Promise<string | undefined> {
  try {
    return appsLogDirIn(await readableStage1Root(p.path));
  } catch {
    return undefined;
  }
}

const FOLLOW_MS = 200;

/**
 * Prints the logs of pod `ref` to `write`. With `follow`, keeps printing new entries until the
 * pod is no longer running (its lock released). Errors: `pod.not-found`, `pod.ambiguous`,
 * `pod.no-such-app` (user).
 */
export async function printLogs(dataDir: string, ref: string, o: LogsOptions, write: (text: string) => void): Promise<void> {
  const loc = await findPod(dataDir, ref);
  let p = await podStatus(dataDir, loc);
  if (!p) throw userError('pod.not-found', `pod ${ref} not found`, { details: { uuid: ref } });
  const manifest = await readPodManifest(p.path, p.uuid);
  const apps = selectApps(manifest, o.app, p.uuid);
  const prefix = o.app === undefined && apps.length > 1;
  const files = apps.map((a) => new LogFile(a));
  const keep = (e: LogEntry) => (!o.stream || e.stream === o.stream) && (!o.since || e.time >= o.since);
  const readAll = async (final: boolean) => {
    const dir = p ? await logDirOf(p) : undefined;
    return merge(
      files.map((f) => {
        const got = [...f.read(dir && join(dir, f.app)), ...(final ? f.close() : [])];
        return got.filter(keep).map((e) => ({ ...e, app: f.app }));
      }),
    );
  };
  let history = await readAll(!o.follow);
  if (o.lines !== undefined) history = o.lines <= 0 ? [] : history.slice(-o.lines);
  write(formatEntries(history, prefix, o.timestamps));
  if (!o.follow) return;
  for (;;) {
    p = await podStatus(dataDir, loc);
    const running = p?.state === 'running';
    const fresh = await readAll(!running);
    if (fresh.length) write(formatEntries(fresh, prefix, o.timestamps));
    if (!running) return;
    await sleep(FOLLOW_MS);
  }
}

/** Runs `rkt logs` with its raw arguments. */
export async function logsCommand(args: string[], base: GlobalOptions): Promise<void> {
  const o: LogsOptions = { follow: false, timestamps: false };
  let since: string | undefined;
  const { parser, globals } = commandParser(base, [
    {
      name: 'app',
      kind: 'value',
      set: (v) => {
        if (v && !isACName(v)) throw usageError('cli.invalid-value', `invalid app name ${JSON.stringify(v)}`);
        o.app = v || undefined;
      },
    },
    { name: 'follow', kind: 'bool', short: 'f', set: (v) => (o.follow = v === 'true') },
    { name: 'timestamps', kind: 'bool', set: (v) => (o.timestamps = v === 'true') },
    { name: 'since', kind: 'value', set: (v) => (since = v || undefined) },
    {
      name: 'lines',
      kind: 'value',
      set: (v) => {
        if (!/^-?\d+$/.test(v)) throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(v)} for --lines: expected a number`);
        const n = Number(v);
        o.lines = n < 0 ? undefined : n;
      },
    },
    {
      name: 'stream',
      kind: 'value',
      set: (v) => {
        if (v !== 'stdout' && v !== 'stderr' && v !== '') throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(v)} for --stream: expected stdout or stderr`);
        o.stream = v || undefined;
      },
    },
  ]);
  const positionals = parser.parse(args);
  if (positionals.length !== 1) throw usageError('cli.usage', 'logs: expected exactly one pod UUID');
  if (since !== undefined) o.since = parseSince(since);
  const ctx = contextOf(globals);
  const { writeStdout } = await import('../output/index');
  await printLogs(ctx.dataDir, positionals[0]!, o, writeStdout);
}
