/**
 * The gate's store of sealed registration records, and their purge after
 * privacy.retentionDays (rules §6 "only what is
 * necessary"). The table lives in the journal's file so a registration and
 * its decision event can later commit in one transaction.
 *
 * Only this table is purged here: the journal's own events carry no
 * personal data (domain.ts: a pseudonymous code id, never a name or ID
 * number), so they follow the journal's and the outbox's own limits.
 */
import type SqliteDatabase from 'better-sqlite3';
import { parseSealedRecord, type SealedRecord } from '../../protocol/privacy/sealed-record.js';
import type { GateDatabase } from '../database/gate-database.js';

type Statement = SqliteDatabase.Statement;

const DAY_MS = 86_400_000;

// The records are sealed, so free pages and the WAL hold only ciphertext
// after a delete; that is why the connection's secure_delete is left alone.

export interface RegistrationStoreOptions {
  /** Days a sealed record is kept after its registration time (config privacy.retentionDays). */
  retentionDays: number;
}

export class RegistrationStore {
  readonly #retentionMs: number;
  readonly #insert: Statement;
  readonly #get: Statement;
  readonly #purge: Statement;
  readonly #count: Statement;

  /** A store kept in `db` (normally the journal's). */
  constructor(db: GateDatabase, options: RegistrationStoreOptions) {
    const days = options.retentionDays;
    if (!Number.isInteger(days) || days < 1) throw new RangeError(`retentionDays must be a whole number of days ≥ 1; got ${days}`);
    this.#retentionMs = days * DAY_MS;
    this.#insert = db.prepare('INSERT INTO registrations (event_id, time, sealed) VALUES (?, ?, ?)');
    this.#get = db.prepare('SELECT sealed FROM registrations WHERE event_id = ?').pluck();
    this.#purge = db.prepare('DELETE FROM registrations WHERE time < ?');
    this.#count = db.prepare('SELECT count(*) FROM registrations').pluck();
  }

  /** Stores a record already sealed; the shape is checked, the content cannot be. A second record with the same event id throws. */
  add(sealedRecord: SealedRecord): void {
    const sealed = parseSealedRecord(sealedRecord);
    const time = Date.parse(sealed.time);
    if (!Number.isFinite(time)) throw new RangeError('sealed record time is not an ISO 8601 time');
    this.#insert.run(sealed.eventId, time, JSON.stringify(sealed));
  }

  get(eventId: string): SealedRecord | undefined {
    const json = this.#get.get(eventId) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as SealedRecord);
  }

  /** Deletes records registered more than retentionDays before `now`; returns how many went. */
  purge(now: Date | number): number {
    const nowMs = typeof now === 'number' ? now : now.getTime();
    return this.#purge.run(nowMs - this.#retentionMs).changes;
  }

  count(): number {
    return this.#count.get() as number;
  }
}
