/**
 * Writing command output to stdout. A reader that goes away early (`rkt image list | head`)
 * must not crash rkt with an unhandled EPIPE; like a Go program killed by SIGPIPE, the rest of
 * the output is dropped quietly.
 */
let guarded = false;

/** Writes `text` to stdout, ignoring a closed pipe. */
export function writeStdout(text: string): void {
  if (!guarded) {
    guarded = true;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
  process.stdout.write(text);
}
