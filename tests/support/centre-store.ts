/**
 * The centre's real SQLite store for a test, in a file of its own under a
 * temp dir (so that a test can close it and open the same file again, as a
 * restarted centre does); closed and removed after the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import type { CentreStore } from '../../centre/store/store.js';

export interface TestCentreStore {
  store: CentreStore;
  /** Closes the store and opens the same file again. */
  reopen(): Promise<CentreStore>;
}

export async function openTestCentreStore(t: TestContext): Promise<TestCentreStore> {
  const dir = mkdtempSync(join(tmpdir(), 'centre-store-'));
  const path = join(dir, 'centre.db');
  const opened: CentreStore[] = [];
  const open = async (): Promise<CentreStore> => {
    const store = await openSqliteCentreStore({ path });
    opened.push(store);
    return store;
  };
  t.after(async () => {
    for (const store of opened) await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const handle: TestCentreStore = {
    store: await open(),
    reopen: async () => {
      await handle.store.close();
      handle.store = await open();
      return handle.store;
    },
  };
  return handle;
}
