/**
 * `rkt status [--wait[=bool|duration]] [--wait-ready[=bool|duration]] [--format=json|json-pretty]
 * --uuid-file=FILE | UUID`: the pod's state, times, pid and app exit statuses as `key=value`
 * lines (rkt's format), or the v1 API object.
 */
import * as fsp from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFinished, locatePod, supervisorStatusPathIn, SUPERVISOR_READY } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import type { GlobalOptions } from '../../cli/globals';
import { commandParser, contextOf } from '../cli';
import { parseBoolFlag } from '../flags';
import { formatExactTime, parseOutputFormat, renderJSONOutput, writeStdout, type OutputFormat } from '../../output/index';
import { parseGoDuration } from '../format';
import { apiPod, describePod, formatNetworks, podStatus, readableStage1Root, type PodStatus } from '../info';
import { findPod, podArguments } from '../uuid-arg';

/**
 * rkt's parseDuration for --wait: empty or a true boolean waits forever (-1), false not at all
 * (0), anything else is a Go duration (a negative one waits forever).
 */
export function parseWait(value: string, flag: string): number {
  if (value === '') return -1;
  try {
    return parseBoolFlag(value, flag) ? -1 : 0;
  } catch {
    const ms = parseGoDuration(value, flag);
    return ms < 0 ? -1 : ms;
  }
}

const POLL_MS = 100;

function deadlineOf(ms: number): number {
  return ms < 0 ? Infinity : Date.now() + ms;
}

function timedOut(what: string, uuid: string): Error {
  return userError('pod.wait-timeout', `error waiting for pod ${uuid} ${what}: context deadline exceeded`, { details: { uuid } });
}

async function currentStatus(dataDir: string, uuid: string): Promise<PodStatus | undefined> {
  const loc = await locatePod(dataDir, uuid);
  return loc && (await podStatus(dataDir, loc));
}

async function supervisorReady(p: PodStatus): Promise<boolean> {
  try {
    const root = await readableStage1Root(p.path);
    return (await fsp.readlink(supervisorStatusPathIn(root))) === SUPERVISOR_READY;
  } catch {
    return false;
  }
}

/** Waits until the pod's supervisor says it is ready (`rkt/supervisor-status` -> `ready`). */
async function waitReady(dataDir: string, uuid: string, ms: number): Promise<void> {
  const deadline = deadlineOf(ms);
  for (;;) {
    const p = await currentStatus(dataDir, uuid);
    if (p && (await supervisorReady(p))) return;
    if (Date.now() >= deadline) throw timedOut('readiness', uuid);
    await sleep(POLL_MS);
  }
}

/** Waits until the pod is finished (exited, aborted or garbage): its lock is free and its state final. */
async function waitFinished(dataDir: string, uuid: string, ms: number): Promise<void> {
  const deadline = deadlineOf(ms);
  for (;;) {
    const p = await currentStatus(dataDir, uuid);
    if (!p || isFinished(p.state)) return;
    if (Date.now() >= deadline) throw timedOut('to finish', uuid);
    await sleep(p.state === 'prepared' ? Math.min(1000, Math.max(1, deadline - Date.now())) : POLL_MS);
  }
}

/** The key=value lines rkt prints for a pod. */
async function statusLines(p: PodStatus): Promise<string[]> {
  const d = await describePod(p);
  const lines = [`state=${d.state}`, `created=${d.created ? formatExactTime(d.created) : ''}`];
  if (d.started) lines.push(`started=${formatExactTime(d.started)}`);
  if (d.state === 'running' || d.state === 'exited') lines.push(`networks=${formatNetworks(d.networks)}`);
  const live = ['running', 'deleting', 'exited deleting', 'exited', 'exited garbage'];
  if (!live.includes(d.state)) return lines;
  if (d.pid !== undefined) lines.push(`pid=${d.pid}`);
  lines.push(`exited=${d.state === 'exited' || d.state === 'exited garbage'}`);
  if (d.state !== 'running') {
    if (!d.manifest) throw userError('pod.manifest', `unable to get exit statuses for pod ${d.uuid}`, { cause: d.errors[0] });
    for (const app of d.apps) if (app.exitCode !== undefined) lines.push(`app-${app.name}=${app.exitCode}`);
  }
  return lines;
}

/** Runs `rkt status` with its raw arguments. */
export async function statusCommand(args: string[], base: GlobalOptions): Promise<void> {
  const o = { wait: 'false', waitReady: 'false', format: 'tabbed' as OutputFormat, uuidFile: '' };
  const { parser, globals } = commandParser(base, [
    { name: 'wait', kind: 'optional', noOptValue: 'true', set: (v) => (o.wait = v) },
    { name: 'wait-ready', kind: 'optional', noOptValue: 'true', set: (v) => (o.waitReady = v) },
    { name: 'format', kind: 'value', set: (v) => (o.format = parseOutputFormat(v)) },
    { name: 'uuid-file', kind: 'value', set: (v) => (o.uuidFile = v) },
  ]);
  const positionals = parser.parse(args);
  const ctx = contextOf(globals);
  const waitMs = parseWait(o.wait, 'wait');
  const readyMs = parseWait(o.waitReady, 'wait-ready');
  const [ref] = await podArguments(o.uuidFile || undefined, positionals, 'status');
  const loc = await findPod(ctx.dataDir, ref!);
  if (readyMs !== 0) await waitReady(ctx.dataDir, loc.uuid, readyMs);
  if (waitMs !== 0) await waitFinished(ctx.dataDir, loc.uuid, waitMs);
  const p = await currentStatus(ctx.dataDir, loc.uuid);
  if (!p) throw userError('pod.gone', `pod ${loc.uuid} is gone`, { details: { uuid: loc.uuid } });
  if (o.format !== 'tabbed') {
    writeStdout(renderJSONOutput(apiPod(await describePod(p)), o.format));
    return;
  }
  writeStdout((await statusLines(p)).map((l) => `${l}\n`).join(''));
}
