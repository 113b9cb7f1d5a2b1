/**
 * How an app of a mutable pod has its stdio wired, from its runtime app's annotations:
 * rkt's `coreos.com/rkt/stage2/{stdin,stdout,stderr}` (`null`, `log`, `stream`, `tty`;
 * `interactive` is for `rkt run --interactive` only) and two rktnetes additions,
 * `rktnetes.io/stage2/stdin-once` (`true`: stdin closes when the first attach session that
 * wrote it ends, as CRI's StdinOnce) and `rktnetes.io/stage2/log-path` (an absolute host path
 * where the app's log is written too, as CRI's log_path).
 *
 * Defaults: stdin `null`, stdout and stderr `log`. `log` and `stream` outputs both go to the
 * app's log and can be attached to; a `tty` (all three streams or none) is a pseudo-terminal
 * whose output is logged as stdout.
 */
import { isAbsolute } from 'node:path';
import { userError } from '@rktnetes/errors';
import { getAnnotation, type RuntimeApp } from '@rktnetes/schema';
import {
  ANNOTATION_APP_LOG_PATH,
  ANNOTATION_APP_STDERR,
  ANNOTATION_APP_STDIN,
  ANNOTATION_APP_STDIN_ONCE,
  ANNOTATION_APP_STDOUT,
} from '@rktnetes/stage1-abi';
import type { StdioMode } from '../run/spec';

export { ANNOTATION_APP_LOG_PATH, ANNOTATION_APP_STDIN_ONCE };

/** An app's stdio setup. */
export interface AppStdio {
  modes: [StdioMode, StdioMode, StdioMode];
  stdinOnce: boolean;
  /** absolute host path of the extra log file */
  logPath?: string;
}

const MODES: readonly StdioMode[] = ['null', 'log', 'stream', 'tty'];

/**
 * Reads the stdio annotations of `ra`. Errors (user): `stage1.stdio.invalid` for an unknown
 * mode, `log` for stdin, `interactive`, a tty on some streams only, or a relative log path.
 */
export function appStdio(ra: RuntimeApp): AppStdio {
  const names = [ANNOTATION_APP_STDIN, ANNOTATION_APP_STDOUT, ANNOTATION_APP_STDERR] as const;
  const defaults: StdioMode[] = ['null', 'log', 'log'];
  const modes = names.map((n, i) => {
    const v = getAnnotation(ra.annotations, n);
    if (v === undefined || v === '') return defaults[i]!;
    if (!(MODES as readonly string[]).includes(v) || (i === 0 && v === 'log')) {
      throw userError('stage1.stdio.invalid', `app ${ra.name}: invalid ${n.split('/').pop()} mode ${JSON.stringify(v)} for a mutable pod (null, ${i === 0 ? '' : 'log, '}stream or tty)`);
    }
    return v as StdioMode;
  }) as [StdioMode, StdioMode, StdioMode];
  const ttys = modes.filter((m) => m === 'tty').length;
  if (ttys !== 0 && ttys !== 3) throw userError('stage1.stdio.invalid', `app ${ra.name}: a tty must be used for stdin, stdout and stderr together`);
  const once = getAnnotation(ra.annotations, ANNOTATION_APP_STDIN_ONCE);
  const logPath = getAnnotation(ra.annotations, ANNOTATION_APP_LOG_PATH);
  if (logPath !== undefined && logPath !== '' && (!isAbsolute(logPath) || logPath.endsWith('/'))) {
    throw userError('stage1.stdio.invalid', `app ${ra.name}: log path ${JSON.stringify(logPath)} is not an absolute file path`);
  }
  return { modes, stdinOnce: once === 'true', ...(logPath ? { logPath } : {}) };
}
