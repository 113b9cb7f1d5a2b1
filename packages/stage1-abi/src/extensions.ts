/**
 * rktnetes extensions of the stage1 interface (docs/stage1-interface.md): names stage0 sends and
 * stage1-coreos honours; rkt's own stage1s ignore them.
 */

/** app/stop: seconds to wait after the stop signal before SIGKILL (decimal; default 10). */
export const ENV_STOP_TIMEOUT = 'RKTNETES_STOP_TIMEOUT';

/** App annotation: `true` closes the app's stdin when the first attach session that wrote it ends (CRI StdinOnce). */
export const ANNOTATION_APP_STDIN_ONCE = 'rktnetes.io/stage2/stdin-once';

/** App annotation: an absolute host path that receives a copy of the app's log records (CRI log_path). */
export const ANNOTATION_APP_LOG_PATH = 'rktnetes.io/stage2/log-path';
