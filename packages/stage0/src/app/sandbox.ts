/**
 * `rkt app sandbox`: a pod without apps, with its network, hostname, DNS, ports and
 * annotations, whose stage1 runs with `--mutable` (rkt's runAppSandbox). Like `rkt run`, this
 * process becomes the stage1 run entrypoint and lives as long as the pod; apps come with
 * `rkt app add`.
 */
import * as fs from 'node:fs';
import { renamePod } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { APPC_VERSION, isACIdentifier, parsePodManifest, type PodManifest } from '@rktnetes/schema';
import { ANNOTATION_POD_MUTABLE, stage1SupportsMutable } from '@rktnetes/stage1-abi';
import { openStore } from '@rktnetes/store';
import type { Context } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';
import { parseDnsOptions } from '../pod/args';
import { contextOf } from '../pod/cli';
import { podSys } from '../pod/lock';
import { applyPodSettings } from '../pod/settings';
import { overlayUnsupportedReason } from '../pod/overlay';
import { registerPod, unregisterPod } from '../pod/mds';
import { preparePod } from '../pod/prepare';
import { startPod } from '../pod/start';
import { resolveStage1Image } from '../stage1/select';
import { parseSandboxArgs, type SandboxArgs } from './args';

/**
 * The pod manifest of a sandbox: no apps, the mutable annotation, the ports and annotations
 * given, the pod settings (sysctls, cgroup parent, pid namespace).
 */
export function sandboxManifest(o: Pick<SandboxArgs, 'ports' | 'annotations' | 'userAnnotations' | 'userLabels'> & Partial<Pick<SandboxArgs, 'podSettings'>>): PodManifest {
  const annotations = [{ name: ANNOTATION_POD_MUTABLE, value: 'true' }];
  for (const [name, value] of o.annotations) {
    if (!isACIdentifier(name)) throw userError('pod.annotation', `error parsing annotation key ${JSON.stringify(name)}: not an AC identifier`);
    if (name !== ANNOTATION_POD_MUTABLE) annotations.push({ name, value });
  }
  const pm: Record<string, unknown> = { acKind: 'PodManifest', acVersion: APPC_VERSION, apps: [], annotations };
  if (o.ports.length) pm.ports = o.ports;
  if (Object.keys(o.userAnnotations).length) pm.userAnnotations = o.userAnnotations;
  if (Object.keys(o.userLabels).length) pm.userLabels = o.userLabels;
  if (o.podSettings) applyPodSettings(pm, o.podSettings);
  return parsePodManifest(pm);
}

function chooseOverlay(ctx: Context, noOverlay: boolean): boolean {
  if (noOverlay) return false;
  const reason = overlayUnsupportedReason(ctx.dataDir);
  if (reason) {
    ctx.log.warn(`disabling overlay support: ${reason}`);
    return false;
  }
  return true;
}

/** Runs `rkt app sandbox`; never returns on success (the process becomes stage1). */
export async function sandboxCommand(args: string[], base: GlobalOptions): Promise<void> {
  const { sandbox: o, globals } = parseSandboxArgs(args, base);
  const ctx = contextOf(globals);
  const dns = parseDnsOptions(o);
  const manifest = sandboxManifest(o);
  const store = openStore(ctx.dataDir, { debug: (m) => ctx.log.debug(m) });
  let prepared;
  try {
    const stage1Key = await resolveStage1Image(ctx, store, o.stage1.choice);
    if (!stage1SupportsMutable(store.getImageManifest(stage1Key))) {
      throw userError('stage1.mutable.unsupported', `stage1 image ${store.getImageManifest(stage1Key).name} does not support mutable pods (it declares no app entrypoints)`);
    }
    prepared = await preparePod(ctx, {
      store,
      stage1Key,
      manifest,
      useOverlay: chooseOverlay(ctx, o.noOverlay),
      ...(o.uuidFileSave ? { uuidFileSave: o.uuidFileSave } : {}),
    });
  } finally {
    store.close();
  }
  let path: string;
  let mdsToken: string | undefined;
  try {
    // registered without apps; rkt app add and rm register it again with its apps
    if (o.mdsRegister) mdsToken = await registerPod(prepared.path, prepared.uuid);
    path = await renamePod(ctx.dataDir, prepared.uuid, 'prepare', 'run', 'preparing');
  } catch (e) {
    if (mdsToken !== undefined) await unregisterPod(prepared.path, prepared.uuid);
    await fs.promises.rm(prepared.path, { recursive: true, force: true }).catch(() => undefined);
    prepared.lock.close();
    throw e;
  }
  await startPod(ctx, { uuid: prepared.uuid, path, lock: prepared.lock, flags: o, dns, mutable: true, ...(mdsToken !== undefined ? { mdsToken } : {}) }, podSys());
}
