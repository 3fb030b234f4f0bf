/**
 * One error for a message that is refused: a value that does not fit its
 * contract schema (contract.ts), JSON past its bounds (json-bounds.ts), and
 * a message from the link the gate will not act on (signed-message.ts and
 * the handlers of the centre's messages). Callers switch on `code`, a closed
 * set listed here and in docs/errors.md.
 *
 * A refusal's code is the kind of security event the link publishes for it
 * (SECURITY_KINDS, the wire's own list): the link reports exactly the
 * errors isSecurityRefusal takes, with their code as the kind. The contract's
 * and the bounds' codes are none of those kinds, so an error of theirs that
 * no handler turned into a refusal is not reported as one.
 */
import { SECURITY_KINDS, type SecurityKind } from './payloads/lane-up.js';

/** Why a message from the link is refused: the security event's kind. */
export const SECURITY_REFUSALS = SECURITY_KINDS;

/** A value that does not fit the contract schema it was checked against. */
export const CONTRACT_ERRORS = ['contract'] as const;

/** JSON text not parsed (json-bounds.ts). */
export const JSON_BOUNDS_ERRORS = [
  'too-deep', // nested deeper than the bound
  'too-many-values', // more values than the bound
  'not-json', // JSON.parse refused it
] as const;

export const MESSAGE_ERRORS = [...SECURITY_REFUSALS, ...CONTRACT_ERRORS, ...JSON_BOUNDS_ERRORS] as const;

export type ContractErrorCode = (typeof CONTRACT_ERRORS)[number];
export type JsonBoundsErrorCode = (typeof JSON_BOUNDS_ERRORS)[number];
export type MessageErrorCode = (typeof MESSAGE_ERRORS)[number];

export class MessageError extends Error {
  override readonly name = 'MessageError';
  /** For 'contract': the contract schema (a SchemaName of contract.ts) the value does not fit. */
  readonly schema?: string;

  constructor(
    readonly code: MessageErrorCode,
    message: string,
    options: ErrorOptions & { schema?: string } = {},
  ) {
    const { schema, ...errorOptions } = options;
    // Only the keys given: an ErrorOptions holding cause: undefined would set a cause.
    super(message, errorOptions);
    if (schema !== undefined) this.schema = schema;
  }
}

function isOneOf<C extends MessageErrorCode>(codes: readonly C[]): (error: unknown) => error is MessageError & { code: C } {
  return (error: unknown): error is MessageError & { code: C } =>
    error instanceof MessageError && (codes as readonly MessageErrorCode[]).includes(error.code);
}

/** A message the gate refused, to be reported on the security topic with its code as the kind. */
export const isSecurityRefusal: (error: unknown) => error is MessageError & { code: SecurityKind } = isOneOf(SECURITY_REFUSALS);
/** A value that does not fit its contract schema (check in contract.ts). */
export const isContractError = isOneOf(CONTRACT_ERRORS);
/** JSON that parseBoundedJson did not parse. */
export const isJsonBoundsError = isOneOf(JSON_BOUNDS_ERRORS);
