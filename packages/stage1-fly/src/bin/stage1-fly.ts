/**
 * stage1-fly: the run, enter, gc and stop entrypoints of the fly stage1 image, one program
 * dispatched on the name it runs as. Each entrypoint is loaded on demand.
 */
import { exitCodeFor } from '@rktnetes/errors';
import { realSys } from '@rktnetes/sys';
import { flyLogger } from '../context';
import { debugRequested, entrypointOf } from '../dispatch';

/** When this program's own code starts (after Node's boot and the bundle's evaluation). */
const startedAt = performance.now();

async function main(): Promise<number> {
  const { entrypoint, argv } = entrypointOf(process.argv[1] ?? 'stage1-fly', process.argv.slice(2));
  const log = flyLogger(debugRequested(argv));
  const ctx = { sys: realSys(), podDir: process.cwd(), env: process.env, log, startedAt };
  try {
    switch (entrypoint) {
      case 'run':
        return (await import('../run')).flyRun(argv, ctx);
      case 'enter':
        return (await import('../enter')).flyEnter(argv, ctx);
      case 'gc':
        (await import('../gc')).flyGc(argv, ctx);
        return 0;
      case 'stop':
        await (await import('../stop')).flyStop(argv, ctx);
        return 0;
    }
  } catch (e) {
    log.error(e, entrypoint);
    return exitCodeFor(e);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    flyLogger(false).error(e);
    process.exitCode = exitCodeFor(e);
  },
);
