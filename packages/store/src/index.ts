/**
 * @rktnetes/store: the rkt image store (content-addressed image blobs, a sqlite index and the
 * tree store of rendered images). See docs/store.md for the layout and its guarantees.
 */
export { openStore, Store, type OpenStoreOptions, type ImageFilter, type TreeInfo } from './store';
export type { ImageInfo, Remote } from './rows';
export type { ImportOptions } from './import';
export type { ImageSource, Compression } from './archive';
export { detectCompression } from './archive';
export type { RenderResult, TreeVerification } from './render';
export type { GcOptions, GcResult } from './gc';
export type { FsckOptions, FsckReport, FsckIssue, FsckIssueKind } from './fsck';
export type { LabelsInput } from './resolve';
export { isFullKey, isTreeStoreID, shortKey, SHORT_KEY_LENGTH, treeStoreIDFor } from './keys';
export { SCHEMA_VERSION } from './migrations';
export { layoutFor, type Layout } from './layout';
