/**
 * The centre's tables as Kysely sees them, one row type per table under the
 * columns' SQL names. Both databases hold the same columns; a flag comes back
 * true/false from PostgreSQL and 1/0 from SQLite (record/database.ts `flag`
 * reads either), epoch ms and counts are numbers in both (BIGINT parsed by
 * record/dialects.ts POSTGRES_TYPES). Every table is prefixed `centre_` so
 * the centre can share a PostgreSQL database with the console's record.
 */
import type { Generated, SqlBool } from 'kysely';

/** A site's counters: the row whose lock orders the site's writes. */
export interface SitesTable {
  site: string;
  seq: number;
  epoch: number;
  statuses: number;
}

/** What the publisher has sent of a site, apart from the row the storing transactions lock (no row: nothing yet). */
export interface PublishTable {
  site: string;
  published_seq: number;
  snapshot_version: number;
  snapshot_seq: number;
}

/** Each subject's current status, with the seq of the change message that last wrote it. */
export interface StatusesTable {
  site: string;
  subject: string;
  colour: string;
  effective_at: number;
  reason: string | null;
  id_hash: string | null;
  seq: number;
  stored_at: number;
}

/** One change message: its entries as JSON text, the issuedAt fixed at commit. */
export interface ChangesTable {
  site: string;
  epoch: number;
  seq: number;
  issued_at: number;
  baseline: SqlBool;
  changes: string;
}

/** The platform's batches by id: the digest tells a retry from a conflict, the rest is the first result. */
export interface BatchesTable {
  site: string;
  batch_id: string;
  digest: string;
  client: string;
  kind: string;
  epoch: number;
  seq: number;
  rows: number;
  stored_at: number;
}

/** A baseline's rows while they stream in, keyed by the upload's token; swapped into statuses in one transaction. */
export interface BaselineRowsTable {
  token: string;
  started_at: number;
  subject: string;
  colour: string;
  effective_at: number;
  reason: string | null;
  id_hash: string | null;
}

export interface AuditTable {
  /** The order entries were written in (newest first for entries of the same millisecond). */
  n: Generated<number>;
  at: number;
  client: string;
  action: string;
  site: string | null;
  batch_id: string | null;
  rows: number;
  status: number;
  error: string | null;
}

export interface DeliveriesTable {
  id: string;
  kind: string;
  site: string;
  lane: string;
  body: string;
  received_at: number;
  state: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  delivered_at: number | null;
  alarmed_at: number | null;
}

export interface CentreDatabase {
  centre_sites: SitesTable;
  centre_publish: PublishTable;
  centre_statuses: StatusesTable;
  centre_changes: ChangesTable;
  centre_batches: BatchesTable;
  centre_baseline_rows: BaselineRowsTable;
  centre_audit: AuditTable;
  centre_deliveries: DeliveriesTable;
}
