/**
 * The centre's store in SQLite (better-sqlite3): the default, one file and
 * nothing to run. The queries are sql-store.ts's; this opens the file and
 * migrates it. One process per file (the leader's lock sees to that).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { SQLITE, sqliteDatabase } from '../../record/dialects.js';
import { CentreError } from '../errors.js';
import type { CentreDatabase } from './database.js';
import { migrateCentre } from './migrations.js';
import { SqlCentreStore } from './sql-store.js';

/** How long a write waits for the file's lock (another connection's commit, a backup reading it) before failing. */
const BUSY_TIMEOUT_MS = 10_000;

export interface SqliteCentreStoreOptions {
  path: string;
}

/** Opens (or makes) the file, brings its tables to the latest migration, and resolves with the store. */
export async function openSqliteCentreStore(options: SqliteCentreStoreOptions): Promise<SqlCentreStore> {
  let file: BetterSqlite3.Database;
  try {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    file = new BetterSqlite3(options.path);
  } catch (error) {
    throw new CentreError('store-unavailable', `store: cannot open SQLite file ${options.path}: ${(error as Error).message}`, { cause: error });
  }
  // WAL with FULL sync: each commit is on the disk before the API answers 2xx or the broker gets a PUBACK, so a
  // power cut loses no batch answered and reuses no seq that gates may hold (NORMAL could lose the last commits).
  // One fsync per batch of up to 10,000 changes, or per alert: cheap at the centre's rates.
  file.pragma('journal_mode = WAL');
  file.pragma('synchronous = FULL');
  file.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const db = new Kysely<CentreDatabase>({ dialect: new SqliteDialect({ database: sqliteDatabase(file) }) });
  try {
    await migrateCentre(db, SQLITE);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new CentreError('store-unavailable', `store: cannot bring SQLite file ${options.path} to its schema: ${(error as Error).message}`, { cause: error });
  }
  const store = new SqlCentreStore(db, SQLITE, options.path);
  await store.dropStaleBaselines();
  return store;
}
