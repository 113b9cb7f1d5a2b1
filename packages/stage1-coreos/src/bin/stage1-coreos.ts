/**
 * stage1-coreos: one program for every entrypoint (run, enter, gc, stop, app_add, app_start,
 * app_stop, app_rm, attach), chosen by the name it is invoked as (the ACI's `/run`, `/enter`,
 * ... are symlinks to it), or by its first argument when invoked as `stage1-coreos <entrypoint>`
 * (the native entrypoints' Node fallback). The dispatch is `@rktnetes/stage1-kit`'s.
 */
import { stage1Main } from '@rktnetes/stage1-kit';
import { COREOS_HANDLERS, COREOS_PROGRAM } from '../entrypoints/dispatch';

stage1Main({ ...COREOS_PROGRAM, handlers: COREOS_HANDLERS });
