/**
 * Staff PINs, kept in config only as an scrypt hash (scrypt-hash.ts), so a
 * copied config file does not give away the PIN that opens the staff page.
 */
import { PrivacyError } from './errors.js';
import { SCRYPT_HASH_PATTERN, scryptHash, scryptHashProblem, scryptMatches } from './scrypt-hash.js';

export const PIN_RULES = { minDigits: 4, maxDigits: 12 } as const;

/** The config schema's pattern for staff.pinHash: the shape hashPin writes. */
export const PIN_HASH_PATTERN = SCRYPT_HASH_PATTERN;

export function pinFollowsRules(pin: string): boolean {
  return new RegExp(`^[0-9]{${PIN_RULES.minDigits},${PIN_RULES.maxDigits}}$`).test(pin);
}

export async function hashPin(pin: string): Promise<string> {
  if (!pinFollowsRules(pin)) {
    throw new PrivacyError('pin-rules', `a staff PIN is ${PIN_RULES.minDigits} to ${PIN_RULES.maxDigits} digits`);
  }
  return scryptHash(pin);
}

/**
 * True when `pin` is the PIN `stored` was made from. A malformed `stored`
 * throws (a config mistake to report, not a wrong PIN to count).
 */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const why = scryptHashProblem(stored);
  if (why !== null) throw new PrivacyError('malformed-pin-hash', `staff.pinHash is not a hash from hashPin (scrypt$N$r$p$salt$hash): ${why}`);
  // The rules are public: refusing a PIN that breaks them early leaks nothing.
  if (!pinFollowsRules(pin)) return false;
  return scryptMatches(pin, stored);
}
