/**
 * The centre's store in PostgreSQL (node-postgres), for production and for
 * more than one centre process (a leader and standbys) on one database. The
 * queries are sql-store.ts's; this makes the pool (record/postgres-pool.ts)
 * and migrates the database, which must exist. Errors name the database, never its password.
 */
import { Kysely, PostgresDialect } from 'kysely';
import type { Logger } from 'pino';
import { POSTGRES } from '../../record/dialects.js';
import { postgresPool, redactedUrl } from '../../record/postgres-pool.js';
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
  // No client-side query timeout: the server's statement_timeout bounds each statement, and a baseline's swap raises
  // its own (SET LOCAL), which a fixed client timeout would cut short.
  const pool = postgresPool({
    url: options.url,
    poolSize: options.poolSize,
    connectTimeoutMs: options.connectTimeoutMs,
    applicationName: options.applicationName ?? 'health-code-centre',
    statementTimeoutMs: QUERY_TIMEOUT_MS,
    logger: options.logger,
  });
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
