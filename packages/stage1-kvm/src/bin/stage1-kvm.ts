/**
 * stage1-kvm: the run, enter, gc and stop entrypoints of the kvm stage1 image, one program
 * dispatched on the name it runs as. Each entrypoint is loaded on demand.
 */
const startedAt = performance.now();

import { exitCodeFor } from '@rktnetes/errors';
import { realSys } from '@rktnetes/sys';
import { debugRequested, entrypointOf, kvmLogger } from '../context';

async function main(): Promise<number> {
  const { entrypoint, argv } = entrypointOf(process.argv[1] ?? 'stage1-kvm', process.argv.slice(2));
  const log = kvmLogger(debugRequested(argv));
  const ctx = { sys: realSys(), podDir: process.cwd(), env: process.env, log, startedAt };
  try {
    switch (entrypoint) {
      case 'run':
        return (await import('../run')).kvmRun(argv, ctx);
      case 'enter':
        return await (await import('../enter')).kvmEnter(argv, ctx);
      case 'gc':
        // 254 when some network resource could not be removed (listed as warnings), as coreos
        return (await (await import('../gc')).kvmGc(argv, ctx)).netProblems.length > 0 ? 254 : 0;
      case 'stop':
        await (await import('../stop')).kvmStop(argv, ctx);
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
    kvmLogger(false).error(e);
    process.exitCode = exitCodeFor(e);
  },
);
