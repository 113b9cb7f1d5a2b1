/**
 * `rkt app start`, `rkt app stop` and `rkt app rm` (rkt's stage0.StartApp, StopApp, RmApp).
 */
import * as fs from 'node:fs';
import { appStartedPath, appStatusPath, EXIT_APP_STOP_NO_SUCH_APP } from '@rktnetes/common';
import { userError, usageError } from '@rktnetes/errors';
import { buildAppRmArgs, buildAppStartArgs, buildAppStopArgs } from '@rktnetes/stage1-abi';
import type { GlobalOptions } from '../cli/globals';
import { commandParser, contextOf } from '../pod/cli';
import { parseGoDuration } from '../pod/format';
import { podStatus, readPodManifest } from '../pod/info';
import { podSys } from '../pod/lock';
import { refreshPodRegistration } from '../pod/mds';
import { findPod } from '../pod/uuid-arg';
import { removeAppFiles } from './add';
import { appInfos, callCrossing, checkAppName, findApp, openMutablePod, reloadManifest, runCrossing, stage1Message, withManifestLock, writePodManifest } from './pod';

import { ENV_STOP_TIMEOUT } from '@rktnetes/stage1-abi';
export { ENV_STOP_TIMEOUT };

/** Parses `UUID --app=NAME` (flags anywhere) plus `extra` flags. */
function parseAppCommand(args: readonly string[], base: GlobalOptions, command: string, extra: Parameters<typeof commandParser>[1] = []) {
  let app: string | undefined;
  const { parser, globals } = commandParser(base, [{ name: 'app', kind: 'value', set: (v) => (app = v) }, ...extra]);
  const positionals = parser.parse(args);
  if (positionals.length !== 1) throw usageError('cli.usage', `app ${command}: expected exactly one pod UUID`);
  return { uuid: positionals[0]!, app: checkAppName(app, `app ${command}`), ctx: contextOf(globals) };
}

/** `rkt app start UUID --app=NAME`: starts an added (or exited) app. */
export async function startCommand(args: string[], base: GlobalOptions): Promise<void> {
  const { uuid, app, ctx } = parseAppCommand(args, base, 'start');
  const pod = await openMutablePod(ctx, uuid);
  findApp(pod, app);
  const [info] = await appInfos(pod.status, pod.manifest, pod.pid, app);
  if (info?.state === 'running') throw userError('app.running', `app ${app} is already running in pod ${pod.uuid}`, { details: { uuid: pod.uuid, app } });
  // rkt: a restarted app briefly shows as exited, then as created, then as running
  fs.rmSync(appStartedPath(pod.path, app), { force: true });
  fs.rmSync(appStatusPath(pod.path, app), { force: true });
  fs.closeSync(fs.openSync(appStartedPath(pod.path, app), fs.constants.O_CREAT | fs.constants.O_WRONLY | fs.constants.O_TRUNC, 0o644));
  await callCrossing(pod, 'app/start', buildAppStartArgs({ appName: app, debug: ctx.debug }, pod.s1.interfaceVersion), app);
}

/** `--timeout` of app stop: a Go duration (`10s`) or seconds, rounded up to whole seconds. */
export function parseStopTimeout(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = parseGoDuration(value, 'timeout');
  if (ms < 0) throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --timeout: must not be negative`);
  return Math.ceil(ms / 1000);
}

/**
 * `rkt app stop UUID --app=NAME [--timeout=DURATION]`: SIGTERM, SIGKILL after the timeout
 * (the stage1's default, 10 s for stage1-coreos); returns once the app exited. An app that is
 * not running is fine.
 */
export async function stopCommand(args: string[], base: GlobalOptions): Promise<void> {
  let timeout: number | undefined;
  const { uuid, app, ctx } = parseAppCommand(args, base, 'stop', [{ name: 'timeout', kind: 'value', set: (v) => (timeout = parseStopTimeout(v)) }]);
  const loc = await findPod(ctx.dataDir, uuid);
  const status = await podStatus(ctx.dataDir, loc);
  if (status && status.state !== 'running' && status.state !== 'preparing' && status.state !== 'prepared') {
    process.stdout.write(`pod "${loc.uuid}" is already stopped\n`);
    return;
  }
  const pod = await openMutablePod(ctx, uuid);
  findApp(pod, app);
  const r = await runCrossing(pod, 'app/stop', buildAppStopArgs({ appName: app, debug: ctx.debug }, pod.s1.interfaceVersion), app, timeout === undefined ? {} : { [ENV_STOP_TIMEOUT]: String(timeout) });
  if (r.status === EXIT_APP_STOP_NO_SUCH_APP) throw userError('app.not-running', `app ${app} is not running`, { details: { uuid: pod.uuid, app } });
  if (r.status !== 0) throw userError('stage1.failed', `stage1 app/stop of pod ${pod.uuid} failed: ${stage1Message(r.stderr) || `exit status ${r.status}`}`);
}

/**
 * `rkt app rm UUID --app=NAME`: stops the app if it runs, removes it from the pod (stage1
 * app/rm), its files and its overlay, and drops it from the pod manifest. For a pod that is no
 * longer running only the files and the manifest entry go.
 */
export async function rmCommand(args: string[], base: GlobalOptions): Promise<void> {
  const { uuid, app, ctx } = parseAppCommand(args, base, 'rm');
  const sys = podSys();
  const loc = await findPod(ctx.dataDir, uuid);
  const status = await podStatus(ctx.dataDir, loc, sys);
  if (!status) throw userError('pod.not-found', `pod ${loc.uuid} is gone`);
  if (status.state !== 'running') {
    // nothing runs: only the pod directory to tidy
    await withManifestLock(status.path, async () => {
      const manifest = await readPodManifest(status.path, status.uuid);
      findApp({ uuid: status.uuid, manifest }, app);
      await removeAppFiles(status.path, app, sys);
      await writePodManifest(status.path, { ...manifest, apps: manifest.apps.filter((a) => a.name !== app) });
    }, sys);
    return;
  }
  let pod = await openMutablePod(ctx, uuid, sys);
  await withManifestLock(pod.path, async () => {
    pod = await reloadManifest(pod);
    findApp(pod, app);
    const stop = await runCrossing(pod, 'app/stop', buildAppStopArgs({ appName: app, debug: ctx.debug }, pod.s1.interfaceVersion), app);
    // 5: the pod's supervisor does not know the app (a failed add): carry on
    if (stop.status !== 0 && stop.status !== EXIT_APP_STOP_NO_SUCH_APP) {
      throw userError('stage1.failed', `stage1 app/stop of pod ${pod.uuid} failed: ${stage1Message(stop.stderr) || `exit status ${stop.status}`}`);
    }
    await callCrossing(pod, 'app/rm', buildAppRmArgs({ appName: app, debug: ctx.debug }, pod.s1.interfaceVersion), app);
    await removeAppFiles(pod.path, app, sys);
    await writePodManifest(pod.path, { ...pod.manifest, apps: pod.manifest.apps.filter((a) => a.name !== app) });
    const mds = await refreshPodRegistration(pod.path, pod.uuid);
    if (mds) ctx.log.warn(`cannot update the metadata service registration of pod ${pod.uuid}: ${mds}`);
  }, sys);
}
