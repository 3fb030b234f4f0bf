/**
 * The console's store in PostgreSQL (node-postgres), for a control room
 * that runs one already. The queries are sql-store.ts's; this makes the
 * pool (timeouts, keep-alive, BIGINT as numbers) and migrates the database,
 * which must exist. Errors name the database, never its password.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from './database.js';
import { POSTGRES, POSTGRES_TYPES } from './dialects.js';
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

/** The URL with any password replaced, for errors and logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}

/** Connects, brings the tables to the latest migration, and resolves with the store; rejects naming the database when it cannot. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlConsoleStore> {
  const shown = redactedUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // A half-open connection (a cut cable, a server gone without a word) must fail, not hang a lane's writes for ever.
    keepAlive: true,
    statement_timeout: QUERY_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS + 5_000,
    application_name: options.applicationName ?? 'health-code-console',
    types: POSTGRES_TYPES,
  });
  // An idle connection the server drops (a restart) is an event, not a crash: the pool makes a new one when needed.
  pool.on('error', (error) => options.logger?.warn({ err: error.message, database: shown }, 'PostgreSQL connection lost; the pool reconnects on demand'));
  // Kysely checks a connection out for each query, and the pool listens for a checked-out connection's errors no longer:
  // one lost mid-query would be an uncaught 'error' event. The query fails with the same error, which is what counts.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db, POSTGRES);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new RecordError('store-unavailable', `store: cannot open PostgreSQL at ${shown}: ${(error as Error).message}`);
  }
  return new SqlConsoleStore(db, POSTGRES, options.timeZone, shown);
}
