/**
 * Exit statuses, in one table. See docs/exit-codes.md.
 */
import { constants } from 'node:os';
import { EXIT_FAILURE as ERRORS_EXIT_FAILURE, EXIT_USAGE as ERRORS_EXIT_USAGE } from '@rktnetes/errors';

/** Success. */
export const EXIT_OK = 0;
/** rkt (any stage) failed: bad input, system failure, bug. */
export const EXIT_FAILURE: 254 = ERRORS_EXIT_FAILURE as 254;
/** Bad flags or arguments; rkt uses the failure status for these too. */
export const EXIT_USAGE: 254 = ERRORS_EXIT_USAGE as 254;
/** `rkt` invoked without a command (prints help). */
export const EXIT_MISSING_COMMAND = 2;
/**
 * An `app/stop` entrypoint's status meaning "no such app unit": `rkt app rm` tolerates it
 * (it comes from `systemctl stop` in rkt's stage1).
 */
export const EXIT_APP_STOP_NO_SUCH_APP = 5;

/** One row of the exit status table. */
export interface ExitCodeRow {
  /** a status, or a range written `a-b` */
  status: string;
  who: string;
  meaning: string;
}

/** The table docs/exit-codes.md shows, as data (for `--help` texts and tests). */
export const EXIT_CODE_TABLE: readonly ExitCodeRow[] = [
  { status: '0', who: 'every command and entrypoint', meaning: 'success' },
  {
    status: '0-255',
    who: 'rkt run, rkt run-prepared (stage1 run)',
    meaning: "stage1's exit status is the pod's: the app's status for one app; with several, the first non-zero status (coreos) ",
  },
  { status: '0-255', who: 'rkt enter (stage1 enter)', meaning: "the entered command's exit status" },
  { status: '2', who: 'rkt', meaning: 'no command given' },
  { status: '5', who: 'stage1 app/stop', meaning: 'the app is not known to the pod supervisor; rkt app rm carries on' },
  { status: '254', who: 'every command and entrypoint', meaning: 'rkt itself failed, including usage errors (bad flags or arguments)' },
];

/**
 * The exit status to report for a child process that ended with `code`/`signal` (node's
 * child_process `exit` arguments): its code, or 128+signal number when killed, like a shell.
 */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const num = signal === null ? undefined : (constants.signals as Record<string, number | undefined>)[signal];
  return num === undefined ? EXIT_FAILURE : 128 + num;
}
