/**
 * @rktnetes/common — the contracts every stage shares, as code: directories and the on-disk
 * layout, pod states and their transitions, pod UUIDs, environment names and file formats,
 * exit statuses. Docs: docs/on-disk-format.md, docs/pod-lifecycle.md, docs/exit-codes.md,
 * docs/stage1-interface.md.
 */
export * from './dirs';
export * from './paths';
export * from './states';
export * from './uuid';
export * from './pods';
export * from './files';
export * from './pod-files';
export * from './env';
export * from './exit-codes';
