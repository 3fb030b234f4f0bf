/**
 * A real PostgreSQL for tests: the machine's server (TEST_POSTGRES_URL, by
 * default postgres://postgres:postgres@127.0.0.1:5432/postgres; .ci/run
 * starts it, or installs it when missing). Each test gets a database of its
 * own, made fresh and dropped after, so tests never see each other's rows.
 * A user's machine may have no server: tests skip with a clear message there,
 * and fail in CI (CI is set).
 */
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

let reachable: Promise<string | null> | null = null;

/** Null when the server answers, else why not. Asked once per process. */
function whyUnreachable(): Promise<string | null> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachable;
}

/** True when PostgreSQL answers; otherwise skips the test (or, in CI, fails it) naming what to do. */
export async function requirePostgres(t: TestContext): Promise<boolean> {
  const why = await whyUnreachable();
  if (why === null) return true;
  const message = `PostgreSQL not reachable at ${POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')} (${why}): install postgresql and start it, or set TEST_POSTGRES_URL`;
  if (process.env.CI) throw new Error(`${message}; .ci/run starts it`);
  t.skip(message);
  return false;
}

export interface ScratchDatabase {
  /** A URL for the new, empty database. */
  url: string;
  name: string;
  /** Drops the database, closing whatever is still connected to it. */
  drop(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A new empty database on the test server, dropped by `drop()`. */
export async function scratchDatabase(): Promise<ScratchDatabase> {
  const name = `hc_console_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
