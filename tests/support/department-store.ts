/** The department tests' store: the real SQLite centre store on a temp file, reopened for "restart" tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Delivery } from '../../centre/store/store.js';
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
  return () => openMemory(path);
}

// Until the SQLite store is merged: one map per path, kept across "restarts".
const files = new Map<string, Map<string, Delivery>>();
async function openMemory(path: string): Promise<StoreHandle> {
  const rows = files.get(path) ?? new Map<string, Delivery>();
  files.set(path, rows);
  const copy = (d: Delivery): Delivery => ({ ...d });
  const update = (id: string, change: (d: Delivery) => void): void => {
    const d = rows.get(id);
    if (d && d.state === 'pending') change(d);
  };
  const store: DepartmentStore = {
    async enqueueDelivery(d) {
      if (rows.has(d.id)) return false;
      rows.set(d.id, { ...d, state: 'pending', attempts: 0, nextAttemptAt: d.receivedAt, lastError: null, deliveredAt: null, alarmedAt: null });
      return true;
    },
    async dueDeliveries(now, limit) {
      return [...rows.values()].filter((d) => d.state === 'pending' && d.nextAttemptAt <= now).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt).slice(0, limit).map(copy);
    },
    async markDelivered(id, at) {
      update(id, (d) => Object.assign(d, { state: 'delivered', deliveredAt: at, attempts: d.attempts + 1, lastError: null }));
    },
    async markAttemptFailed(id, error, next) {
      update(id, (d) => Object.assign(d, { attempts: d.attempts + 1, lastError: error, nextAttemptAt: next }));
    },
    async markAlarmed(id, at) {
      const d = rows.get(id);
      if (d && d.alarmedAt === null) d.alarmedAt = at;
    },
    async delivery(id) {
      const d = rows.get(id);
      return d ? copy(d) : null;
    },
    async deliveries(o) {
      return [...rows.values()].filter((d) => (o.state === undefined || d.state === o.state) && (o.site === undefined || d.site === o.site) && (o.kind === undefined || d.kind === o.kind)).sort((a, b) => b.receivedAt - a.receivedAt).slice(0, o.limit).map(copy);
    },
    async overdueDeliveries(before, limit) {
      return [...rows.values()].filter((d) => d.state === 'pending' && d.alarmedAt === null && d.receivedAt < before).sort((a, b) => a.receivedAt - b.receivedAt).slice(0, limit).map(copy);
    },
  };
  return { store, close: async () => {} };
}
