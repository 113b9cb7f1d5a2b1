/**
 * The on-disk layout of the store under `<dataDir>/cas` as functions (see docs/store.md).
 */
import { join } from 'node:path';

/** Paths of one store, all under `<dataDir>/cas`. */
export interface Layout {
  readonly cas: string;
  /** store-wide lock file: shared by importers and renderers, exclusive for gc sweeps */
  readonly storeLock: string;
  readonly dbDir: string;
  readonly db: string;
  readonly dbBackups: string;
  readonly blobRoot: string;
  readonly tmp: string;
  readonly trees: string;
  readonly imageLocks: string;
  readonly treeLocks: string;
  /** extracted layers of layered (OCI, Docker) images, one directory per diff ID */
  readonly layers: string;
  readonly layerLocks: string;
  blobDir(key: string): string;
  blob(key: string): string;
  tree(id: string): string;
  treeRootfs(id: string): string;
  imageLock(key: string): string;
  treeLock(id: string): string;
  /** `cas/layer/<hex>`: the files of the layer with diff ID `sha256:<hex>` (an overlayfs lower dir) */
  layer(diffID: string): string;
  layerLock(diffID: string): string;
}

/** The hex part of a `sha256:<hex>` diff ID (the name of its directory and lock file). */
export function diffIDHex(diffID: string): string {
  return diffID.slice(diffID.indexOf(':') + 1);
}

/** The layout of the store of a data dir (`/var/lib/rkt` -> `/var/lib/rkt/cas/...`). */
export function layoutFor(dataDir: string): Layout {
  const cas = join(dataDir, 'cas');
  const blobRoot = join(cas, 'blob', 'sha512');
  const trees = join(cas, 'tree');
  const imageLocks = join(cas, 'imagelocks');
  const treeLocks = join(cas, 'treestorelocks');
  const layers = join(cas, 'layer');
  const layerLocks = join(cas, 'layerlocks');
  const blobDir = (key: string) => join(blobRoot, key.slice('sha512-'.length, 'sha512-'.length + 2));
  return {
    cas,
    storeLock: join(cas, 'lock'),
    dbDir: join(cas, 'db'),
    db: join(cas, 'db', 'store.sqlite'),
    dbBackups: join(cas, 'db', 'backups'),
    blobRoot,
    tmp: join(cas, 'tmp'),
    trees,
    imageLocks,
    treeLocks,
    layers,
    layerLocks,
    blobDir,
    blob: (key) => join(blobDir(key), key),
    tree: (id) => join(trees, id),
    treeRootfs: (id) => join(trees, id, 'rootfs'),
    imageLock: (key) => join(imageLocks, key),
    treeLock: (id) => join(treeLocks, id),
    layer: (diffID) => join(layers, diffIDHex(diffID)),
    layerLock: (diffID) => join(layerLocks, diffIDHex(diffID)),
  };
}
