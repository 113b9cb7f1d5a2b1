/**
 * `rkt run`, `rkt prepare` and `rkt run-prepared`.
 */
import * as fs from 'node:fs';
import { renamePod, resolvePodUUID } from '@rktnetes/common';
import { isRktError, userError, usageError } from '@rktnetes/errors';
import { parsePodManifest, type PodManifest } from '@rktnetes/schema';
import { netIsHost, netIsNone } from '@rktnetes/stage1-abi';
import { openStore, type Store } from '@rktnetes/store';
import type { Context } from '../../cli/context';
import type { GlobalOptions } from '../../cli/globals';
import { fetchImage } from '../../fetch/index';
import { resolveStage1Image } from '../../stage1/select';
import { emptyRunFlags, parseDnsOptions, parsePodArgs, runFlagSpecs, type PodArgs, type RunFlags } from '../args';
import { commandParser, contextOf } from '../cli';
import { podStatus, readPodManifest } from '../info';
import { lockPod, podSys } from '../lock';
import { mdsRegisteredPath, registerPod, unregisterPod } from '../mds';
import { checkImageOsArch, checkPorts, generatePodManifest, type ResolvedApp } from '../manifest';
import { overlayUnsupportedReason } from '../overlay';
import { preparePod, randomPrivateUsers, type PreparedPod } from '../prepare';
import { startPod } from '../start';
import { trace } from '../trace';

/** Checks the combinations rkt rejects before doing anything. */
function checkPodArgs(o: PodArgs, command: 'run' | 'prepare'): void {
  if (o.podManifest !== undefined) {
    const conflicting =
      o.apps.length > 0 ||
      o.volumes.length > 0 ||
      o.mounts.length > 0 ||
      o.ports.length > 0 ||
      o.pullPolicy !== 'new' ||
      o.inheritEnv ||
      o.setEnv.length > 0 ||
      o.setEnvFile.length > 0;
    if (conflicting) throw usageError('cli.conflict', 'conflicting flags set with --pod-manifest (see --help)');
  } else if (o.apps.length < 1) {
    throw usageError('cli.no-image', 'must provide at least one image or specify the pod manifest');
  }
  if (command === 'run') {
    if (o.ports.length && o.net && netIsNone(o.net)) throw usageError('cli.conflict', "--port flag does not work with 'none' networking");
    if (o.ports.length && o.net && netIsHost(o.net)) throw usageError('cli.conflict', "--port flag does not work with 'host' networking");
    if (o.interactive && o.apps.length > 1) throw usageError('cli.conflict', 'interactive option only supports one image');
  }
}

/** Reads a `--pod-manifest` file and checks its apps against the store (rkt's validatePodManifest). */
async function userPodManifest(store: Store, path: string): Promise<{ manifest: PodManifest; text: string }> {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw userError('pod.manifest', `error reading pod manifest ${path}`, { cause: e });
  }
  const manifest = parsePodManifest(text, { source: path });
  for (const ra of manifest.apps) {
    const im = store.getImageManifest(ra.image.id);
    if (!ra.app && !im.app) throw userError('pod.no-app', `no app section in the pod manifest or the image manifest of app ${ra.name}`);
  }
  checkPorts(manifest.apps, manifest.ports);
  return { manifest, text };
}

/**
 * Refuses a pod whose host volumes have no source on this host, before anything is created:
 * stage1 would find out only after the pod directory and its mounts exist (rkt leaves that to
 * stage1; a pod that cannot start is better never made). `rkt prepare` does not check: the
 * source may be created before `run-prepared`.
 */
function checkHostVolumeSources(manifest: PodManifest): void {
  for (const v of manifest.volumes ?? []) {
    if (v.kind !== 'host' || !v.source) continue;
    if (!fs.existsSync(v.source)) {
      throw userError('pod.volume-source', `volume ${JSON.stringify(v.name)}: host source ${v.source} does not exist`, { details: { volume: v.name, source: v.source } });
    }
  }
}

/** Resolves (fetching as the pull policy allows) every image of the command line. */
async function resolveApps(ctx: Context, store: Store, o: PodArgs): Promise<ResolvedApp[]> {
  const out: ResolvedApp[] = [];
  for (const cli of o.apps) {
    const imageKey = await fetchImage(ctx, store, { ref: cli.image, pullPolicy: o.pullPolicy, ...(cli.signature ? { signature: cli.signature } : {}) });
    const manifest = store.getImageManifest(imageKey);
    checkImageOsArch(manifest, imageKey);
    out.push({ cli, imageKey, manifest });
  }
  return out;
}

/** Whether to use overlay for a new pod: not with `--no-overlay`, nor where overlay cannot work. */
function chooseOverlay(ctx: Context, o: PodArgs): boolean {
  if (o.noOverlay) return false;
  const reason = overlayUnsupportedReason(ctx.dataDir);
  if (reason) {
    ctx.log.warn(`disabling overlay support: ${reason}`);
    return false;
  }
  return true;
}

/** Everything up to a prepared, locked pod in `pods/prepare`. */
async function prepareFromArgs(ctx: Context, o: PodArgs, command: 'run' | 'prepare'): Promise<PreparedPod> {
  checkPodArgs(o, command);
  const store = openStore(ctx.dataDir, { debug: (m) => ctx.log.debug(m) });
  try {
    const stage1Key = await resolveStage1Image(ctx, store, o.stage1.choice);
    trace('stage1-image');
    let manifest: PodManifest;
    let manifestText: string | undefined;
    if (o.podManifest !== undefined) {
      ({ manifest, text: manifestText } = await userPodManifest(store, o.podManifest));
    } else {
      const apps = await resolveApps(ctx, store, o);
      manifest = generatePodManifest(apps, o, { ...(o.inheritEnv ? { inherit: process.env } : {}), setEnv: o.setEnv, setEnvFile: o.setEnvFile });
    }
    if (command === 'run') checkHostVolumeSources(manifest);
    trace('app-images');
    return await preparePod(ctx, {
      store,
      stage1Key,
      manifest,
      ...(manifestText !== undefined ? { manifestText } : {}),
      useOverlay: chooseOverlay(ctx, o),
      ...(o.privateUsers ? { privateUsers: randomPrivateUsers() } : {}),
      ...(o.uuidFileSave ? { uuidFileSave: o.uuidFileSave } : {}),
    });
  } finally {
    store.close();
  }
}

/** `rkt run`: prepare a pod and exec its stage1; never returns on success. */
export async function runCommand(args: string[], base: GlobalOptions): Promise<void> {
  trace('cli');
  const { pod: o, globals } = parsePodArgs(args, base, 'run');
  const ctx = contextOf(globals);
  const dns = parseDnsOptions(o);
  const sys = podSys();
  trace('parsed');
  const p = await prepareFromArgs(ctx, o, 'run');
  trace('prepared');
  let path: string;
  let mdsToken: string | undefined;
  try {
    if (o.mdsRegister) mdsToken = await registerPod(p.path, p.uuid);
    path = await renamePod(ctx.dataDir, p.uuid, 'prepare', 'run', 'preparing');
  } catch (e) {
    // nothing of a pod that never ran stays behind
    if (mdsToken !== undefined) await unregisterPod(p.path, p.uuid);
    await fs.promises.rm(p.path, { recursive: true, force: true }).catch(() => undefined);
    p.lock.close();
    throw e;
  }
  await startPod(ctx, { uuid: p.uuid, path, lock: p.lock, flags: o, dns, ...(mdsToken !== undefined ? { mdsToken } : {}) }, sys);
}

/** `rkt prepare`: prepare a pod, move it to `prepared` and print its uuid. */
export async function prepareCommand(args: string[], base: GlobalOptions): Promise<void> {
  const { pod: o, globals } = parsePodArgs(args, base, 'prepare');
  const ctx = contextOf(globals);
  const p = await prepareFromArgs(ctx, o, 'prepare');
  try {
    await renamePod(ctx.dataDir, p.uuid, 'prepare', 'prepared', 'preparing');
  } finally {
    p.lock.close();
  }
  fs.writeSync(1, `${p.uuid}\n`);
}

/** `rkt run-prepared UUID`: lock a prepared pod, move it to `run` and exec its stage1. */
export async function runPreparedCommand(args: string[], base: GlobalOptions): Promise<void> {
  const flags: RunFlags = emptyRunFlags();
  const { parser, globals } = commandParser(base, runFlagSpecs(flags));
  const positionals = parser.parse(args);
  if (positionals.length !== 1) throw usageError('cli.usage', 'run-prepared: expected exactly one pod UUID');
  const ctx = contextOf(globals);
  const dns = parseDnsOptions(flags);
  const sys = podSys();
  const loc = await resolvePodUUID(ctx.dataDir, positionals[0]!);
  const status = await podStatus(ctx.dataDir, loc, sys);
  if (!status || status.state !== 'prepared') throw userError('pod.not-prepared', `pod ${loc.uuid} is not prepared`, { details: { uuid: loc.uuid } });
  const manifest = await readPodManifest(status.path, status.uuid);
  if (flags.interactive && manifest.apps.length > 1) throw userError('pod.interactive', 'interactive option only supports pods with one app');
  const lock = lockPod(status.path, status.uuid, sys);
  let path: string;
  let mdsToken: string | undefined;
  try {
    if (flags.mdsRegister) mdsToken = await registerPod(status.path, status.uuid);
    path = await renamePod(ctx.dataDir, status.uuid, 'prepared', 'run', 'prepared');
  } catch (e) {
    if (mdsToken !== undefined) {
      await unregisterPod(status.path, status.uuid);
      await fs.promises.rm(mdsRegisteredPath(status.path), { force: true }).catch(() => undefined);
    }
    lock.close();
    if (isRktError(e) && e.code === 'pod.gone') throw userError('pod.gone', `cannot transition pod ${status.uuid} to run: it is no longer prepared`, { cause: e });
    throw e;
  }
  await startPod(ctx, { uuid: status.uuid, path, lock, flags, dns, ...(mdsToken !== undefined ? { mdsToken } : {}) }, sys);
}

