/**
 * The console's store in SQLite (better-sqlite3): the default, one file
 * beside the console and nothing to run. The queries are sql-store.ts's;
 * this opens the file, tuned for a fleet's write rate, and migrates it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './database.js';
import { SQLITE, sqliteDatabase } from './dialects.js';
import { migrateToLatest } from './migrations.js';
import { SqlConsoleStore } from './sql-store.js';

export interface SqliteStoreOptions {
  path: string;
  timeZone?: string | undefined;
}

/** Opens (or makes) the file, brings its tables to the latest migration, and resolves with the store. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqlConsoleStore> {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const file = new BetterSqlite3(options.path);
  // WAL with NORMAL sync: a commit costs no fsync; a power cut may lose the last commits, never the file.
  file.pragma('journal_mode = WAL');
  file.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqliteDatabase(file) }) });
  try {
    await migrateToLatest(db, SQLITE);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new SqlConsoleStore(db, SQLITE, options.timeZone, options.path);
}
