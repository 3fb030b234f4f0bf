/**
 * One error for the issuer trust a gate loads: certificate files and
 * folders (trust-store.ts) and the signed trust list (trust-list.ts).
 * Callers switch on `code`, a closed set listed here and in docs/errors.md;
 * the message names the file and what is wrong with it.
 */

/** Certificates in PEM or DER, from a file or a folder. */
export const TRUST_STORE_ERRORS = [
  'not-a-certificate', // a file is not an X.509 certificate in PEM or DER (or is JSON: a signed list named elsewhere)
  'unreadable', // the file or folder cannot be read
  'empty', // the file or folder holds no certificate
] as const;

/** The signed trust list gate-provision export-trust writes. */
export const TRUST_LIST_ERRORS = [
  'malformed', // not a JWS, or a payload of the wrong shape
  'no-centre-keys', // no centre certificate to check the signature with (mqtt.centreKeys)
  'bad-signature', // the signature does not verify
  'unknown-key', // signed by a key that is not a centre key
  'wrong-type', // a signed message of another kind
  'wrong-site', // made for another site
  'not-newer', // not newer than the list the gate holds or has loaded (a replay)
  'empty-list', // the list names no issuer certificate
] as const;

export const TRUST_ERRORS = [...TRUST_STORE_ERRORS, ...TRUST_LIST_ERRORS] as const;

export type TrustStoreErrorCode = (typeof TRUST_STORE_ERRORS)[number];
export type TrustListErrorCode = (typeof TRUST_LIST_ERRORS)[number];
export type TrustErrorCode = (typeof TRUST_ERRORS)[number];

export class TrustError extends Error {
  override readonly name = 'TrustError';
  constructor(
    readonly code: TrustErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
