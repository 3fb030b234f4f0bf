/**
 * The centre's store on both backends for tests: SQLite (a file in a
 * temporary folder) and a real PostgreSQL (a scratch database per test),
 * each with a plain SQL query on the same database beside it, and a way to
 * open a second store on it as another process would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { openPostgresCentreStore } from '../../centre/store/postgres-store.js';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import type { SqlCentreStore } from '../../centre/store/sql-store.js';
import { requirePostgres, scratchDatabase } from './postgres.js';

/** A store, and a plain SQL query on its database beside it (to look at the plan and at what is left staged). */
export interface Opened {
  store: SqlCentreStore;
  query: (text: string, values?: unknown[]) => Promise<Record<string, unknown>[]>;
  /** Another store on the same database (PostgreSQL: another pool, as another process would have). */
  reopen: () => Promise<SqlCentreStore>;
}

export type OpenCentreStore = (t: TestContext) => Promise<Opened | null>;

export const BACKENDS: Array<[string, OpenCentreStore]> = [
  ['sqlite', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'centre-store-'));
    const path = join(dir, 'centre.db');
    const store = await openSqliteCentreStore({ path });
    const side = new BetterSqlite3(path);
    const opened: SqlCentreStore[] = [store];
    t.after(async () => {
      side.close();
      for (const s of opened) await s.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    });
    return {
      store,
      query: async (text, values = []) => side.prepare(text.replace(/\$\d+/g, '?')).all(...values) as Record<string, unknown>[],
      reopen: async () => {
        const again = await openSqliteCentreStore({ path });
        opened.push(again);
        return again;
      },
    };
  }],
  ['postgres', async (t) => {
    if (!(await requirePostgres(t))) return null;
    const db = await scratchDatabase();
    const store = await openPostgresCentreStore({ url: db.url, poolSize: 4 });
    const side = new pg.Client({ connectionString: db.url });
    await side.connect();
    const opened: SqlCentreStore[] = [store];
    t.after(async () => {
      await side.end();
      for (const s of opened) await s.close().catch(() => {});
      await db.drop();
    });
    return {
      store,
      query: async (text, values = []) => (await side.query(text, values)).rows as Record<string, unknown>[],
      reopen: async () => {
        const again = await openPostgresCentreStore({ url: db.url, poolSize: 4 });
        opened.push(again);
        return again;
      },
    };
  }],
];

