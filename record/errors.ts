/**
 * One error for what the record's store cannot do: callers switch on
 * `code`, a closed set listed here and in docs/errors.md.
 */
export const RECORD_ERRORS = [
  'store-unavailable', // the PostgreSQL store cannot be reached or brought to its schema at start
] as const;

export type RecordErrorCode = (typeof RECORD_ERRORS)[number];

export class RecordError extends Error {
  override readonly name = 'RecordError';
  constructor(
    readonly code: RecordErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
