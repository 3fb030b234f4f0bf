/**
 * What the centre keeps, whichever database keeps it (SQLite by default, one
 * file and nothing to run; PostgreSQL in production): each site's pushed
 * statuses and the change messages that carried them, the counters the gates
 * hold it to (seq, snapshot version, epoch), the platform's batches by id,
 * the audit trail of the API, and the outbox of deliveries to the
 * epidemic-control department.
 *
 * The rules every implementation keeps:
 * - A change's seq is assigned in the transaction that stores it: one seq per
 *   stored batch (one change message), the site's seq + 1. A seq that was
 *   committed is never assigned again and never goes back; the methods that
 *   store resolve only after the commit.
 * - A batch id is the platform's: the same id with the same content answers
 *   the stored result again (replayed: true) and stores nothing; the same id
 *   with other content is CentreError('batch-conflict'), and nothing is
 *   stored.
 * - Times are epoch ms.
 */
import type { Colour } from '../../protocol/domain.js';

/** One status as the platform sends it and as the store keeps it. */
export interface ColourEntry {
  /** The pseudonymous code subject (never an ID number: the API refuses those). */
  subject: string;
  colour: Colour;
  /** When the platform made the change (epoch ms). */
  effectiveAt: number;
  /** The platform's reason code, if it gave one; kept for look-ups and audits, never sent to gates. */
  reason?: string | null;
  /** The keyed hash of the person's ID number (privacy/id-hash.ts, under the site's key), for ID-card look-ups. */
  idHash?: string | null;
}

/** A status as stored: with the seq of the change message that last wrote it. */
export interface StatusRow extends ColourEntry {
  site: string;
  seq: number;
  /** When the centre stored it. */
  storedAt: number;
}

/** What storing a batch (or a baseline) gave: the seq of its change message. */
export interface BatchResult {
  site: string;
  batchId: string;
  seq: number;
  rows: number;
  storedAt: number;
  /** The same batch came again: nothing was stored, this is the first result. */
  replayed: boolean;
}

export interface BatchInput {
  site: string;
  /** The caller's id for the batch. */
  batchId: string;
  /** Who sent it (an API client's id, or `cli`). */
  client: string;
  /** A digest of the batch's content (the API's canonical form), to tell a retry from a conflict. */
  digest: string;
  changes: ColourEntry[];
}

/** One change message as stored: what the publisher signs and sends, the same bytes after a restart. */
export interface ChangeMessageRow {
  site: string;
  epoch: number;
  seq: number;
  /** The issuedAt the message carries (fixed at commit, so a republish is the same message to a gate). */
  issuedAt: number;
  /** A baseline replaced the whole list at this seq: the message lists no changes and the gates resync from the snapshot. */
  baseline: boolean;
  changes: ColourEntry[];
}

/** A site's counters. */
export interface SiteState {
  site: string;
  /** The last seq committed (0: none yet). */
  seq: number;
  /** Raised by a signed re-baseline (a centre restored from a backup); seqs count again from the epoch's own start. */
  epoch: number;
  /** The last change message the broker took (the publisher goes on from here after a restart). */
  publishedSeq: number;
  /** The retained snapshot's version and the seq it covers (0: none yet). */
  snapshotVersion: number;
  snapshotSeq: number;
  /** The number of statuses the site has. */
  statuses: number;
}

/** One request the API (or the CLI) answered: who, when, what, and how it ended. */
export interface AuditEntry {
  at: number;
  client: string;
  /** e.g. `POST /v1/sites/:site/changes`, or `cli push`. */
  action: string;
  site: string | null;
  batchId: string | null;
  rows: number;
  /** The HTTP status (the CLI: 200 or the exit's HTTP equivalent). */
  status: number;
  /** A CentreError code or the API's refusal reason; null when it succeeded. */
  error: string | null;
}

export type DeliveryKind = 'alert' | 'registration';
export type DeliveryState = 'pending' | 'delivered';

/** One message on its way to the department: a red-code alert, or a sealed registration passed on unopened. */
export interface Delivery {
  /** The gate's message id (the alert's or the registration's): the department dedupes by it. */
  id: string;
  kind: DeliveryKind;
  site: string;
  lane: string;
  /** The message as the gate sent it (JSON text), delivered as it is. */
  body: string;
  receivedAt: number;
  state: DeliveryState;
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: number;
  lastError: string | null;
  deliveredAt: number | null;
  /** When an operator alarm was raised for it (not delivered in time); null: none. */
  alarmedAt: number | null;
}

export interface CentreStore {
  readonly kind: 'sqlite' | 'postgres';

  /** The site's counters, made (all zero) on first use. */
  site(site: string): Promise<SiteState>;
  /** The sites the store has counters for. */
  sites(): Promise<SiteState[]>;

  /**
   * Stores a batch of changes as one change message (seq + 1) in one
   * transaction. At most MAX_COLOUR_CHANGES changes (the caller splits); a
   * subject listed twice: the last wins. Resolves after the commit.
   */
  applyBatch(input: BatchInput, issuedAt: number): Promise<BatchResult>;
  /**
   * Replaces the site's whole list with the rows given, in one transaction
   * (a failure leaves the old list), as one change message marked baseline.
   * `rows` yields chunks; `onProgress` hears the rows taken so far. The batch id and digest are checked
   * before the stream is read (a replay or a conflict leaves it unread: the caller drains or drops it) and
   * again under the site's lock; the rows are staged while they arrive and swapped in at the end, so the
   * site's batches and look-ups go on meanwhile, and the seq is taken only by the swap.
   */
  replaceBaseline(input: Omit<BatchInput, 'changes'>, rows: AsyncIterable<ColourEntry[]>, issuedAt: number, onProgress?: (rows: number) => void): Promise<BatchResult>;

  /** A subject's current status; null: the platform never sent it. */
  status(site: string, subject: string): Promise<StatusRow | null>;
  /** The status of the person whose ID number hashes to `idHash`; null: unknown. */
  statusByIdHash(site: string, idHash: string): Promise<StatusRow | null>;
  /**
   * Every status of the site, in chunks, in byte order of the subject (for the snapshot). Pages are read one
   * after another, not in one read transaction: each row is at least as new as the site's seq read before the
   * call, so a snapshot labelled with that seq is sound (a gate re-applies the later changes, which write the
   * same values).
   */
  statuses(site: string, chunkRows?: number): AsyncIterable<StatusRow[]>;

  /** The change messages after `seq`, oldest first, at most `limit`. */
  changesAfter(site: string, seq: number, limit: number): Promise<ChangeMessageRow[]>;
  /** The broker took every change message up to `seq`. Never goes back. */
  markPublished(site: string, seq: number): Promise<void>;
  /** Records the snapshot just published (its version and the seq it covers). Never goes back. */
  markSnapshot(site: string, version: number, seq: number): Promise<void>;
  /**
   * A signed re-baseline: epoch + 1, seq, publishedSeq and snapshotSeq back to 0 (the new epoch's seqs count
   * from its own start), the older epochs' change messages dropped; the list and snapshotVersion stay. One
   * transaction; returns the new state.
   */
  raiseEpoch(site: string): Promise<SiteState>;
  /** Change messages at or below `seq` that a snapshot covers may go; keeps the newest `keep`. */
  pruneChanges(site: string, seq: number, keep: number): Promise<number>;

  /** Appends to the audit trail. */
  audit(entry: AuditEntry): Promise<void>;
  /** The newest audit entries first. */
  auditTrail(options: { since?: number; client?: string; limit: number }): Promise<AuditEntry[]>;

  /** Stores a delivery if its id is new (pending, due now); false: already there (a redelivery from the broker). */
  enqueueDelivery(delivery: Pick<Delivery, 'id' | 'kind' | 'site' | 'lane' | 'body' | 'receivedAt'>): Promise<boolean>;
  /** Pending deliveries due at `now`, oldest first. */
  dueDeliveries(now: number, limit: number): Promise<Delivery[]>;
  markDelivered(id: string, at: number): Promise<void>;
  markAttemptFailed(id: string, error: string, nextAttemptAt: number): Promise<void>;
  markAlarmed(id: string, at: number): Promise<void>;
  delivery(id: string): Promise<Delivery | null>;
  /** Deliveries newest first, optionally of one site or state. */
  deliveries(options: { site?: string; state?: DeliveryState; kind?: DeliveryKind; limit: number }): Promise<Delivery[]>;
  /** Pending deliveries received before `receivedBefore` and not yet alarmed. */
  overdueDeliveries(receivedBefore: number, limit: number): Promise<Delivery[]>;

  close(): Promise<void>;
}
