/**
 * @rktnetes/stage1-abi — the stage1 interface as code: entrypoint annotations and discovery,
 * the interface-version table, and for every entrypoint a typed options object with a builder
 * (stage0) and a strict parser (stage1 flavors). Docs: docs/stage1-interface.md.
 */
export * from './versions';
export * from './annotations';
export * from './flags';
export * from './values';
export * from './build';
export * from './run';
export * from './pod-entrypoints';
export * from './app-entrypoints';
export * from './env';
export * from './extensions';
export * from './pod-settings';
export * from './seccomp-profile';
