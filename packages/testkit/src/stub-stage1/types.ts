/**
 * What the stub stage1 program and its image builder share: the behaviour file baked into the
 * image and the invocation records the program appends to its log.
 */

/** File in the stub's rootfs holding its {@link StubBehaviour}, next to the entrypoints. */
export const STUB_CONFIG_FILE = 'stub-stage1.json';
/** File in the log directory the stub appends one JSON line per invocation to. */
export const STUB_LOG_FILE = 'invocations.jsonl';

/** How the stub behaves; baked into the image as `/stub-stage1.json`. */
export interface StubBehaviour {
  /** absolute directory for the invocation log (outside the pod: gc removes pods) */
  logDir: string;
  /** exit status of run; default the first non-zero app status, else 0 */
  exitCode?: number;
  /** status written for every app (default 0) */
  appExitCode?: number;
  /** per-app statuses, by app name, over {@link appExitCode} */
  appExitCodes?: Record<string, number>;
  /** which pid file run writes with its own pid (default 'pid') */
  pidFile?: 'pid' | 'ppid';
  /**
   * how long run keeps going (holding the pod lock) before writing statuses and exiting;
   * 0 (default) returns at once, a negative value waits for SIGTERM/SIGINT (stop)
   */
  runSleepMs?: number;
  /** printed on run's stdout, to test that stage0 passes the pod's output through */
  runStdout?: string;
  /** exit status of gc (default 0) */
  gcExitCode?: number;
  /** exit status of stop (default 0) */
  stopExitCode?: number;
}

/** One entrypoint invocation, as logged by the stub. */
export interface StubInvocation {
  /** `run`, `gc`, `stop`, `enter`, `app/add`, ... */
  entrypoint: string;
  /** argv without argv[0] */
  argv: string[];
  cwd: string;
  pid: number;
  /** the RKT_* variables the entrypoint got */
  env: Record<string, string>;
  /** whether RKT_LOCK_FD named an open fd on the cwd (the pod directory) */
  lockFdHeld: boolean;
  /** the argv as parsed by `@rktnetes/stage1-abi` */
  parsed?: unknown;
  /** why the argv (or anything else) was rejected */
  error?: { code: string; message: string };
  /** run: the app names read from the pod manifest */
  apps?: string[];
}
