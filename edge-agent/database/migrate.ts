/**
 * The runner of the gate database's migrations: a numbered list in code,
 * applied in order, one IMMEDIATE transaction each, the file's version
 * recorded in the same transaction.
 *
 * Hand-written rather than a library's: the agent opens its file
 * synchronously in its constructor and the stores prepare their statements
 * right after, so the runner must be synchronous on better-sqlite3 (Kysely's
 * Migrator, for one, is asynchronous); it runs in-process at every open; and
 * the migrations are code, not files a release would have to ship beside
 * the build.
 *
 * Where the version is kept: a `schema_migrations` table (one row per
 * migration applied, with when), and PRAGMA user_version set to the same
 * number. Releases before this runner kept only user_version, at 1, for the
 * journal's table, and let every other store create its tables when it was
 * first attached; such a file has no `schema_migrations`, and migration 1 is
 * written to complete it (see migrations.ts). user_version still follows
 * the version so that such a release refuses a file migrated past version 1
 * (it opens only user_version 1) instead of writing to tables it does not
 * know.
 */
import type SqliteDatabase from 'better-sqlite3';
import { GateDatabaseError } from './errors.js';

type Database = SqliteDatabase.Database;

export interface Migration {
  /** 1 for the first, then each one more than the one before. */
  version: number;
  /** What it changes, in a few words; kept in schema_migrations. */
  name: string;
  /** Runs inside the migration's transaction; throwing rolls the migration back. */
  up(db: Database, path: string): void;
}

/** user_version of a journal file written before this runner: its events table at version 1. */
const BEFORE_THE_RUNNER = 1;

const BOOKKEEPING = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT;
`;

/** The versions must be 1, 2, 3…: a gap or a repeat is a mistake in the code, not in the file. */
function checkList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`gate database migrations: entry ${i + 1} has version ${m.version}`);
  });
}

/** The version the file is at; 0 for an empty file or one written before the runner. */
export function schemaVersion(db: Database, path: string): number {
  const tracked = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").pluck().get() !== undefined;
  if (tracked) return db.prepare('SELECT coalesce(max(version), 0) FROM schema_migrations').pluck().get() as number;
  const legacy = db.pragma('user_version', { simple: true }) as number;
  if (legacy === 0 || legacy === BEFORE_THE_RUNNER) return 0;
  throw new GateDatabaseError('unknown-schema', `journal file ${path}: unknown schema version ${legacy}`);
}

/**
 * Brings the file to the last version of `migrations`. Refuses, changing
 * nothing, a file at a version this code does not know (a newer release's).
 * Returns the versions before and after.
 */
export function migrate(db: Database, path: string, migrations: readonly Migration[], now: () => number = Date.now): { from: number; to: number } {
  checkList(migrations);
  const latest = migrations.length;
  const refuseNewer = (version: number): GateDatabaseError =>
    new GateDatabaseError(
      'newer-schema',
      `journal file ${path} is at schema version ${version}, newer than this agent knows (up to ${latest}): it was written by a newer release`,
    );
  const from = schemaVersion(db, path);
  if (from > latest) throw refuseNewer(from);
  if (from === latest) return { from, to: from };
  const record = (m: Migration): void => {
    db.exec(BOOKKEEPING);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now());
    db.pragma(`user_version = ${m.version}`);
  };
  for (;;) {
    // Read again under the write lock: another process may have migrated the file meanwhile.
    const done = db.transaction((): boolean => {
      const current = schemaVersion(db, path);
      if (current > latest) throw refuseNewer(current);
      if (current === latest) return true;
      const next = migrations[current]!;
      next.up(db, path);
      record(next);
      return false;
    }).immediate();
    if (done) return { from, to: latest };
  }
}
