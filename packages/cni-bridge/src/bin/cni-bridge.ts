/**
 * cni-bridge: a CNI plugin. The runtime sets CNI_COMMAND (ADD, DEL, CHECK, VERSION) and the other
 * CNI_* variables and writes the network config to stdin; the result or a CNI error result goes
 * to stdout. `--debug` (or CNI_BRIDGE_DEBUG=1, RKT_DEBUG=1) logs each step to stderr.
 */
import { createLogger, debugFromEnv } from '@rktnetes/log';
import { CniErrorCodes, cniErrorResult } from '@rktnetes/schema';
import { restoreCaCertsEnv } from '../env';
import { runPlugin } from '../plugin';

const debug = process.argv.includes('--debug') || process.env['CNI_BRIDGE_DEBUG'] === '1' || debugFromEnv();
const log = createLogger({ prefix: 'cni-bridge', debug });

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
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
  process.stdout.write(out.stdout);
  process.exitCode = out.exitCode;
}

void main();
