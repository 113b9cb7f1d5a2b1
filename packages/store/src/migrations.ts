/**
 * The ordered list of schema migrations of the store database. Each entry moves the schema
 * from `version - 1` to `version`; entries are only ever appended (see docs/store.md).
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  /** the schema version after this migration; versions are consecutive from 1 */
  version: number;
  description: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'images and remotes',
    up(db) {
      db.exec(`
        CREATE TABLE images (
          key TEXT PRIMARY KEY NOT NULL,
          name TEXT NOT NULL,
          labels TEXT NOT NULL,
          annotations TEXT,
          manifest TEXT NOT NULL,
          import_time INTEGER NOT NULL,
          last_used INTEGER NOT NULL,
          latest INTEGER NOT NULL DEFAULT 0,
          size INTEGER NOT NULL,
          tree_store_size INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX images_name ON images (name);
        CREATE TABLE remotes (
          url TEXT PRIMARY KEY NOT NULL,
          sig_url TEXT,
          etag TEXT,
          cache_max_age INTEGER,
          download_time INTEGER NOT NULL,
          blob_key TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX remotes_blob_key ON remotes (blob_key);
      `);
    },
  },
  {
    version: 2,
    description: 'layered (OCI and Docker) images: image format, layers and their users',
    up(db) {
      db.exec(`
        ALTER TABLE images ADD COLUMN format TEXT NOT NULL DEFAULT 'aci';
        ALTER TABLE remotes ADD COLUMN endpoint TEXT;
        CREATE TABLE layers (
          diff_id TEXT PRIMARY KEY NOT NULL,
          size INTEGER NOT NULL,
          hash TEXT NOT NULL,
          import_time INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE image_layers (
          image_key TEXT NOT NULL,
          position INTEGER NOT NULL,
          diff_id TEXT NOT NULL,
          PRIMARY KEY (image_key, position)
        ) WITHOUT ROWID;
        CREATE INDEX image_layers_diff_id ON image_layers (diff_id);
      `);
    },
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
