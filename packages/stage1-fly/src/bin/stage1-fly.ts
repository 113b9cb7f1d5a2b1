/**
 * stage1-fly: the run, enter, gc and stop entrypoints of the fly stage1 image, one program
 * dispatched on the name it runs as. Each entrypoint is loaded on demand.
 */
import { stage1Main } from '@rktnetes/stage1-kit';
import { FLY_PROGRAM } from '../dispatch';

stage1Main({
  ...FLY_PROGRAM,
  handlers: {
    run: async (argv, ctx) => (await import('../run')).flyRun(argv, ctx),
    enter: async (argv, ctx) => (await import('../enter')).flyEnter(argv, ctx),
    gc: async (argv, ctx) => {
      (await import('../gc')).flyGc(argv, ctx);
      return 0;
    },
    stop: async (argv, ctx) => {
      await (await import('../stop')).flyStop(argv, ctx);
      return 0;
    },
  },
});
