/**
 * One error for the gate's SQLite file and the stores over it: the file
 * itself (gate-database.ts, migrate.ts), the journal and the outbox.
 * Callers switch on `code`, a closed set listed here and in docs/errors.md;
 * the message names the file or the record.
 */

/** Opening the file and bringing it to this code's schema. */
export const DATABASE_FILE_ERRORS = [
  'unreadable', // not SQLite, or damaged where it was read
  'unknown-schema', // tables of a version no release wrote
  'newer-schema', // written by a newer release
] as const;

/** The decision journal (journal/journal.ts). */
export const JOURNAL_ERRORS = [
  'duplicate-id', // an event whose id is in the journal already
] as const;

/** The outbox of messages for the centre (link/outbox.ts). */
export const OUTBOX_ERRORS = [
  'invalid-message', // a message the outbox cannot keep: no id, a topic MQTT forbids, a QoS or priority it does not know
] as const;

export const GATE_DATABASE_ERRORS = [...DATABASE_FILE_ERRORS, ...JOURNAL_ERRORS, ...OUTBOX_ERRORS] as const;

export type DatabaseFileErrorCode = (typeof DATABASE_FILE_ERRORS)[number];
export type GateDatabaseErrorCode = (typeof GATE_DATABASE_ERRORS)[number];

export class GateDatabaseError extends Error {
  override readonly name = 'GateDatabaseError';
  constructor(
    readonly code: GateDatabaseErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
