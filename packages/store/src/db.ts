/**
 * The store database: opening (better-sqlite3, loaded lazily), pragmas, versioned migrations
 * and busy handling.
 *
 * Every statement runs through {@link retryBusy}: sqlite's own busy_timeout waits first, and a
 * still-busy database is retried with backoff, so a user never sees "database is locked"; after
 * a long wait it surfaces as `store.busy` without sqlite's message.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { RktError, systemError, isRktError } from '@rktnetes/errors';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';

export type { Database };

/** ms sqlite itself waits for a lock before returning SQLITE_BUSY */
export const BUSY_TIMEOUT_MS = 5000;
/** total ms {@link retryBusy} keeps retrying after that */
const BUSY_RETRY_BUDGET_MS = 60_000;

type DatabaseCtor = new (path: string, opts?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number; nativeBinding?: object }) => Database;

let ctor: DatabaseCtor | undefined;
/** better-sqlite3's native addon when found where it is built; else better-sqlite3 finds it */
let nativeBinding: { nativeBinding: object } | Record<string, never> = {};

/**
 * better-sqlite3's JavaScript as the code runs: in a bundle of tools/build.mjs `require` is the
 * bundle's and esbuild binds this call, to the copy inlined in the bundle when the bin's
 * package lists better-sqlite3 in "inlineDependencies", else to the installed package; run as an
 * ES module (tests) there is no `require` and the installed package is loaded.
 */
function bundledSqlite(load: NodeRequire): DatabaseCtor {
  return (typeof require === 'function' ? require('better-sqlite3') : load('better-sqlite3')) as DatabaseCtor;
}

function loadSqlite(): DatabaseCtor {
  if (!ctor) {
    const load = createRequire(import.meta.url);
    // Handing the addon over spares better-sqlite3 its search with the `bindings` package
    // (stack traces, a dozen candidate paths): half a millisecond of every store open. It also
    // lets an inlined copy run, which could not find the addon itself (it is not where that
    // copy's file is).
    let addon: object | undefined;
    try {
      addon = load('better-sqlite3/build/Release/better_sqlite3.node') as object;
    } catch {
      // built elsewhere (a debug build): the installed better-sqlite3 looks for it itself
    }
    try {
      ctor = addon ? bundledSqlite(load) : (load('better-sqlite3') as DatabaseCtor);
    } catch (e) {
      throw systemError('store.sqlite-missing', 'cannot load better-sqlite3, the image store needs it', { cause: e });
    }
    if (addon) nativeBinding = { nativeBinding: addon };
  }
  return ctor;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

function isBusy(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * Runs `fn`, retrying while sqlite reports the database busy or locked. Other sqlite errors
 * become `store.db` (system); RktErrors pass through.
 */
export function retryBusy<T>(what: string, fn: () => T): T {
  const deadline = Date.now() + BUSY_RETRY_BUDGET_MS;
  let delay = 5;
  for (;;) {
    try {
      return fn();
    } catch (e) {
      if (isRktError(e)) throw e;
      if (isBusy(e)) {
        if (Date.now() < deadline) {
          sleepSync(delay + Math.floor(Math.random() * delay));
          delay = Math.min(delay * 2, 200);
          continue;
        }
        // deliberately no cause: sqlite's "database is locked" is not for users
        throw systemError('store.busy', `image store is busy: ${what} waited too long for other rkt processes`, {
          details: { sqlite: sqliteCode(e) },
        });
      }
      if (sqliteCode(e)) throw systemError('store.db', `image store database: ${what} failed`, { cause: e });
      throw e;
    }
  }
}

export interface OpenDatabaseOptions {
  readOnly?: boolean;
  /** where a copy of the database is written before migrating an existing one */
  backupDir?: string;
  /** for tests: the migration list to apply (default {@link MIGRATIONS}) */
  migrations?: readonly Migration[];
}

/**
 * Opens (creating and migrating when writable) the database at `path`. A read-only open of a
 * missing database yields an empty in-memory one, so listing an unused store works.
 * Throws `store.schema-newer` when the database was written by newer code, and
 * `store.schema-older` when a read-only open finds a schema that needs migrating.
 */
export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): Database {
  const Sqlite = loadSqlite();
  const migrations = opts.migrations ?? MIGRATIONS;
  const target = migrations[migrations.length - 1]?.version ?? 0;
  let db: Database;
  if (opts.readOnly && !existsSync(path)) {
    db = new Sqlite(':memory:', nativeBinding);
    migrate(db, migrations);
    return db;
  }
  try {
    db = retryBusy('open', () => new Sqlite(path, { readonly: opts.readOnly ?? false, timeout: BUSY_TIMEOUT_MS, ...nativeBinding }));
  } catch (e) {
    throw isRktError(e) ? e : systemError('store.db', `cannot open image store database ${path}`, { cause: e });
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!opts.readOnly) {
      retryBusy('set journal mode', () => db.pragma('journal_mode = WAL'));
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
    }
    const version = readVersion(db);
    if (version > target) {
      throw new RktError(
        'store.schema-newer',
        `image store database ${path} has schema version ${version}, newer than ${target} known to this rkt; refusing to use it (never downgraded)`,
        { kind: 'user', details: { version, supported: target } },
      );
    }
    if (version < target) {
      if (opts.readOnly) {
        throw new RktError('store.schema-older', `image store database ${path} has schema version ${version} and needs migrating to ${target}; open it writable once`, {
          kind: 'user',
          details: { version, supported: target },
        });
      }
      if (version > 0 && opts.backupDir) backup(db, opts.backupDir, version);
      migrate(db, migrations);
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** The schema version recorded in `db` (0 for an empty database). */
export function readVersion(db: Database): number {
  return retryBusy('read schema version', () => {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
    if (!table) return 0;
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    return row?.version ?? 0;
  });
}

/**
 * Applies, in one immediate transaction, every migration above the recorded version; the
 * version is re-read inside the transaction so concurrent openers migrate exactly once.
 * Returns the versions before and after.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new RktError('store.migrations', `migration list out of order at version ${m.version}`, { kind: 'internal' });
  });
  const target = migrations[migrations.length - 1]?.version ?? 0;
  const run = db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const from = row?.version ?? 0;
    if (from > target) {
      throw new RktError('store.schema-newer', `image store database has schema version ${from}, newer than ${target} known to this rkt; refusing to use it`, {
        kind: 'user',
        details: { version: from, supported: target },
      });
    }
    for (const m of migrations) if (m.version > from) m.up(db);
    if (row) db.prepare('UPDATE schema_version SET version = ?').run(target);
    else db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(target);
    return { from, to: target };
  });
  return retryBusy('migrate schema', () => run.immediate());
}

function backup(db: Database, dir: string, version: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `store-v${version}-${Date.now()}.sqlite`);
  retryBusy('back up database', () => db.prepare('VACUUM INTO ?').run(file));
}

export { SCHEMA_VERSION };
