/**
 * The centre's audit trail and its outbox of deliveries to the
 * epidemic-control department, the same queries for SQLite and PostgreSQL.
 * Apart from the site's list (sql-store.ts) because they change for other
 * reasons: what an audit keeps, how the deliverer retries.
 */
import type { Kysely, Selectable } from 'kysely';
import type { AuditTable, CentreDatabase, DeliveriesTable } from './database.js';
import type { AuditEntry, Delivery, DeliveryKind, DeliveryState } from './store.js';

function auditOf(row: Selectable<AuditTable>): AuditEntry {
  return { at: row.at, client: row.client, action: row.action, site: row.site, batchId: row.batch_id, rows: row.rows, status: row.status, error: row.error };
}

function deliveryOf(row: Selectable<DeliveriesTable>): Delivery {
  return {
    id: row.id, kind: row.kind as DeliveryKind, site: row.site, lane: row.lane, body: row.body, receivedAt: row.received_at, state: row.state as DeliveryState,
    attempts: row.attempts, nextAttemptAt: row.next_attempt_at, lastError: row.last_error, deliveredAt: row.delivered_at, alarmedAt: row.alarmed_at,
  };
}

export class SqlOutbox {
  constructor(private readonly db: Kysely<CentreDatabase>) {}

  async audit(entry: AuditEntry): Promise<void> {
    await this.db
      .insertInto('centre_audit')
      .values({ at: entry.at, client: entry.client, action: entry.action, site: entry.site, batch_id: entry.batchId, rows: entry.rows, status: entry.status, error: entry.error })
      .execute();
  }

  async auditTrail(options: { since?: number; client?: string; limit: number }): Promise<AuditEntry[]> {
    const { since, client } = options;
    const rows = await this.db
      .selectFrom('centre_audit')
      .selectAll()
      .$if(since !== undefined, (q) => q.where('at', '>=', since!))
      .$if(client !== undefined, (q) => q.where('client', '=', client!))
      .orderBy('at', 'desc')
      .orderBy('n', 'desc')
      .limit(options.limit)
      .execute();
    return rows.map(auditOf);
  }

  async enqueueDelivery(d: Pick<Delivery, 'id' | 'kind' | 'site' | 'lane' | 'body' | 'receivedAt'>): Promise<boolean> {
    const result = await this.db
      .insertInto('centre_deliveries')
      .values({
        id: d.id, kind: d.kind, site: d.site, lane: d.lane, body: d.body, received_at: d.receivedAt, state: 'pending', attempts: 0,
        next_attempt_at: d.receivedAt, last_error: null, delivered_at: null, alarmed_at: null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  async dueDeliveries(now: number, limit: number): Promise<Delivery[]> {
    const rows = await this.db
      .selectFrom('centre_deliveries')
      .selectAll()
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .orderBy('received_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(deliveryOf);
  }

  /** A delivery already delivered stays as it was (two deliverers' answers for one id count once). */
  async markDelivered(id: string, at: number): Promise<void> {
    await this.db
      .updateTable('centre_deliveries')
      .set((eb) => ({ state: 'delivered', delivered_at: at, attempts: eb('attempts', '+', 1), last_error: null }))
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .execute();
  }

  async markAttemptFailed(id: string, error: string, nextAttemptAt: number): Promise<void> {
    await this.db
      .updateTable('centre_deliveries')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error, next_attempt_at: nextAttemptAt }))
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .execute();
  }

  /** The first alarm's time stays. */
  async markAlarmed(id: string, at: number): Promise<void> {
    await this.db.updateTable('centre_deliveries').set({ alarmed_at: at }).where('id', '=', id).where('alarmed_at', 'is', null).execute();
  }

  async delivery(id: string): Promise<Delivery | null> {
    const row = await this.db.selectFrom('centre_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? deliveryOf(row) : null;
  }

  async deliveries(options: { site?: string; state?: DeliveryState; kind?: DeliveryKind; limit: number }): Promise<Delivery[]> {
    const { site, state, kind } = options;
    const rows = await this.db
      .selectFrom('centre_deliveries')
      .selectAll()
      .$if(site !== undefined, (q) => q.where('site', '=', site!))
      .$if(state !== undefined, (q) => q.where('state', '=', state!))
      .$if(kind !== undefined, (q) => q.where('kind', '=', kind!))
      .orderBy('received_at', 'desc')
      .orderBy('id', 'desc')
      .limit(options.limit)
      .execute();
    return rows.map(deliveryOf);
  }

  async overdueDeliveries(receivedBefore: number, limit: number): Promise<Delivery[]> {
    const rows = await this.db
      .selectFrom('centre_deliveries')
      .selectAll()
      .where('state', '=', 'pending')
      .where('alarmed_at', 'is', null)
      .where('received_at', '<', receivedBefore)
      .orderBy('received_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(deliveryOf);
  }
}
