/**
 * `rkt enter [--app=APP] UUID [CMD [ARGS...]]`: run a command inside a running pod by
 * replacing this process with the stage1 enter entrypoint. The exit status is the command's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { childPidOf, locatePod, readPodPid } from '@rktnetes/common';
import { isRktError, userError, usageError } from '@rktnetes/errors';
import { isACName, type PodManifest } from '@rktnetes/schema';
import { buildEnterArgs } from '@rktnetes/stage1-abi';
import type { GlobalOptions } from '../../cli/globals';
import { execEntrypoint, readPodStage1, stage1Env } from '../../stage1/entrypoints';
import { commandParser, contextOf } from '../cli';
import { quote } from '../format';
import { podStatus, readPodManifest, type PodStatus } from '../info';
import { podSys } from '../lock';
import { findPod } from '../uuid-arg';

/** The command run when none is given. */
export const DEFAULT_ENTER_COMMAND = '/bin/bash';

/**
 * The pid to enter: from `pid`, or the single child of `ppid`, waiting (every 100 ms) while the
 * pod runs and stage1 has not written it yet (rkt's ContainerPid1).
 */
export async function podPid1(dataDir: string, p: PodStatus): Promise<number> {
  for (;;) {
    const pid = await readPodPid(p.path);
    if (pid?.kind === 'pid') return pid.pid;
    if (pid?.kind === 'ppid') {
      const child = await childPidOf(pid.pid);
      if (child !== undefined) return child;
    }
    await sleep(100);
    const loc = await locatePod(dataDir, p.uuid);
    const now = loc && (await podStatus(dataDir, loc));
    if (!now || now.state !== 'running') throw userError('pod.not-running', `pod ${p.uuid} is not running anymore`, { details: { uuid: p.uuid } });
  }
}

/** The app to act on: the one named, or the pod's only app; several apps need `--app`. */
export function chooseApp(manifest: PodManifest, app: string | undefined, command: string): string {
  if (app !== undefined) {
    if (!isACName(app)) throw usageError('cli.invalid-value', `invalid app name ${JSON.stringify(app)}`);
    if (!manifest.apps.some((a) => a.name === app)) throw userError('pod.no-such-app', `app ${app} is not present in pod`);
    return app;
  }
  if (manifest.apps.length === 0) throw userError('pod.no-apps', 'pod contains zero apps');
  if (manifest.apps.length === 1) return manifest.apps[0]!.name;
  throw userError('pod.which-app', `pod contains multiple apps (${manifest.apps.map((a) => a.name).join(', ')}): specify app using "rkt ${command} --app= ..."`);
}

/** Runs `rkt enter` with its raw arguments; never returns on success. */
export async function enterCommand(args: string[], base: GlobalOptions): Promise<void> {
  let app: string | undefined;
  const { parser, globals } = commandParser(base, [{ name: 'app', kind: 'value', set: (v) => (app = v || undefined) }]);
  const rest = parser.parse(args, { stopAtPositional: true });
  if (rest.length < 1) throw usageError('cli.usage', 'enter: a pod UUID is required');
  const ctx = contextOf(globals);
  const sys = podSys();
  const loc = await findPod(ctx.dataDir, rest[0]!);
  const p = await podStatus(ctx.dataDir, loc, sys);
  if (!p || p.state !== 'running') throw userError('pod.not-running', `pod ${quote(loc.uuid)} isn't currently running`, { details: { uuid: loc.uuid } });
  const pid = await podPid1(ctx.dataDir, p);
  const appName = chooseApp(await readPodManifest(p.path, p.uuid), app, 'enter');
  let command = rest.slice(1);
  if (command.length === 0) {
    process.stderr.write(`no command specified, assuming ${quote(DEFAULT_ENTER_COMMAND)}\n`);
    command = [DEFAULT_ENTER_COMMAND];
  }
  const s1 = await readPodStage1(p.path);
  const argv = buildEnterArgs({ pid, appName, command }, s1.interfaceVersion);
  try {
    execEntrypoint(sys, s1, 'enter', argv, { env: stage1Env() });
  } catch (e) {
    throw isRktError(e) ? e : userError('pod.enter', `enter failed`, { cause: e });
  }
}
