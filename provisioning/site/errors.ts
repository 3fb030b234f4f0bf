/**
 * Why gate-provision refused, with a stable code for callers and tests to
 * switch on and a message an operator can act on. `usage` errors are a
 * wrong command line (exit 2); the rest are refusals (exit 1).
 */
export type ProvisionErrorCode =
  | 'usage'
  | 'not-a-site'
  | 'exists'
  | 'duplicate-device'
  | 'duplicate-lane'
  | 'csv'
  | 'passphrase'
  | 'not-a-certificate'
  | 'not-a-signer'
  | 'unknown-issuer'
  | 'unknown-operator'
  | 'unknown-console'
  | 'no-issuers'
  | 'locked'
  | 'unknown-device'
  | 'foreign-certificate'
  | 'revoked'
  | 'wrong-auth'
  | 'damaged';

export class ProvisionError extends Error {
  override readonly name = 'ProvisionError';
  constructor(
    readonly code: ProvisionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function usage(message: string): ProvisionError {
  return new ProvisionError('usage', message);
}
