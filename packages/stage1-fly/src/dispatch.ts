/**
 * Which entrypoint an invocation of the stage1-fly program is: the image links `run`, `enter`,
 * `gc` and `stop` to one program, which looks at the name it was started as
 * (`@rktnetes/stage1-kit`).
 */
import { entrypointOf as kitEntrypointOf, type Invocation, type Stage1Program } from '@rktnetes/stage1-kit';

export { debugRequested } from '@rktnetes/stage1-kit';

/** The entrypoints fly implements (the annotations of its image name `/<entrypoint>`). */
export const FLY_ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'] as const;
export type FlyEntrypoint = (typeof FLY_ENTRYPOINTS)[number];

/** The fly program as its dispatch sees it. */
export const FLY_PROGRAM: Stage1Program<FlyEntrypoint> = { name: 'stage1-fly', entrypoints: FLY_ENTRYPOINTS, unknownEntrypointCode: 'stage1-fly.entrypoint' };

/**
 * The entrypoint and its argv from the program path and arguments: `<dir>/run args...` is
 * run, `stage1-fly[.mjs] run args...` (direct use) is run too.
 *
 * @throws RktError `stage1-fly.entrypoint` (usage) for anything else
 */
export const entrypointOf = (programPath: string, args: readonly string[]): Invocation<FlyEntrypoint> => kitEntrypointOf(FLY_PROGRAM, programPath, args);
