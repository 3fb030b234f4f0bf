/**
 * The API's bearer tokens: 32 random bytes in base64url, kept in the config
 * only as their SHA-256 (hex). A token has 256 random bits, so a fast hash is
 * enough: nothing can be guessed from it, and the check costs nothing per
 * request. `gate-centre token` prints a new one with its hash.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NewToken {
  /** Given to the client once, never stored. */
  token: string;
  /** What clients[].tokenSha256 holds. */
  tokenSha256: string;
}

export function makeToken(): NewToken {
  const token = randomBytes(32).toString('base64url');
  return { token, tokenSha256: tokenSha256(token) };
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A presented token against a stored hash, in constant time (both digests are 32 bytes, whatever was sent). */
export function tokenMatches(token: string, storedSha256: string): boolean {
  const given = createHash('sha256').update(token, 'utf8').digest();
  const known = Buffer.from(storedSha256, 'hex');
  return known.length === given.length && timingSafeEqual(given, known);
}
