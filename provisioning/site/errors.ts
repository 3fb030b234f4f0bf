/**
 * Why gate-provision refused, with a stable code for callers and tests to
 * switch on and a message an operator can act on. `usage` errors are a
 * wrong command line (exit 2); the rest are refusals (exit 1). The codes
 * are listed here and in docs/errors.md (a unit test keeps the two equal).
 */
export const PROVISION_ERRORS = [
  'usage', // a wrong command line: a missing or contradictory option, a bad name
  'not-a-site', // the folder is not a site folder (no site record)
  'exists', // the thing to write exists already (--force replaces it, where allowed)
  'duplicate-device', // a device listed twice in one enrolment
  'duplicate-lane', // two devices for one lane
  'csv', // the devices CSV cannot be read or is not of the documented columns
  'passphrase', // the passphrase does not decrypt the site's CA key
  'not-a-certificate', // a file that is not an X.509 certificate (or is a private key, or expired)
  'not-a-signer', // a certificate that may not sign health codes
  'unknown-issuer', // no such issuer kid in the trust list, or not a kid
  'unknown-operator', // no such operator in the site
  'unknown-console', // no such console in the site
  'no-issuers', // the site trusts no issuer: a gate could not start
  'locked', // another gate-provision is changing the site
  'unknown-device', // no such device in the site
  'foreign-certificate', // a certificate not issued by the site's CA
  'revoked', // the device was revoked
  'wrong-auth', // the device logs in the other way (password, certificate) than asked
  'damaged', // the site folder is not as gate-provision left it (a file missing, a key not matching)
] as const;

export type ProvisionErrorCode = (typeof PROVISION_ERRORS)[number];

export class ProvisionError extends Error {
  override readonly name = 'ProvisionError';
  constructor(
    readonly code: ProvisionErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function usage(message: string): ProvisionError {
  return new ProvisionError('usage', message);
}
