/**
 * The console's schema as ordered, named migrations, run by Kysely's
 * Migrator when a store opens (under its lock on PostgreSQL: two consoles
 * starting together make the tables once). A new migration is a new name
 * that sorts after the last; one that has run is never edited.
 *
 * Migration 1 is the schema of the releases before migrations, the two
 * dialects' drift resolved; a database one of those releases wrote already
 * has its tables and only takes the fixes (`CREATE … IF NOT EXISTS` leaves
 * its tables and rows as they are).
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DialectRules } from './dialects.js';

/**
 * The schema in both dialects. Fixed against earlier releases: the command's
 * operator is `sent_by` in both (SQLite's files called it `user`, a reserved
 * word in PostgreSQL), and SQLite gains the indexes PostgreSQL had
 * (registrations by site and day, pending commands).
 */
async function consoleTables(db: Kysely<any>, rules: DialectRules): Promise<void> {
  const { ms, flag, list, real } = rules.types;
  const commands = (await db.introspection.getTables()).find((table) => table.name === 'commands');
  const named = (column: string): boolean => commands?.columns.some((c) => c.name === column) ?? false;
  if (named('user') && !named('sent_by')) await db.schema.alterTable('commands').renameColumn('user', 'sent_by').execute();

  // PostgreSQL's `n` orders rows written in the same millisecond; SQLite's rowid does that there.
  const written = rules.writtenOrder === 'n';
  const create = (table: string) => {
    const builder = db.schema.createTable(table).ifNotExists();
    return written && ['decisions', 'alerts', 'faults', 'commands'].includes(table) ? builder.addColumn('n', 'bigserial') : builder;
  };
  const newestFirst = (column: string): string[] => (written ? [`${column} desc`, 'n desc'] : [column]);

  await create('lanes')
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('online', flag, (c) => c.notNull())
    .addColumn('online_since', ms, (c) => c.notNull())
    .addColumn('degraded', flag, (c) => c.notNull())
    .addColumn('degraded_since', ms, (c) => c.notNull())
    .addColumn('held', flag, (c) => c.notNull())
    .addColumn('held_since', ms, (c) => c.notNull())
    .addColumn('staff_mode', flag, (c) => c.notNull())
    .addColumn('staff_mode_since', ms, (c) => c.notNull())
    .addColumn('faults', list, (c) => c.notNull())
    .addColumn('faults_since', ms, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_since', ms, (c) => c.notNull())
    .addColumn('lane_state', 'text')
    .addColumn('first_seen', ms, (c) => c.notNull())
    .addColumn('last_seen', ms, (c) => c.notNull())
    .addColumn('state_time', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('lanes_pkey', ['site', 'lane'])
    .execute();

  await create('decisions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('time', ms, (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('verdict', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('decided_by', 'text', (c) => c.notNull())
    .addColumn('colour', 'text')
    .addColumn('temperature_c', real)
    .addColumn('sensor_fault', 'text')
    .addColumn('degraded', flag, (c) => c.notNull())
    .addColumn('received_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('decisions_site_day').ifNotExists().on('decisions').columns(['site', 'day']).execute();
  await db.schema.createIndex('decisions_time').ifNotExists().on('decisions').columns(newestFirst('time')).execute();

  await create('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('time', ms, (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('decided_by', 'text', (c) => c.notNull())
    .addColumn('acknowledged_by', 'text')
    .addColumn('acknowledged_at', ms)
    .addColumn('received_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alerts_site_day').ifNotExists().on('alerts').columns(['site', 'day']).execute();

  await create('faults')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('time', ms, (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .addColumn('active', flag, (c) => c.notNull())
    .addColumn('received_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('faults_site_day').ifNotExists().on('faults').columns(['site', 'day']).execute();

  await create('registrations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('time', ms, (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('received_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('registrations_site_day').ifNotExists().on('registrations').columns(['site', 'day']).execute();

  await create('colour_changes')
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('issued_at', ms, (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('received_at', ms, (c) => c.notNull())
    .addColumn('verified', flag, (c) => c.notNull())
    .addPrimaryKeyConstraint('colour_changes_pkey', ['site', 'seq'])
    .execute();

  await create('colour_applied')
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('applied_at', ms, (c) => c.notNull())
    .addColumn('via', 'text', (c) => c.notNull())
    .addColumn('received_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('colour_applied_pkey', ['site', 'lane', 'seq', 'via'])
    .execute();

  await create('commands')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('lane', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('sent_by', 'text', (c) => c.notNull())
    .addColumn('sent_at', ms, (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('result_at', ms)
    .addColumn('detail', 'text')
    .execute();
  await db.schema.createIndex('commands_sent').ifNotExists().on('commands').columns(newestFirst('sent_at')).execute();
  await db.schema.createIndex('commands_pending').ifNotExists().on('commands').column('sent_at').where(sql.ref('result'), '=', 'pending').execute();
}

/**
 * Every migration, by name in the order they run, from code rather than files
 * (Kysely's FileMigrationProvider would need dist/ to carry a folder to scan).
 */
function provider(rules: DialectRules): MigrationProvider {
  return {
    getMigrations: async (): Promise<Record<string, Migration>> => ({
      '0001-console-tables': { up: (db) => consoleTables(db, rules) },
    }),
  };
}

/** Brings the database up to the latest migration; rejects with the first migration's failure. */
export async function migrateToLatest(db: Kysely<any>, rules: DialectRules): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: provider(rules) }).migrateToLatest();
  if (error === undefined) return;
  const failed = results?.find((result) => result.status === 'Error')?.migrationName;
  const cause = error instanceof Error ? error : new Error(String(error));
  if (failed) cause.message = `migration ${failed}: ${cause.message}`;
  throw cause;
}
