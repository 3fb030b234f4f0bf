/**
 * Why a credential was refused. The codes are stable: the CLI prints them,
 * the policy maps them to reasons, and tests assert on them.
 * They are listed in the order the verifier meets them.
 */
export const CREDENTIAL_FAILURES = [
  'too-large', // text or decompressed payload over its cap
  'prefix', // not GZHC1: or HC1:
  'base45', // characters or groups outside RFC 9285
  'decompress', // not a zlib stream, or a broken one
  'cose', // CBOR or COSE_Sign1 structure wrong (RFC 9052 §4.2)
  'untrusted-key', // kid not in the trust store, or its certificate not valid when the code was issued
  'signature', // signature does not verify, algorithm not allowed, or key unfit (type, size)
  'key-usage', // signer certificate not allowed for this kind of certificate
  'not-yet-valid', // iat or nbf in the future beyond the clock-skew tolerance
  'expired', // exp reached (on or after exp, RFC 8392 §3.1.4) beyond the clock-skew tolerance
  'claims', // CWT claims missing, mistyped or not as the profile requires
] as const;

export type CredentialFailure = (typeof CREDENTIAL_FAILURES)[number];

/**
 * A refusal with its stable code and a message a person can act on. The
 * verdict carries the code on as its `failure` (VerificationResult).
 */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
  constructor(
    readonly code: CredentialFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Of several refusals found for one code, the one to report: the earliest in
 * CREDENTIAL_FAILURES, the documented order (ties keep their given order).
 */
export function firstFailure<T extends { code: CredentialFailure }>(problems: readonly T[]): T | undefined {
  let first: T | undefined;
  for (const problem of problems) {
    if (!first || CREDENTIAL_FAILURES.indexOf(problem.code) < CREDENTIAL_FAILURES.indexOf(first.code)) first = problem;
  }
  return first;
}
