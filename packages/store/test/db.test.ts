import test from 'ava';
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore, SCHEMA_VERSION } from '@rktnetes/store';
import { migrate, openDatabase, readVersion, retryBusy } from '../src/db';
import type { Migration } from '../src/migrations';
import { buildAci, files, manifest, tempDir } from './helpers';

type Sqlite = new (path: string) => import('better-sqlite3').Database;
const Database = createRequire(import.meta.url)('better-sqlite3') as Sqlite;

test('a new store is created with WAL and the current schema version', (t) => {
  const dir = tempDir(t);
  openStore(dir).close();
  const db = new Database(join(dir, 'cas', 'db', 'store.sqlite'));
  t.teardown(() => db.close());
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(readVersion(db), SCHEMA_VERSION);
  t.true(SCHEMA_VERSION >= 1);
});

test('a database from a newer rkt is refused and left untouched', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  await store.importImage(Readable.from([await buildAci(manifest('example.com/x'), files({ a: 'a' }))]));
  store.close();
  const path = join(dir, 'cas', 'db', 'store.sqlite');
  const db = new Database(path);
  db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 5);
  db.close();
  const err = t.throws(() => openStore(dir), { code: 'store.schema-newer' } as never);
  t.regex(err?.message ?? '', /newer/);
  t.throws(() => openStore(dir, { readOnly: true }), { code: 'store.schema-newer' } as never);
  const check = new Database(path);
  t.is(readVersion(check), SCHEMA_VERSION + 5, 'never downgraded');
  t.is((check.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n, 1);
  check.close();
});

test('migrations run in order from the recorded version, once, with a backup of an existing database', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'm.sqlite');
  const ran: number[] = [];
  const ms: Migration[] = [
    { version: 1, description: 'one', up: (db) => (ran.push(1), db.exec('CREATE TABLE a (x INTEGER)')) },
    { version: 2, description: 'two', up: (db) => (ran.push(2), db.exec('ALTER TABLE a ADD COLUMN y TEXT')) },
  ];
  const db1 = openDatabase(path, { migrations: ms.slice(0, 1), backupDir: join(dir, 'backups') });
  db1.close();
  t.deepEqual(ran, [1]);
  t.false(existsSync(join(dir, 'backups')), 'no backup of a brand new database');
  const db2 = openDatabase(path, { migrations: ms, backupDir: join(dir, 'backups') });
  t.deepEqual(ran, [1, 2]);
  t.is(readVersion(db2), 2);
  t.deepEqual(migrate(db2, ms), { from: 2, to: 2 });
  t.deepEqual(ran, [1, 2]);
  db2.close();
  const backups = readdirSync(join(dir, 'backups'));
  t.is(backups.length, 1);
  t.regex(backups[0] ?? '', /^store-v1-\d+\.sqlite$/);
  t.throws(() => migrate(new Database(':memory:'), [ms[1] as Migration]), { code: 'store.migrations' } as never);
  const failing: Migration[] = [...ms, { version: 3, description: 'boom', up: () => { throw new Error('boom'); } }];
  t.throws(() => openDatabase(path, { migrations: failing }));
  const db3 = openDatabase(path, { migrations: ms });
  t.is(readVersion(db3), 2, 'a failed migration rolls back entirely');
  db3.close();
});

test('a read-only open of a missing store creates nothing and lists nothing', (t) => {
  const dir = tempDir(t);
  const store = openStore(dir, { readOnly: true });
  t.deepEqual(store.listImages(), []);
  t.throws(() => store.resolveImage('example.com/x'), { code: 'store.not-found' } as never);
  store.close();
  t.deepEqual(readdirSync(dir), []);
  t.throws(() => store.listImages(), { code: 'store.closed' } as never);
});

test('a read-only store reads but refuses writes', async (t) => {
  const dir = tempDir(t);
  const rw = openStore(dir);
  const info = await rw.importImage(Readable.from([await buildAci(manifest('example.com/ro'), files({ a: 'a' }))]));
  rw.close();
  const ro = openStore(dir, { readOnly: true });
  t.teardown(() => ro.close());
  t.is(ro.resolveImage('example.com/ro'), info.key);
  t.is((await ro.readImageFile(info.key, '/a')).toString(), 'a');
  await t.throwsAsync(ro.importImage(Readable.from([Buffer.alloc(0)])), { code: 'store.read-only' } as never);
  await t.throwsAsync(ro.removeImage(info.key), { code: 'store.read-only' } as never);
  t.true((await ro.fsck()).ok);
});

test('a busy database is retried, never surfacing "database is locked"', (t) => {
  const dir = tempDir(t);
  openStore(dir).close();
  const path = join(dir, 'cas', 'db', 'store.sqlite');
  const holder = new Database(path);
  holder.exec('BEGIN IMMEDIATE');
  const other = new Database(path);
  other.pragma('busy_timeout = 10');
  let calls = 0;
  const value = retryBusy('test write', () => {
    calls++;
    if (calls === 3) holder.exec('COMMIT');
    return other.prepare('INSERT INTO remotes (url, download_time, blob_key) VALUES (?, 0, ?)').run(`u${calls}`, 'k').changes;
  });
  t.is(value, 1);
  t.true(calls >= 3);
  holder.close();
  other.close();
});
