/**
 * cni-bridge: a CNI plugin. The runtime sets CNI_COMMAND (ADD, DEL, CHECK, VERSION) and the other
 * CNI_* variables and writes the network config to stdin; the result or a CNI error result goes
 * to stdout. `--debug` (or CNI_BRIDGE_DEBUG=1, RKT_DEBUG=1) logs each step to stderr.
 */
import { readSync, writeSync } from 'node:fs';
import { createLogger, debugFromEnv } from '@rktnetes/log';
import { CniErrorCodes, cniErrorResult } from '@rktnetes/schema';
import { restoreCaCertsEnv } from '../env';
import { runPlugin } from '../plugin';

const debug = process.argv.includes('--debug') || process.env['CNI_BRIDGE_DEBUG'] === '1' || debugFromEnv();
const log = createLogger({ prefix: 'cni-bridge', debug });

/**
 * The whole of stdin. Read with one blocking read loop: process.stdin would load Node's stream
 * machinery (about 2 ms of every exec); a non-blocking stdin (EAGAIN) falls back to it.
 */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(0, buf, 0, buf.length, null);
      if (n === 0) return Buffer.concat(chunks);
      chunks.push(buf.subarray(0, n));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
  }
  // what is left of a non-blocking stdin
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function main(): Promise<void> {
  let stdin: Buffer | undefined;
  try {
    stdin = await readStdin();
  } catch (e) {
    log.error(e, 'reading stdin');
    process.stdout.write(`${JSON.stringify(cniErrorResult(CniErrorCodes.ioFailure, 'failed to read network config from stdin', String(e)))}\n`);
    process.exitCode = 1;
    return;
  }
  const started = process.hrtime.bigint();
  const out = await runPlugin({ env: restoreCaCertsEnv(process.env), stdin, log });
  log.debug(`${process.env['CNI_COMMAND'] ?? '?'} took ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
  writeStdout(out.stdout);
  process.exitCode = out.exitCode;
}

/** Writes the result with write(2) (process.stdout costs a stream's set-up); through process.stdout when that fails. */
function writeStdout(text: string): void {
  const buf = Buffer.from(text);
  let done = 0;
  try {
    while (done < buf.length) done += writeSync(1, buf, done);
  } catch {
    process.stdout.write(buf.subarray(done));
  }
}

void main();
