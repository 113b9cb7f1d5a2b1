/**
 * @rktnetes/store: the rkt image store (content-addressed image blobs, a sqlite index and the
 * tree store of rendered images). See docs/store.md for the layout and its guarantees.
 */
export { openStore, Store, type OpenStoreOptions, type ImageFilter, type TreeInfo } from './store';
export type { ImageInfo, Remote } from './rows';
export { DEFAULT_IMPORT_LIMITS, type ImportOptions, type ImportLimits } from './import';
export type { ImageSource, Compression } from './archive';
export { detectCompression } from './archive';
export type { RenderResult, TreeVerification } from './render';
export type { GcOptions, GcResult } from './gc';
export type { FsckOptions, FsckReport, FsckIssue, FsckIssueKind } from './fsck';
export type { LabelsInput } from './resolve';
export { isFullKey, isTreeStoreID, shortKey, SHORT_KEY_LENGTH, treeStoreIDFor } from './keys';
export { SCHEMA_VERSION } from './migrations';
export { layoutFor, type Layout } from './layout';
export type { ImageFormat, LayerInfo } from './rows';
export type { LayerSource } from './oci/layer';
export type { LayeredImageSource, LayeredImportOptions, LayeredImportResult } from './oci/image';
export {
  MEDIA_TYPES,
  MANIFEST_ACCEPT,
  parseManifestDocument,
  parseImageConfig,
  selectPlatform,
  hostPlatform,
  formatPlatform,
  parsePlatformString,
  layerCompression,
  digestOf,
  isDigest,
  type Descriptor,
  type Platform,
  type ManifestDocument,
  type ImageConfig,
  type RuntimeConfig,
} from './oci/media';
export { imageManifestFromConfig, resolveUser, sanitizeACIdentifier, sanitizeACName, appcPlatform, DOCKER_ANNOTATIONS, type ConvertOptions } from './oci/convert';
