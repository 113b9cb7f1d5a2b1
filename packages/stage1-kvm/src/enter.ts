/**
 * The enter entrypoint: runs a command inside the pod's VM as an app runs (its root, working
 * directory, environment, uid, gid, groups, capability bounding set, no_new_privs and seccomp
 * filter), through the enter channel (qemu's unix socket `<pod>/kvm/enter.sock`, the guest's
 * rkt.enter port).
 * The command's stdin, stdout and stderr are this process's; its exit status is ours.
 * One session at a time: a second enter waits until the first ends.
 */
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, join, relative } from 'node:path';
import { appEnvPath, composeAppEnv, DEFAULT_PATH, ENV_AC_APP_NAME, parseEnvFile, readFileTolerantSync, relAppRootfsPath, type EnvEntry } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { parseEnterArgs } from '@rktnetes/stage1-abi';
import { FRAME, FrameDecoder, MAX_FRAME_PAYLOAD, encodeFrame, encodeUint32 } from './channel';
import type { EntrypointContext } from './context';
import { guestPodPath, POD_KVM_FILES } from './layout';
import { loadKvmPod, type KvmApp } from './pod';
import { findExecutable } from './root-path';
import { serializeEnterRequest, type EnterRequest } from './spec';

/** The command enter runs when stage0 gives none (stage0 always gives one). */
export const DEFAULT_ENTER_COMMAND = ['/bin/sh'];

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

function appEnv(podDir: string, app: KvmApp): EnvEntry[] {
  const path = appEnvPath(podDir, app.name);
  const text = readFileTolerantSync(path);
  if (text !== undefined) return parseEnvFile(text, path);
  const env = composeAppEnv((app.app.environment ?? []).map((e) => [e.name, e.value] as const)).filter(([n]) => n !== ENV_AC_APP_NAME);
  env.push([ENV_AC_APP_NAME, app.name]);
  return env;
}

/**
 * The request for `command` in the pod in `podDir`: the named app (or the only one), its
 * environment (`rkt/env/<app>`), working directory, and the program found in its PATH. The
 * request names the app and the guest init runs the command exactly as it runs the app, with
 * the identity and restrictions of the app's spec entry: uid, gid, supplementary groups,
 * capability bounding set, no_new_privs and seccomp filter (as stage1-coreos' enter with an app).
 *
 * @throws RktError `stage1-kvm.enter.app` (user) when the app is unknown or not given for a pod
 *   with several; `stage1-kvm.exec.not-found` (user)
 */
export function enterRequest(podDir: string, appName: string | undefined, command: readonly string[]): EnterRequest {
  const pod = loadKvmPod(podDir, basename(podDir));
  let app: KvmApp | undefined;
  if (appName !== undefined) {
    app = pod.apps.find((a) => a.name === appName);
    if (!app) throw userError('stage1-kvm.enter.app', `the pod has no app ${appName}`, { details: { app: appName } });
  } else if (pod.apps.length === 1) {
    app = pod.apps[0]!;
  } else {
    throw userError('stage1-kvm.enter.app', `the pod has ${pod.apps.length} apps: choose one with --app`);
  }
  const cmd = command.length > 0 ? [...command] : DEFAULT_ENTER_COMMAND;
  const env = appEnv(podDir, app);
  const cwd = app.app.workingDirectory || '/';
  let searchPath = DEFAULT_PATH;
  for (const [n, v] of env) if (n === 'PATH') searchPath = v;
  const path = findExecutable(app.rootfs, cmd[0]!, searchPath, cwd);
  if (!path) throw userError('stage1-kvm.exec.not-found', `cannot find ${JSON.stringify(cmd[0])} in the PATH of app ${app.name}`);
  return { root: guestPodPath(`stage1/rootfs${relAppRootfsPath(app.name)}`), cwd, path, argv: cmd, env, app: app.name };
}

/** Where enter's data goes; process stdio by default (tests replace it). */
export interface EnterIO {
  stdin: NodeJS.ReadableStream | null;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Runs `request` over the enter socket at `socketPath` and resolves with the command's exit
 * status. Signals received meanwhile are forwarded to the command.
 *
 * @throws RktError `stage1-kvm.enter.not-running` (user) when the socket is missing or refuses;
 *   `stage1-kvm.enter.failed` (user) when the guest could not run the command;
 *   `stage1-kvm.enter.lost` (system) when the channel closes before an exit status
 */
export function runEnterSession(socketPath: string, request: EnterRequest, io: EnterIO): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const sock: Socket = connect(socketPath);
    sock.setNoDelay?.(true);
    const decoder = new FrameDecoder();
    let settled = false;
    const onSignal = (sig: NodeJS.Signals) => sock.write(encodeFrame(FRAME.signal, encodeUint32(SIGNAL_NUMBERS[sig] ?? 15)));
    const cleanup = () => {
      for (const s of SIGNALS) process.off(s, onSignal);
      if (io.stdin) {
        io.stdin.removeListener('data', onStdin);
        io.stdin.removeListener('end', onStdinEnd);
        (io.stdin as NodeJS.ReadStream).pause?.();
        if (io.stdin === process.stdin) process.stdin.destroy();
      }
    };
    const finish = (err: Error | undefined, code?: number) => {
      if (settled) return;
      settled = true;
      cleanup();
      sock.destroy();
      if (err) reject(err);
      else resolve(code!);
    };
    const onStdin = (chunk: Buffer | string) => {
      const b = Buffer.from(chunk);
      for (let i = 0; i < b.length; i += MAX_FRAME_PAYLOAD) sock.write(encodeFrame(FRAME.stdin, b.subarray(i, i + MAX_FRAME_PAYLOAD)));
    };
    const onStdinEnd = () => sock.write(encodeFrame(FRAME.stdinClosed));
    sock.on('connect', () => {
      sock.write(encodeFrame(FRAME.request, serializeEnterRequest(request)));
      for (const s of SIGNALS) process.on(s, onSignal);
      if (io.stdin) {
        io.stdin.on('data', onStdin);
        io.stdin.on('end', onStdinEnd);
      } else {
        sock.write(encodeFrame(FRAME.stdinClosed));
      }
    });
    sock.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === FRAME.stdout) io.stdout.write(f.payload);
        else if (f.type === FRAME.stderr) io.stderr.write(f.payload);
        else if (f.type === FRAME.exit) finish(undefined, f.payload.readUInt32BE(0) & 0xff);
        else if (f.type === FRAME.failure) finish(userError('stage1-kvm.enter.failed', `the guest could not run the command: ${f.payload.toString('utf8')}`));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(userError('stage1-kvm.enter.not-running', 'the pod has no running virtual machine to enter', { cause: e }));
      else finish(systemError('stage1-kvm.enter.lost', `enter channel ${socketPath}: ${e.message}`, { cause: e }));
    });
    sock.on('close', () => finish(systemError('stage1-kvm.enter.lost', 'the virtual machine closed the enter channel before the command ended')));
  });
}

/**
 * The enter entrypoint: `--pid` is accepted and unused (the VM is reached through its
 * socket); resolves with the command's exit status.
 */
export async function kvmEnter(argv: readonly string[], ctx: EntrypointContext, io?: EnterIO): Promise<number> {
  const args = parseEnterArgs(argv);
  const request = enterRequest(ctx.podDir, args.appName, args.command);
  // socket paths are limited to 107 bytes: connect relative to the pod directory when it is the cwd
  const abs = join(ctx.podDir, POD_KVM_FILES.enterSocket);
  const rel = relative(process.cwd(), abs);
  const path = rel.length < abs.length ? rel : abs;
  ctx.log.debug(`enter: ${JSON.stringify(request.argv)} in ${request.root}`);
  await waitForSocket(path, ENTER_CONNECT_WAIT_MS);
  return runEnterSession(path, request, io ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
}

/** How long enter waits for qemu to create the enter socket of a pod that just started. */
export const ENTER_CONNECT_WAIT_MS = 3000;

/** Waits until `path` exists (qemu creates it right after the shim reports the pod), at most `ms`. */
async function waitForSocket(path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path) && Date.now() < end) await sleep(20);
}
