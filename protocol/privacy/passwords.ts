/**
 * Operator passwords, kept in console.yaml only as an scrypt hash, in the
 * stored form of the gate's staff PINs (protocol/privacy/scrypt-hash.ts).
 */
import { PrivacyError } from './errors.js';
import { SCRYPT_HASH_PATTERN, scryptHash, scryptHashProblem, scryptMatches } from './scrypt-hash.js';

export const PASSWORD_RULES = { minLength: 10, maxLength: 256 } as const;

export const PASSWORD_HASH_PATTERN = SCRYPT_HASH_PATTERN;

export function passwordFollowsRules(password: string): boolean {
  return password.length >= PASSWORD_RULES.minLength && password.length <= PASSWORD_RULES.maxLength;
}

export async function hashPassword(password: string): Promise<string> {
  if (!passwordFollowsRules(password)) {
    throw new PrivacyError('password-rules', `a password is ${PASSWORD_RULES.minLength} to ${PASSWORD_RULES.maxLength} characters`);
  }
  return scryptHash(password);
}

/** True when `password` is the one `stored` was made from; a malformed `stored` throws (a config mistake). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const why = scryptHashProblem(stored);
  if (why !== null) throw new PrivacyError('malformed-password-hash', `not a hash from hash-password (scrypt$N$r$p$salt$hash): ${why}`);
  if (password.length === 0 || password.length > PASSWORD_RULES.maxLength) return false;
  return scryptMatches(password, stored);
}
