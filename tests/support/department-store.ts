/** The department tests' store: the real SQLite centre store on a temp file, reopened for "restart" tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import type { DepartmentStore } from '../../centre/department/department-store.js';

export interface StoreHandle {
  store: DepartmentStore;
  close(): Promise<void>;
}

/** Opens the store on `path` (the same file again after a close: a restarted centre). */
export type StoreOpener = () => Promise<StoreHandle>;

export function tempStore(t: TestContext): StoreOpener {
  const dir = mkdtempSync(join(tmpdir(), 'centre-department-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'centre.db');
  return () => openSqlite(path);
}

async function openSqlite(path: string): Promise<StoreHandle> {
  const store = await openSqliteCentreStore({ path });
  return { store, close: () => store.close() };
}
