/**
 * `rkt app list UUID` and `rkt app status UUID --app=NAME`: the apps of a pod with their
 * states, as rkt prints them (a NAME/STATE table; `key=value` lines), or rkt's v1 API app
 * objects with `--format=json|json-pretty` (plus `pid`, the host pid of a running app).
 */
import { userError, usageError } from '@rktnetes/errors';
import type { GlobalOptions } from '../cli/globals';
import { parseOutputFormat, renderJSONOutput, renderTable, writeStdout, type JsonValue, type OutputFormat } from '../output/index';
import { commandParser, contextOf } from '../pod/cli';
import { podStatus, readPodManifest } from '../pod/info';
import { readPodPid } from '@rktnetes/common';
import { findPod } from '../pod/uuid-arg';
import { appInfos, checkAppName, type AppInfo } from './pod';

/** rkt's v1 API app object (`rkt app status --format=json`), with `pid` added. */
export function apiApp(a: AppInfo): JsonValue {
  return {
    name: a.name,
    state: a.state,
    created_at: a.createdAt,
    started_at: a.startedAt,
    finished_at: a.finishedAt,
    exit_code: a.exitCode,
    image_id: a.imageId,
    pid: a.pid,
    mounts: a.mounts.length ? a.mounts.map((m) => ({ name: m.name, container_path: m.containerPath, host_path: m.hostPath, read_only: m.readOnly })) : undefined,
    user_annotations: a.userAnnotations,
    user_labels: a.userLabels,
  };
}

/** Go's time.Time.String() of nanoseconds since the epoch, in UTC (`2006-01-02 15:04:05.999999999 +0000 UTC`). */
export function formatGoTime(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = String(ns % 1_000_000_000n).padStart(9, '0').replace(/0+$/, '');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac ? `.${frac}` : ''} +0000 UTC`;
}

/** rkt's printApp: `key=value` lines. */
export function statusLines(a: AppInfo): string[] {
  const lines = [`name=${a.name}`, `state=${a.state}`, `image_id=${a.imageId}`];
  if (a.createdAt !== undefined) lines.push(`created_at=${formatGoTime(a.createdAt)}`);
  if (a.startedAt !== undefined) lines.push(`started_at=${formatGoTime(a.startedAt)}`);
  if (a.finishedAt !== undefined) lines.push(`finished_at=${formatGoTime(a.finishedAt)}`);
  if (a.exitCode !== undefined) lines.push(`exit_code=${a.exitCode}`);
  if (a.pid !== undefined) lines.push(`pid=${a.pid}`);
  if (a.mounts.length) lines.push(`mounts=${a.mounts.map((m) => `${m.hostPath}:${m.containerPath}:(read_only:${m.readOnly})`).join(',')}`);
  if (a.userAnnotations) lines.push(`user_annotations=${Object.entries(a.userAnnotations).map(([k, v]) => `${k}:${v}`).join(',')}`);
  if (a.userLabels) lines.push(`user_labels=${Object.entries(a.userLabels).map(([k, v]) => `${k}:${v}`).join(',')}`);
  return lines;
}

/** The apps of the pod `ref` names (any state with a manifest), optionally only `only`. */
async function podApps(dataDir: string, ref: string, only?: string): Promise<AppInfo[]> {
  const loc = await findPod(dataDir, ref);
  const status = await podStatus(dataDir, loc);
  if (!status) throw userError('pod.not-found', `pod ${loc.uuid} is gone`, { details: { uuid: loc.uuid } });
  const manifest = await readPodManifest(status.path, status.uuid);
  const pid = status.state === 'running' ? (await readPodPid(status.path).catch(() => undefined))?.pid : undefined;
  return appInfos(status, manifest, pid, only);
}

/** `rkt app list [--no-legend] [--format=json|json-pretty] UUID`. */
export async function listCommand(args: string[], base: GlobalOptions): Promise<void> {
  let noLegend = false;
  let format: OutputFormat = 'tabbed';
  const { parser, globals } = commandParser(base, [
    { name: 'no-legend', kind: 'bool', set: (v) => (noLegend = v === 'true') },
    { name: 'format', kind: 'value', set: (v) => (format = parseOutputFormat(v)) },
  ]);
  const positionals = parser.parse(args);
  if (positionals.length !== 1) throw usageError('cli.usage', 'app list: expected exactly one pod UUID');
  const apps = await podApps(contextOf(globals).dataDir, positionals[0]!);
  if (format !== 'tabbed') {
    writeStdout(renderJSONOutput(apps.map(apiApp), format));
    return;
  }
  writeStdout(renderTable(apps, [{ field: 'name', header: 'NAME', cell: (a) => a.name }, { field: 'state', header: 'STATE', cell: (a) => a.state }], { noLegend }));
}

/** `rkt app status [--format=json|json-pretty] UUID --app=NAME`. */
export async function statusCommand(args: string[], base: GlobalOptions): Promise<void> {
  let app: string | undefined;
  let format: OutputFormat = 'tabbed';
  const { parser, globals } = commandParser(base, [
    { name: 'app', kind: 'value', set: (v) => (app = v) },
    { name: 'format', kind: 'value', set: (v) => (format = parseOutputFormat(v)) },
  ]);
  const positionals = parser.parse(args);
  if (positionals.length !== 1) throw usageError('cli.usage', 'app status: expected exactly one pod UUID');
  const name = checkAppName(app, 'app status');
  const [info] = await podApps(contextOf(globals).dataDir, positionals[0]!, name);
  if (!info) throw userError('app.unknown', `cannot find app ${JSON.stringify(name)} in the pod`, { details: { app: name } });
  writeStdout(format === 'tabbed' ? `${statusLines(info).join('\n')}\n` : renderJSONOutput(apiApp(info), format));
}
