/**
 * `rkt attach [--app=NAME] [--mode=MODE] UUID`: connects this terminal (or these pipes) to an
 * app's stdin, stdout and stderr, or its tty, through the stage1 attach entrypoint, which this
 * process becomes (rkt's runAttach). Modes: `auto` (default: everything the app offers),
 * `list`, `tty`, `tty-in`, `tty-out`, or a comma list of `stdin`, `stdout`, `stderr`.
 */
import { usageError, userError } from '@rktnetes/errors';
import { buildAttachArgs, buildCrossingEnv, type AttachOptions } from '@rktnetes/stage1-abi';
import type { GlobalOptions } from '../cli/globals';
import { commandParser, contextOf } from '../pod/cli';
import { chooseApp } from '../pod/commands/enter';
import { podSys } from '../pod/lock';
import { entrypointPath, execEntrypoint } from '../stage1/entrypoints';
import { appInfos, openMutablePod } from './pod';

/** rkt's createStage1AttachFlags: the attach action and endpoints of a `--mode`. */
export function attachOptions(mode: string, appName: string, debug: boolean): AttachOptions {
  if (mode === 'list') return { appName, action: 'list', debug };
  if (mode === 'auto' || mode === '') return { appName, action: 'auto-attach', debug };
  const o: AttachOptions = { appName, action: 'custom-attach', debug, ttyIn: false, ttyOut: false, stdin: false, stdout: false, stderr: false };
  for (const e of mode.split(',')) {
    switch (e) {
      case 'stdin':
        o.stdin = true;
        break;
      case 'stdout':
        o.stdout = true;
        break;
      case 'stderr':
        o.stderr = true;
        break;
      case 'tty':
        o.ttyIn = o.ttyOut = true;
        break;
      case 'tty-in':
        o.ttyIn = true;
        break;
      case 'tty-out':
        o.ttyOut = true;
        break;
      default:
        throw usageError('cli.invalid-value', `invalid attach mode: unknown endpoint ${JSON.stringify(e)}`);
    }
  }
  if ((o.ttyIn || o.ttyOut) && (o.stdin || o.stdout || o.stderr)) throw usageError('cli.invalid-value', `incompatible endpoints ${JSON.stringify(mode)}, cannot simultaneously attach TTY and streams`);
  return o;
}

/** Runs `rkt attach`; never returns on success (the exit status is the attach entrypoint's). */
export async function attachCommand(args: string[], base: GlobalOptions): Promise<void> {
  let app: string | undefined;
  let mode = 'auto';
  const { parser, globals } = commandParser(base, [
    { name: 'app', kind: 'value', set: (v) => (app = v || undefined) },
    { name: 'mode', kind: 'value', set: (v) => (mode = v) },
  ]);
  const positionals = parser.parse(args);
  if (positionals.length !== 1) throw usageError('cli.usage', 'attach: expected exactly one pod UUID');
  const ctx = contextOf(globals);
  const sys = podSys();
  const pod = await openMutablePod(ctx, positionals[0]!, sys);
  const appName = chooseApp(pod.manifest, app, 'attach');
  const options = attachOptions(mode, appName, ctx.debug);
  if (options.action !== 'list') {
    const [info] = await appInfos(pod.status, pod.manifest, pod.pid, appName);
    if (info && info.state !== 'running') throw userError('app.not-running', `app ${appName} is not running (${info.state})`, { details: { uuid: pod.uuid, app: appName } });
  }
  const argv = buildAttachArgs(options, pod.s1.interfaceVersion);
  const env = buildCrossingEnv({ enterCmd: entrypointPath(pod.s1, 'enter'), enterPid: pod.pid, enterApp: appName });
  execEntrypoint(sys, pod.s1, 'attach', argv, { env });
}
