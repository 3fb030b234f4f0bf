/**
 * A centre store for a test, closed after it.
 */
import type { TestContext } from 'node:test';
import type { CentreStore } from '../../centre/store/store.js';
import { MemoryCentreStore } from './memory-centre-store.js';

export async function openTestCentreStore(t: TestContext): Promise<CentreStore> {
  const store = new MemoryCentreStore();
  t.after(() => store.close());
  return store;
}
