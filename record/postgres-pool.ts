/**
 * A node-postgres pool as the stores want it (the record's and the
 * centre's): a timeout for the server and for a free connection, keep-alive
 * so that a half-open connection fails instead of hanging a write for ever,
 * a statement timeout, BIGINT read as numbers, and a connection the server
 * drops logged rather than crashing the process. Errors and logs name the
 * database with its password masked.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { POSTGRES_TYPES } from './dialects.js';

export interface PostgresPoolOptions {
  url: string;
  poolSize?: number | undefined;
  /** How long to wait for the server when opening and for a free connection after. */
  connectTimeoutMs?: number | undefined;
  /** What PostgreSQL's pg_stat_activity shows for these connections. */
  applicationName: string;
  /** The server ends a statement that runs longer. */
  statementTimeoutMs: number;
  /** The client gives up on a statement after this; none when a statement may raise its own server timeout. */
  queryTimeoutMs?: number | undefined;
  logger?: Logger | undefined;
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

export function postgresPool(options: PostgresPoolOptions): pg.Pool {
  const shown = redactedUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    keepAlive: true,
    statement_timeout: options.statementTimeoutMs,
    ...(options.queryTimeoutMs !== undefined ? { query_timeout: options.queryTimeoutMs } : {}),
    application_name: options.applicationName,
    types: POSTGRES_TYPES,
  });
  // An idle connection the server drops (a restart) is an event, not a crash: the pool makes a new one when needed.
  pool.on('error', (error) => options.logger?.warn({ err: error.message, database: shown }, 'PostgreSQL connection lost; the pool reconnects on demand'));
  // Kysely checks a connection out for each query, and the pool listens for a checked-out connection's errors no longer:
  // one lost mid-query would be an uncaught 'error' event. The query fails with the same error, which is what counts.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
