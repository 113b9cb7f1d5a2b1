/**
 * Which entrypoint an invocation of the stage1-fly program is: the image links `run`, `enter`,
 * `gc` and `stop` to one program, which looks at the name it was started as.
 */
import { basename } from 'node:path';
import { usageError } from '@rktnetes/errors';

/** The entrypoints fly implements (the annotations of its image name `/<entrypoint>`). */
export const FLY_ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'] as const;
export type FlyEntrypoint = (typeof FLY_ENTRYPOINTS)[number];

const isEntrypoint = (s: string | undefined): s is FlyEntrypoint => (FLY_ENTRYPOINTS as readonly string[]).includes(s ?? '');

/**
 * The entrypoint and its argv from the program path and arguments: `<dir>/run args...` is
 * run, `stage1-fly[.mjs] run args...` (direct use) is run too.
 *
 * @throws RktError `stage1-fly.entrypoint` (usage) for anything else
 */
export function entrypointOf(programPath: string, args: readonly string[]): { entrypoint: FlyEntrypoint; argv: string[] } {
  const name = basename(programPath).replace(/\.(mjs|js|ts)$/, '');
  if (isEntrypoint(name)) return { entrypoint: name, argv: [...args] };
  const [first, ...rest] = args;
  if (isEntrypoint(first)) return { entrypoint: first, argv: rest };
  throw usageError('stage1-fly.entrypoint', `unknown entrypoint ${JSON.stringify(first ?? name)}: use one of ${FLY_ENTRYPOINTS.join(', ')}`, {
    details: { program: programPath },
  });
}

/** Whether `--debug` (any Go flag spelling of true) appears before the end of the flags. */
export function debugRequested(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    const m = /^--?debug(?:=(.*))?$/.exec(a);
    if (m) return m[1] === undefined || ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(m[1]);
  }
  return false;
}
