/**
 * One error for what the centre refuses or cannot do: callers switch on
 * `code`, a closed set listed here and in docs/errors.md. The API answers
 * each with its HTTP status and the code in the body.
 */
export const CENTRE_ERRORS = [
  'batch-conflict', // a batch id the store has, with other content (409)
  'unknown-site', // a site the centre does not serve (404)
  'invalid-change', // a change the API refuses: its field and the reason named (400)
  'national-id-subject', // a subject that reads as a national ID number (400): the platform must send the pseudonym
  'batch-too-large', // more changes or bytes than one batch may carry (413)
  'store-unavailable', // the database cannot be reached or brought to its schema
  'key-file', // a signing key or certificate file that cannot be read, or a key that is not its certificate's
  'rollover-refused', // a key rollover the key ring will not start: one is under way, or its times are in the wrong order
  'trust-list-refused', // a trust list file the centre will not push: not a signed list of the site, or not signed by its current key
] as const;

export type CentreErrorCode = (typeof CENTRE_ERRORS)[number];

export class CentreError extends Error {
  override readonly name = 'CentreError';
  constructor(
    readonly code: CentreErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
