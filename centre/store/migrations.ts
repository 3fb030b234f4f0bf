/**
 * The centre's schema as ordered, named migrations from code, run by Kysely's
 * Migrator when a store opens (under its lock on PostgreSQL: two centres
 * starting together make the tables once). Its own migration tables
 * (`centre_migrations`, `centre_migrations_lock`) let it share a PostgreSQL
 * database with the console's record, whose Migrator keeps Kysely's default
 * names. A migration that has run is never edited; a change is a new name
 * that sorts after the last.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DialectRules } from '../../record/dialects.js';

async function centreTables(db: Kysely<any>, rules: DialectRules): Promise<void> {
  const { ms, flag } = rules.types;
  // Subjects ordered by their bytes in the index itself (PostgreSQL's locale would order otherwise), so that the
  // snapshot's pages walk the primary key instead of sorting the site's list for each page.
  const subject = rules.kind === 'postgres' ? sql`text COLLATE "C"` : 'text';

  await db.schema
    .createTable('centre_sites')
    .addColumn('site', 'text', (c) => c.primaryKey())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('epoch', ms, (c) => c.notNull())
    .addColumn('published_seq', ms, (c) => c.notNull())
    .addColumn('snapshot_version', ms, (c) => c.notNull())
    .addColumn('snapshot_seq', ms, (c) => c.notNull())
    .addColumn('statuses', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('centre_statuses')
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('subject', subject, (c) => c.notNull())
    .addColumn('colour', 'text', (c) => c.notNull())
    .addColumn('effective_at', ms, (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('id_hash', 'text')
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('stored_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('centre_statuses_pkey', ['site', 'subject'])
    .execute();
  // ID-card look-ups find the status by the number's keyed hash; most rows have none.
  await db.schema.createIndex('centre_statuses_id_hash').on('centre_statuses').columns(['site', 'id_hash']).where(sql.ref('id_hash'), 'is not', null).execute();

  await db.schema
    .createTable('centre_changes')
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('epoch', ms, (c) => c.notNull())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('issued_at', ms, (c) => c.notNull())
    .addColumn('baseline', flag, (c) => c.notNull())
    .addColumn('changes', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('centre_changes_pkey', ['site', 'epoch', 'seq'])
    .execute();

  await db.schema
    .createTable('centre_batches')
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('epoch', ms, (c) => c.notNull())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('rows', ms, (c) => c.notNull())
    .addColumn('stored_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('centre_batches_pkey', ['site', 'batch_id'])
    .execute();

  await db.schema
    .createTable('centre_baseline_rows')
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('started_at', ms, (c) => c.notNull())
    .addColumn('subject', subject, (c) => c.notNull())
    .addColumn('colour', 'text', (c) => c.notNull())
    .addColumn('effective_at', ms, (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('id_hash', 'text')
    .addPrimaryKeyConstraint('centre_baseline_rows_pkey', ['token', 'subject'])
    .execute();

  // `n` orders entries written in the same millisecond (SQLite: its rowid under that name).
  await db.schema
    .createTable('centre_audit')
    .addColumn('n', rules.kind === 'postgres' ? 'bigserial' : 'integer', (c) => (rules.kind === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('at', ms, (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('site', 'text')
    .addColumn('batch_id', 'text')
    .addColumn('rows', ms, (c) => c.notNull())
    .addColumn('status', ms, (c) => c.notNull())
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('centre_audit_at').on('centre_audit').columns(['at', 'n']).execute();

  await db.schema
    .createTable('centre_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('received_at', ms, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', ms, (c) => c.notNull())
    .addColumn('next_attempt_at', ms, (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', ms)
    .addColumn('alarmed_at', ms)
    .execute();
  // The deliverer's question (pending and due) and the alarm's (pending, not alarmed, received long ago) each have their index.
  const pending = sql.ref('state');
  await db.schema.createIndex('centre_deliveries_due').on('centre_deliveries').column('next_attempt_at').where(pending, '=', 'pending').execute();
  await db.schema.createIndex('centre_deliveries_overdue').on('centre_deliveries').column('received_at').where(pending, '=', 'pending').execute();
  await db.schema.createIndex('centre_deliveries_received').on('centre_deliveries').columns(['received_at', 'id']).execute();
}

/**
 * What the publisher writes (published_seq, the snapshot's version and seq) moves to a table of its own: in
 * centre_sites it shared the row that every storing transaction holds locked until its commit (PostgreSQL), so
 * each markPublished waited behind the batches in flight. A site without a row here has published nothing yet.
 */
async function publishTable(db: Kysely<any>, rules: DialectRules): Promise<void> {
  const { ms } = rules.types;
  const move = async (db: Kysely<any>): Promise<void> => {
    await db.schema
      .createTable('centre_publish')
      .addColumn('site', 'text', (c) => c.primaryKey())
      .addColumn('published_seq', ms, (c) => c.notNull())
      .addColumn('snapshot_version', ms, (c) => c.notNull())
      .addColumn('snapshot_seq', ms, (c) => c.notNull())
      .execute();
    await sql`INSERT INTO centre_publish (site, published_seq, snapshot_version, snapshot_seq)
      SELECT site, published_seq, snapshot_version, snapshot_seq FROM centre_sites`.execute(db);
    // One column per statement: SQLite's ALTER TABLE drops one at a time.
    for (const column of ['published_seq', 'snapshot_version', 'snapshot_seq']) await db.schema.alterTable('centre_sites').dropColumn(column).execute();
  };
  // PostgreSQL runs each migration in a transaction already; SQLite's Migrator does not, so a crash halfway
  // would leave the counters in neither table: its steps get one here.
  if (rules.kind === 'sqlite') await db.transaction().execute((trx) => move(trx));
  else await move(db);
}

function provider(rules: DialectRules): MigrationProvider {
  return {
    getMigrations: async (): Promise<Record<string, Migration>> => ({
      '0001-centre-tables': { up: (db) => centreTables(db, rules) },
      '0002-centre-publish': { up: (db) => publishTable(db, rules) },
    }),
  };
}

/** Brings the database up to the latest migration (or to `upTo`, for tests of an older schema); rejects with the failed migration's name and cause. */
export async function migrateCentre(db: Kysely<any>, rules: DialectRules, upTo?: string): Promise<void> {
  const migrator = new Migrator({ db, provider: provider(rules), migrationTableName: 'centre_migrations', migrationLockTableName: 'centre_migrations_lock' });
  const { error, results } = upTo === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(upTo);
  if (error === undefined) return;
  const failed = results?.find((result) => result.status === 'Error')?.migrationName;
  const cause = error instanceof Error ? error : new Error(String(error));
  if (failed) cause.message = `migration ${failed}: ${cause.message}`;
  throw cause;
}
