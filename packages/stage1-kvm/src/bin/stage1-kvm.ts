/**
 * stage1-kvm: the run, enter, gc and stop entrypoints of the kvm stage1 image, one program
 * dispatched on the name it runs as. Each entrypoint is loaded on demand.
 */
import { stage1Main } from '@rktnetes/stage1-kit';
import { KVM_PROGRAM } from '../context';

stage1Main({
  ...KVM_PROGRAM,
  handlers: {
    run: async (argv, ctx) => (await import('../run')).kvmRun(argv, ctx),
    enter: async (argv, ctx) => (await import('../enter')).kvmEnter(argv, ctx),
    // 254 when some network resource could not be removed (listed as warnings), as coreos
    gc: async (argv, ctx) => ((await (await import('../gc')).kvmGc(argv, ctx)).netProblems.length > 0 ? 254 : 0),
    stop: async (argv, ctx) => {
      await (await import('../stop')).kvmStop(argv, ctx);
      return 0;
    },
  },
});
