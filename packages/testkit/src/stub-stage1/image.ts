/**
 * The stub stage1 image: an ACI whose entrypoints are one bundled Node program (see
 * program.ts), so that stage0's prepare/run/gc/stop flows can be tested without a real flavor.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ANNOTATION_INTERFACE_VERSION,
  LATEST_STAGE1_INTERFACE_VERSION,
  STAGE1_ENTRYPOINTS,
  type Stage1EntrypointName,
} from '@rktnetes/stage1-abi';
import { internalError } from '@rktnetes/errors';
import { buildAci, type AciCompression } from '../aci';
import type { FileTree } from '../tar';
import { STUB_CONFIG_FILE, STUB_LOG_FILE, type StubBehaviour, type StubInvocation } from './types';

export { STUB_CONFIG_FILE, STUB_LOG_FILE, type StubBehaviour, type StubInvocation } from './types';

/** The entrypoint path of each stage1 entrypoint in the stub image (`/stub-run`, `/stub-app-add`, ...). */
export function stubEntrypointPath(name: Stage1EntrypointName): string {
  return `/stub-${name.replace('/', '-')}`;
}

/** Options of {@link stubStage1Image}: the behaviour plus what goes into the manifest. */
export interface StubStage1Options extends StubBehaviour {
  /** image name (default `example.com/rktnetes-stub-stage1`) */
  name?: string;
  /** version label (default `0.0.1`) */
  version?: string;
  /** the interface-version annotation (default the latest version; null leaves it out) */
  interfaceVersion?: number | null;
  /** entrypoints to declare (default run, enter, gc, stop) */
  entrypoints?: readonly Stage1EntrypointName[];
  /** more manifest annotations */
  annotations?: Record<string, string>;
  /** files added to the stub's rootfs */
  extraFiles?: FileTree;
  compression?: AciCompression;
}

const DEFAULT_ENTRYPOINTS: readonly Stage1EntrypointName[] = ['run', 'enter', 'gc', 'stop'];

let bundle: Promise<string> | undefined;

/**
 * The stub program bundled into one CommonJS file with a `#!<this node>` line, built once per
 * process with esbuild.
 */
export function stubProgram(): Promise<string> {
  bundle ??= (async () => {
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      entryPoints: [fileURLToPath(new URL('./entry.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      banner: { js: `#!${process.execPath}` },
      legalComments: 'none',
      logLevel: 'silent',
    });
    const out = r.outputFiles[0];
    if (!out) throw internalError('testkit.stub-build', 'esbuild produced no stub stage1 bundle');
    return out.text;
  })();
  bundle.catch(() => {
    bundle = undefined;
  });
  return bundle;
}

/** The appc ImageManifest of the stub. */
export interface StubStage1Manifest {
  acKind: 'ImageManifest';
  acVersion: string;
  name: string;
  labels: Array<{ name: string; value: string }>;
  annotations: Array<{ name: string; value: string }>;
}

/** The stub's image manifest: entrypoint annotations and the interface version. */
export function stubStage1Manifest(opts: Omit<StubStage1Options, keyof StubBehaviour> = {}): StubStage1Manifest {
  const annotations: Array<{ name: string; value: string }> = (opts.entrypoints ?? DEFAULT_ENTRYPOINTS).map((ep) => ({
    name: STAGE1_ENTRYPOINTS[ep],
    value: stubEntrypointPath(ep),
  }));
  if (opts.interfaceVersion !== null) {
    annotations.push({ name: ANNOTATION_INTERFACE_VERSION, value: String(opts.interfaceVersion ?? LATEST_STAGE1_INTERFACE_VERSION) });
  }
  for (const [name, value] of Object.entries(opts.annotations ?? {})) annotations.push({ name, value });
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: opts.name ?? 'example.com/rktnetes-stub-stage1',
    labels: [
      { name: 'version', value: opts.version ?? '0.0.1' },
      { name: 'arch', value: 'amd64' },
      { name: 'os', value: 'linux' },
    ],
    annotations,
  };
}

/**
 * Builds the stub stage1 ACI. Its entrypoints run on the host (cwd = the pod directory) and:
 * - run: keeps the inherited RKT_LOCK_FD open, writes `pid` (or `ppid`) with its own pid,
 *   optionally prints `runStdout` and waits `runSleepMs` (SIGTERM/SIGINT end the wait with
 *   status 128+signal for run and every app), writes every app's status file under its stage1
 *   rootfs (`rkt/status/<app>`) and exits with `exitCode` (default the first non-zero app status);
 * - stop: sends SIGTERM (SIGKILL with `--force`) to the pid in `pid`/`ppid`;
 * - enter: runs the command on the host and exits with its status;
 * - gc, app/*, attach: succeed.
 * Every invocation appends a {@link StubInvocation} line to `<logDir>/invocations.jsonl`
 * (read them with {@link readStubLog}); an argv that `@rktnetes/stage1-abi` rejects is logged
 * with its error and exits 254.
 */
export async function stubStage1Image(opts: StubStage1Options): Promise<Buffer> {
  const program = await stubProgram();
  const behaviour: StubBehaviour = {
    logDir: opts.logDir,
    ...(opts.exitCode === undefined ? {} : { exitCode: opts.exitCode }),
    ...(opts.appExitCode === undefined ? {} : { appExitCode: opts.appExitCode }),
    ...(opts.appExitCodes === undefined ? {} : { appExitCodes: opts.appExitCodes }),
    ...(opts.pidFile === undefined ? {} : { pidFile: opts.pidFile }),
    ...(opts.runSleepMs === undefined ? {} : { runSleepMs: opts.runSleepMs }),
    ...(opts.runStdout === undefined ? {} : { runStdout: opts.runStdout }),
    ...(opts.gcExitCode === undefined ? {} : { gcExitCode: opts.gcExitCode }),
    ...(opts.stopExitCode === undefined ? {} : { stopExitCode: opts.stopExitCode }),
  };
  const files: FileTree = { [STUB_CONFIG_FILE]: `${JSON.stringify(behaviour, null, 2)}\n` };
  for (const ep of opts.entrypoints ?? DEFAULT_ENTRYPOINTS) {
    files[stubEntrypointPath(ep).slice(1)] = { type: 'file', content: program, mode: 0o755 };
  }
  return buildAci({
    manifest: stubStage1Manifest(opts),
    files: { ...files, ...opts.extraFiles },
    compression: opts.compression ?? 'none',
  });
}

/** The invocations the stub logged into `logDir`, oldest first (none yet: empty). */
export async function readStubLog(logDir: string): Promise<StubInvocation[]> {
  let text: string;
  try {
    text = await readFile(join(logDir, STUB_LOG_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StubInvocation);
}
