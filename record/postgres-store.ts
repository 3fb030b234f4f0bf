/**
 * The console's store in PostgreSQL (node-postgres), for a control room
 * that runs one already. The queries are sql-store.ts's; this makes the
 * pool (timeouts, keep-alive, BIGINT as numbers) and migrates the database,
 * which must exist. Errors name the database, never its password.
 */
import { Kysely, PostgresDialect } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './database.js';
import { POSTGRES } from './dialects.js';
import { postgresPool, redactedUrl } from './postgres-pool.js';
import { migrateToLatest } from './migrations.js';
import { SqlConsoleStore } from './sql-store.js';
import { RecordError } from './errors.js';

/** Longer than any of the console's statements takes on a healthy server. */
const QUERY_TIMEOUT_MS = 30_000;

export interface PostgresStoreOptions {
  url: string;
  poolSize?: number;
  timeZone?: string | undefined;
  logger?: Logger;
  /** How long to wait for the server when opening and for a free connection after. */
  connectTimeoutMs?: number;
  /** What PostgreSQL's pg_stat_activity shows for these connections. */
  applicationName?: string;
}

export { redactedUrl } from './postgres-pool.js';

/** Connects, brings the tables to the latest migration, and resolves with the store; rejects naming the database when it cannot. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlConsoleStore> {
  const shown = redactedUrl(options.url);
  const pool = postgresPool({
    url: options.url,
    poolSize: options.poolSize,
    connectTimeoutMs: options.connectTimeoutMs,
    applicationName: options.applicationName ?? 'health-code-console',
    statementTimeoutMs: QUERY_TIMEOUT_MS,
    queryTimeoutMs: QUERY_TIMEOUT_MS + 5_000,
    logger: options.logger,
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db, POSTGRES);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new RecordError('store-unavailable', `store: cannot open PostgreSQL at ${shown}: ${(error as Error).message}`);
  }
  return new SqlConsoleStore(db, POSTGRES, options.timeZone, shown);
}
