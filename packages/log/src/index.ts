import { fullChain, oneLine } from '@rktnetes/errors';

/**
 * A logger that writes to stderr with a prefix naming the stage (`stage0`, `stage1`, ...).
 * `debug` lines appear only when debugging is on; `error` prints one line by default and the
 * whole cause chain with --debug.
 */
export interface Logger {
  readonly debugEnabled: boolean;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(e: unknown, context?: string): void;
}

export interface LoggerOptions {
  prefix: string;
  debug?: boolean;
  /** where lines go; stderr by default */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const debugEnabled = opts.debug ?? false;
  const p = opts.prefix;
  return {
    debugEnabled,
    debug(msg) {
      if (debugEnabled) write(`${p}: ${msg}`);
    },
    info(msg) {
      write(`${p}: ${msg}`);
    },
    warn(msg) {
      write(`${p}: warning: ${msg}`);
    },
    error(e, context) {
      const text = debugEnabled ? fullChain(e) : oneLine(e);
      write(`${p}: ${context ? `${context}: ` : ''}${text}`);
    },
  };
}

/** Whether --debug was asked for through the environment (`RKT_DEBUG=1`), for code before argv parsing. */
export function debugFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.RKT_DEBUG === '1' || env.RKT_DEBUG === 'true';
}
