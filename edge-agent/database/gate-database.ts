/**
 * The gate's SQLite file (journal.path): opened once, with the pragmas every
 * store relies on, and brought to the schema this code knows before any
 * store sees it. The stores take the opened database and run no DDL; the
 * schema lives in migrations.ts.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { GateDatabaseError } from './errors.js';
import { migrate } from './migrate.js';
import { CONNECTION_TABLES, MIGRATIONS } from './migrations.js';

declare const migrated: unique symbol;

/** A better-sqlite3 connection to a file openGateDatabase has migrated: only such a one reaches a store. */
export type GateDatabase = SqliteDatabase.Database & { readonly [migrated]: true };

export interface GateDatabaseOptions {
  /**
   * 'full' (the default): every commit fsyncs the WAL, so a commit survives
   * a process crash and a power cut. 'normal': in WAL mode commits are
   * fsynced only at checkpoints; a commit still survives the process being
   * killed and the file is never corrupted, but the last commits may be lost
   * on power loss (the journal's flush() closes that gap).
   */
  sync?: 'full' | 'normal';
  /** Clock for schema_migrations.applied_at; tests pass their own. */
  now?: () => number;
}

/** SQLite result codes that mean the file is not one we can read. */
const UNREADABLE = /^SQLITE_(NOTADB|CORRUPT|CANTOPEN)/;

/** The schema version this code brings a file to. */
export const GATE_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating it and its folder when missing) and migrates the file.
 * ':memory:' gives a private database, migrated the same way. Throws
 * GateDatabaseError: 'unreadable' (not SQLite, or damaged where it was read),
 * 'newer-schema' (written by a newer release), 'unknown-schema'.
 */
export function openGateDatabase(path: string, options: GateDatabaseOptions = {}): GateDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: SqliteDatabase.Database | undefined;
  try {
    db = new SqliteDatabase(path);
    // These are the first statements that read the file, so a non-SQLite or
    // damaged header fails here. Damage deep inside the file is found only
    // when that page is read.
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    migrate(db, path, MIGRATIONS, options.now);
    db.exec(CONNECTION_TABLES);
    return db as GateDatabase;
  } catch (err) {
    db?.close();
    if (err instanceof GateDatabaseError) throw err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNREADABLE.test(code)) {
      throw new GateDatabaseError('unreadable', `journal file ${path} is unreadable: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}
