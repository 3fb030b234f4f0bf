/**
 * One error for the privacy formats: hashed secrets (operator passwords,
 * staff PINs), sealed registration records and the registration details
 * staff type. Callers switch on `code`, a closed set listed here and in
 * docs/errors.md; messages never echo a secret or what was typed.
 */
import type { NationalIdMessage } from './national-id.js';

/** Operator passwords (passwords.ts). */
export const PASSWORD_ERRORS = [
  'password-rules', // a new password breaks PASSWORD_RULES
  'malformed-password-hash', // a stored password hash is not one hash-password wrote
] as const;

/** Staff PINs (staff-pin.ts). */
export const STAFF_PIN_ERRORS = [
  'pin-rules', // a new PIN breaks PIN_RULES
  'malformed-pin-hash', // staff.pinHash is not one hashPin wrote
] as const;

/** The stored form both share (scrypt-hash.ts). */
export const SCRYPT_HASH_ERRORS = [
  'malformed-scrypt-hash', // a stored string is not scrypt$N$r$p$salt$hash within the bounds
] as const;

/** Sealed registration records (sealed-record.ts). */
export const SEAL_ERRORS = [
  'bad-key', // the authority key is not an X25519 key of the side needed, or not PEM
  'malformed', // a sealed record that is not of the sealed-record shape
  'wrong-key', // sealed to another authority key
  'unauthentic', // altered, or its ephemeral key unusable
] as const;

/** Registration details staff typed (registration.ts), one code per field refused. */
export const REGISTRATION_ERRORS = [
  'registration-details', // no details at all
  'registration-name', // the name is empty or over 64 characters
  'registration-national-id', // not a valid GB 11643 identity number
  'registration-phone', // neither a mainland mobile number nor a landline
] as const;

export const PRIVACY_ERRORS = [
  ...PASSWORD_ERRORS,
  ...STAFF_PIN_ERRORS,
  ...SCRYPT_HASH_ERRORS,
  ...SEAL_ERRORS,
  ...REGISTRATION_ERRORS,
] as const;

export type PrivacyErrorCode = (typeof PRIVACY_ERRORS)[number];
export type RegistrationErrorCode = (typeof REGISTRATION_ERRORS)[number];

/** The field a registration refusal names: the staff page marks it (these names go to the page as they are). */
export type RegistrationField = 'details' | 'name' | 'nationalId' | 'phone';

const REGISTRATION_CODE: Record<RegistrationField, RegistrationErrorCode> = {
  details: 'registration-details',
  name: 'registration-name',
  nationalId: 'registration-national-id',
  phone: 'registration-phone',
};

export interface PrivacyErrorOptions extends ErrorOptions {
  /** Registration codes only: the field refused and what is wrong with it, in Chinese and English. */
  refused?: { field: RegistrationField; bilingual: NationalIdMessage };
}

export class PrivacyError extends Error {
  override readonly name = 'PrivacyError';
  /** With a registration code, the field refused; undefined otherwise. */
  readonly field: RegistrationField | undefined;
  /** With a registration code, what to tell staff; undefined otherwise. */
  readonly bilingual: NationalIdMessage | undefined;

  constructor(
    readonly code: PrivacyErrorCode,
    message: string,
    options?: PrivacyErrorOptions,
  ) {
    super(message, options);
    this.field = options?.refused?.field;
    this.bilingual = options?.refused?.bilingual;
  }

  /** Registration details refused (the message is the bilingual text, as the staff page shows it). */
  static registration(field: RegistrationField, bilingual: NationalIdMessage): PrivacyError {
    return new PrivacyError(REGISTRATION_CODE[field], `${bilingual.zh} / ${bilingual.en}`, { refused: { field, bilingual } });
  }
}

export type RegistrationRefusal = PrivacyError & { code: RegistrationErrorCode; field: RegistrationField; bilingual: NationalIdMessage };

/** True for refused registration details, which carry their field and bilingual message. */
export function isRegistrationRefusal(error: unknown): error is RegistrationRefusal {
  return error instanceof PrivacyError && error.field !== undefined && error.bilingual !== undefined;
}
