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
  'department-config', // the department's webhook settings cannot be used: the URL, the secret file, the CA
  'unauthenticated', // no bearer token or client certificate, or one the centre does not know (401)
  'forbidden', // a client acting on a site not among its sites, or a viewer writing (403)
  'rate-limited', // more requests in a minute than the client's requestsPerMinute (429)
  'malformed-request', // a body that is not JSON, a query or path that does not fit the API, a header too long (400, 431)
  'unsupported-content-type', // a body in a type the route does not take (415)
  'not-found', // no such route, subject or delivery (404)
  'request-timeout', // a request body that did not arrive in time (408)
  'snapshot-too-large', // a site's snapshot would list more statuses or bytes than a gate reads: not published, an operator alarm
  'already-running', // another centre process leads on the same SQLite file: this one does not start
  'not-leader', // a write sent to a centre process that does not lead (a standby): 503, the platform retries on the leader
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
