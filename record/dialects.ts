/**
 * Everything that differs between the console's two databases, in one
 * place; the queries (sql-store.ts) and the schema (migrations.ts) are
 * written once against these rules.
 *
 * - Types: SQLite has no booleans, arrays or BIGINT; flags are INTEGER 1/0,
 *   a lane's faults JSON text, epoch ms INTEGER. PostgreSQL has BOOLEAN,
 *   TEXT[] and BIGINT (parsed back to numbers here).
 * - Rows in the order written: SQLite's rowid; PostgreSQL's BIGSERIAL `n`.
 * - Text ordered by its bytes: SQLite's default; PostgreSQL needs COLLATE "C"
 *   (else the server's locale decides, and "B" and "b" trade places).
 * - Rows in a batch's one INSERT: SQLite keeps each statement text
 *   prepared, and a prepared statement's memory is freed only when the
 *   collector finds it, so its batches take few shapes (32 rows at most;
 *   without a round trip to save, larger batches gain little, and the page
 *   stream gets the results in bursts); to PostgreSQL each statement is a
 *   round trip and a commit, so its batches take up to 500.
 * - Which failures may pass if tried again.
 *
 * Upserts and insert-if-new are `ON CONFLICT` in both and need no rule.
 */
import type { Database as BetterSqlite3, Statement } from 'better-sqlite3';
import { sql, type ColumnDataType, type Expression, type SqliteDatabase, type SqliteStatement } from 'kysely';
import pg from 'pg';

/** A column's type in CREATE TABLE: one of Kysely's names, or raw SQL (PostgreSQL's text[]). */
type DataTypeExpression = ColumnDataType | Expression<unknown>;

export interface DialectRules {
  readonly kind: 'sqlite' | 'postgres';
  /** Column types of the schema. */
  readonly types: { readonly ms: DataTypeExpression; readonly flag: DataTypeExpression; readonly list: DataTypeExpression; readonly real: DataTypeExpression };
  /** The most rows a batch (one INSERT) carries. */
  readonly rowsPerBatch: number;
  /** The column that orders a table's rows as written. */
  readonly writtenOrder: 'rowid' | 'n';
  /** A text column ordered by its bytes, whatever the database's locale. */
  byteOrder(column: string): Expression<string>;
  /** True for a failure that may pass if tried again (the database away, busy, or restarting); false for a row it refuses. */
  transient(error: unknown): boolean;
}

export const SQLITE: DialectRules = {
  kind: 'sqlite',
  types: { ms: 'integer', flag: 'integer', list: 'text', real: 'real' },
  rowsPerBatch: 32,
  writtenOrder: 'rowid',
  byteOrder: (column) => sql.ref<string>(column),
  /** Busy, locked, I/O and a full disk may pass; anything else (a constraint, a closed database) will not. */
  transient(error) {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL)/.test(code);
  },
};

/**
 * SQLSTATE classes of failures that may pass on a retry: connection (08),
 * transaction rollback (40: serialization, deadlock), insufficient
 * resources (53), operator intervention (57: shutdown, restart), system (58).
 */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** What node-postgres says when a connection is lost or cannot be had in time (it gives these no code). */
const CONNECTION_LOST = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended/i;

export const POSTGRES: DialectRules = {
  kind: 'postgres',
  types: { ms: 'bigint', flag: 'boolean', list: sql`text[]`, real: 'double precision' },
  rowsPerBatch: 500,
  writtenOrder: 'n',
  byteOrder: (column) => sql<string>`${sql.ref(column)} COLLATE "C"`,
  transient(error) {
    if (!(error instanceof Error)) return false;
    const code = (error as { code?: unknown }).code;
    // The connection itself failed (refused, reset, timed out): a socket's errno, or node-postgres's own words.
    if (typeof code === 'string' && CONNECTION_ERRNOS.has(code)) return true;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_CLASSES.has(code.slice(0, 2));
    return CONNECTION_LOST.test(error.message);
  },
};

/** BIGINT (20) and NUMERIC (1700, what SUM gives) as JS numbers: counts and epoch ms, never near 2^53. */
const NUMBER_TYPES = new Set([20, 1700]);
export const POSTGRES_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMBER_TYPES.has(oid) ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Statements kept prepared: the console's queries, and a batch's inserts of
 * 1 to rowsPerBatch rows, are about a hundred texts. Any longer text
 * (none the store sends) is prepared for its one use only.
 */
const MAX_PREPARED = 160;
const MAX_PREPARED_TEXT = 8192;

/** What SQLite cannot bind, as it keeps it: a flag as 1/0, a list as JSON text. */
function bindable(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (Array.isArray(value)) return JSON.stringify(value);
  return value;
}

/**
 * better-sqlite3 as Kysely's SqliteDialect uses it, with each statement
 * prepared once (Kysely prepares on every query; a fleet sends a thousand
 * events a second) and values bound the way SQLite keeps them.
 */
export function sqliteDatabase(db: BetterSqlite3): SqliteDatabase {
  const prepared = new Map<string, Statement>();
  const bind = (parameters: ReadonlyArray<unknown>): unknown[] => parameters.map(bindable);
  return {
    close: () => db.close(),
    prepare(text: string): SqliteStatement {
      let statement = prepared.get(text);
      if (!statement) {
        statement = db.prepare(text);
        if (text.length <= MAX_PREPARED_TEXT) {
          if (prepared.size >= MAX_PREPARED) prepared.clear();
          prepared.set(text, statement);
        }
      }
      const s = statement;
      return {
        reader: s.reader,
        all: (parameters) => s.all(...bind(parameters)),
        run: (parameters) => s.run(...bind(parameters)),
        iterate: (parameters) => s.iterate(...bind(parameters)) as IterableIterator<unknown>,
      };
    },
  };
}
