/**
 * @rktnetes/stage1-kit: what the stage1 flavors' programs share. One executable serves every
 * entrypoint of an image and finds out which one it is from the name it runs as
 * (`entrypointOf`); `runStage1` / `stage1Main` give the entrypoint its context (Sys, pod
 * directory, environment, logger) and turn a failure into one line and an exit status. The build
 * side (the image manifest) is plain JavaScript in `scripts/stage1-manifest.mjs`; the helpers of
 * the flavors' tests are in `@rktnetes/stage1-kit/testing`.
 */
export { entrypointOf, debugRequested, type Stage1Program, type Invocation } from './dispatch';
export { stage1Logger, writeStderrLine, type Stage1Context } from './context';
export { runStage1, stage1Main, type Stage1Main, type Stage1Host, type EntrypointHandler } from './main';
