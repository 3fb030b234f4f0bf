/**
 * The centre's store in PostgreSQL (node-postgres), for production and for
 * more than one centre process (a leader and standbys) on one database. The
 * queries are sql-store.ts's; this makes the pool (timeouts, keep-alive,
 * BIGINT as numbers, as record/postgres-store.ts does) and migrates the
 * database, which must exist. Errors name the database, never its password.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { POSTGRES, POSTGRES_TYPES } from '../../record/dialects.js';
import { redactedUrl } from '../../record/postgres-store.js';
import { CentreError } from '../errors.js';
import type { CentreDatabase } from './database.js';
import { migrateCentre } from './migrations.js';
import { SqlCentreStore } from './sql-store.js';

/** Longer than any of the centre's statements takes on a healthy server (a baseline's swap sets its own). */
const QUERY_TIMEOUT_MS = 30_000;

export interface PostgresCentreStoreOptions {
  url: string;
  poolSize?: number;
  logger?: Logger;
  /** How long to wait for the server when opening and for a free connection after. */
  connectTimeoutMs?: number;
  /** What PostgreSQL's pg_stat_activity shows for these connections. */
  applicationName?: string;
}

/** Connects, brings the tables to the latest migration, and resolves with the store; rejects naming the database when it cannot. */
export async function openPostgresCentreStore(options: PostgresCentreStoreOptions): Promise<SqlCentreStore> {
  const shown = redactedUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // A half-open connection (a cut cable, a server gone without a word) must fail, not hang a batch for ever.
    keepAlive: true,
    statement_timeout: QUERY_TIMEOUT_MS,
    // No client-side query timeout: the server's statement_timeout bounds each statement, and a baseline's swap raises
    // its own (SET LOCAL), which a fixed client timeout would cut short.
    application_name: options.applicationName ?? 'health-code-centre',
    types: POSTGRES_TYPES,
  });
  // An idle connection the server drops (a restart) is an event, not a crash: the pool makes a new one when needed.
  pool.on('error', (error) => options.logger?.warn({ err: error.message, database: shown }, 'PostgreSQL connection lost; the pool reconnects on demand'));
  // A checked-out connection's errors reach its query as a failure; unheard, the event would crash the process.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<CentreDatabase>({ dialect: new PostgresDialect({ pool }) });
  let store: SqlCentreStore;
  try {
    await migrateCentre(db, POSTGRES);
    store = new SqlCentreStore(db, POSTGRES, shown);
    await store.dropStaleBaselines();
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new CentreError('store-unavailable', `store: cannot open PostgreSQL at ${shown}: ${(error as Error).message}`, { cause: error });
  }
  return store;
}
