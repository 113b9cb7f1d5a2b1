/**
 * `rkt app exec [--app=NAME] UUID [--] CMD [ARGS...]`: runs a command in an app of a running
 * pod, through the stage1 enter entrypoint (`--appname`); stage1-coreos runs
 * it exactly as the app runs: namespaces, root, cgroups, working directory, environment,
 * capabilities, groups, uid, gid, no_new_privs and seccomp filter (rkt's stage1s run it as
 * root). This process becomes enter, so the exit status is the command's; stdio is passed
 * through untouched.
 */
import { isRktError, userError, usageError } from '@rktnetes/errors';
import { buildEnterArgs } from '@rktnetes/stage1-abi';
import type { GlobalOptions } from '../cli/globals';
import { commandParser, contextOf } from '../pod/cli';
import { FlagParser } from '../pod/flags';
import { chooseApp, podPid1 } from '../pod/commands/enter';
import { quote } from '../pod/format';
import { podStatus, readPodManifest } from '../pod/info';
import { podSys } from '../pod/lock';
import { findPod } from '../pod/uuid-arg';
import { execEntrypoint, readPodStage1 } from '../stage1/entrypoints';
import { appInfos } from './pod';


/**
 * Splits `[flags] UUID [flags] [--] CMD...`: flags before and right after the UUID, then the
 * command (after `--`, or from the first argument that is not a flag).
 */
export function splitExecArgs(args: readonly string[], parser: FlagParser): { uuid: string | undefined; command: string[] } {
  let uuid: string | undefined;
  for (let i = 0; i < args.length; ) {
    const a = args[i]!;
    if (a === '--') {
      // `rkt app exec -- UUID CMD` is allowed too (rkt's SetInterspersed(false) parsing)
      if (uuid === undefined) return { uuid: args[i + 1], command: args.slice(i + 2) };
      return { uuid, command: args.slice(i + 1) };
    }
    if (FlagParser.isFlag(a)) {
      i += parser.parseAt(args, i);
      continue;
    }
    if (uuid !== undefined) return { uuid, command: args.slice(i) };
    uuid = a;
    i++;
  }
  return { uuid, command: [] };
}

/** Runs `rkt app exec`; never returns on success. */
export async function execCommand(args: string[], base: GlobalOptions): Promise<void> {
  let app: string | undefined;
  const { parser, globals } = commandParser(base, [{ name: 'app', kind: 'value', set: (v) => (app = v || undefined) }]);
  const { uuid, command } = splitExecArgs(args, parser);
  if (uuid === undefined) throw usageError('cli.usage', 'app exec: a pod UUID is required');
  if (command.length === 0) throw usageError('cli.usage', 'app exec: a command is required');
  const ctx = contextOf(globals);
  const sys = podSys();
  const loc = await findPod(ctx.dataDir, uuid);
  const p = await podStatus(ctx.dataDir, loc, sys);
  if (!p || p.state !== 'running') throw userError('pod.not-running', `pod ${quote(loc.uuid)} isn't currently running`, { details: { uuid: loc.uuid } });
  const manifest = await readPodManifest(p.path, p.uuid);
  const appName = chooseApp(manifest, app, 'app exec');
  const pid = await podPid1(ctx.dataDir, p);
  const [info] = await appInfos(p, manifest, pid, appName);
  if (info && info.state !== 'running' && info.state !== 'unknown') {
    throw userError('app.not-running', `app ${appName} is not running (${info.state})`, { details: { uuid: p.uuid, app: appName } });
  }
  const s1 = await readPodStage1(p.path);
  const argv = buildEnterArgs({ pid, appName, command }, s1.interfaceVersion);
  try {
    execEntrypoint(sys, s1, 'enter', argv, {});
  } catch (e) {
    throw isRktError(e) ? e : userError('pod.enter', 'exec failed', { cause: e });
  }
}
