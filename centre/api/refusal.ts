/**
 * A refusal the API answers with its status and the body of ApiError
 * (protocol/payloads/centre-api.ts), thrown from a hook or a handler and
 * written by the server's one error handler, so that every refusal has the
 * same shape and reaches the audit trail with its code.
 */
import type { ApiErrorBody } from '../../protocol/payloads/centre-api.js';
import type { CentreErrorCode } from '../errors.js';

/** What the API answers besides the CentreError codes: a fault of its own, never the caller's. */
export type ApiErrorCode = CentreErrorCode | 'internal-error';

export class ApiRefusal extends Error {
  override readonly name = 'ApiRefusal';
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly where: Pick<ApiErrorBody, 'row' | 'line' | 'field'> = {},
  ) {
    super(message);
  }

  body(): ApiErrorBody {
    return { error: this.code, message: this.message, ...this.where };
  }
}

/** The HTTP status of each CentreError code. */
export const STATUS_OF: Record<CentreErrorCode, number> = {
  'batch-conflict': 409,
  'unknown-site': 404,
  'invalid-change': 400,
  'national-id-subject': 400,
  'batch-too-large': 413,
  'store-unavailable': 503,
  unauthenticated: 401,
  forbidden: 403,
  'rate-limited': 429,
  'malformed-request': 400,
  'unsupported-content-type': 415,
  'not-found': 404,
  'request-timeout': 408,
  // Never a request's fault: codes of the centre's own start and publishing, answered as the centre failing.
  'department-config': 500,
  'snapshot-too-large': 500,
  'already-running': 503,
  'not-leader': 503,
};
