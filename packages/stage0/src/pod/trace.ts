/**
 * `RKT_TRACE=1`: the steps of `rkt run` as lines on stderr, `trace: <step> <ms since the process
 * started>` (then the wall clock in ms), for bench/run-latency.mjs. The first line also gives
 * Node's own start-up (`stage0.node-ready`). `@rktnetes/sys` adds the lines of the exec that ends
 * each Node stage. Written synchronously: output queued on process.stderr is lost at exec.
 */
import { writeSync } from 'node:fs';

const enabled = process.env['RKT_TRACE'] === '1';
let started = false;

/** Prints one trace line for `step` when RKT_TRACE=1; otherwise does nothing. */
export function trace(step: string): void {
  if (!enabled) return;
  const now = performance.now();
  let text = '';
  if (!started) {
    started = true;
    text += `trace: stage0.node-ready ${performance.nodeTiming.bootstrapComplete.toFixed(1)}\n`;
  }
  text += `trace: stage0.${step} ${now.toFixed(1)} ${(performance.timeOrigin + now).toFixed(1)}\n`;
  try {
    writeSync(2, text);
  } catch {
    // stderr closed: tracing is best effort
  }
}
