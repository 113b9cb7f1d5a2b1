/**
 * @rktnetes/schema: appc image and pod manifests, names, labels, isolators and CNI documents,
 * parsed and validated at every boundary, plus builders of valid (and deliberately invalid)
 * manifests for tests.
 */
export type * from './types';
export { EMPTY_VOLUME_DEFAULTS } from './types';
export type { ValidationIssue } from './validate';
/**
 * The checker toolkit the parsers here are built from (Checker, reader, primitive parsers,
 * assertNoIssues, decodeJson), for packages that validate their own JSON files the same way.
 */
export * as validation from './validate';
export * from './names';
export * from './quantity';
export * from './isolators';
export * from './helpers';
export { parseImageManifest, validateImageManifest, serializeImageManifest, type ParseOptions } from './image';
export { parsePodManifest, validatePodManifest, serializePodManifest } from './pod';
export * from './builders';
export * from './invalid';
export * from './cni';
