import { main } from '../cli/main';

/**
 * Calls `fn` with process.stdout when something first uses it. Creating the stream loads the
 * tty or net modules (about 2 ms); `rkt run` never writes to stdout, so it should not pay that.
 */
function whenStdoutCreated(fn: (stdout: NodeJS.WriteStream) => void): void {
  const own = Object.getOwnPropertyDescriptor(process, 'stdout');
  if (!own?.get || !own.configurable) {
    fn(process.stdout);
    return;
  }
  Object.defineProperty(process, 'stdout', {
    configurable: true,
    enumerable: own.enumerable ?? false,
    get() {
      // Node's own getter creates the stream once and keeps it
      Object.defineProperty(process, 'stdout', own);
      const stdout = process.stdout;
      fn(stdout);
      return stdout;
    },
  });
}

// `rkt list | head` closes our stdout early: that is not an error worth a stack trace.
whenStdoutCreated((stdout) =>
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  }),
);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`rkt: internal error: ${String(e)}\n`);
    process.exitCode = 254;
  },
);
