/**
 * A secret from a request (a session cookie, the kiosk's stream key) against
 * the one the server holds, in constant time. Compared as UTF-8 bytes, whose
 * lengths are checked first: a string of the same length can hold more bytes
 * (any character over 0x7f), and timingSafeEqual throws on unequal lengths.
 */
import { timingSafeEqual } from 'node:crypto';

export function sameSecret(given: string, known: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(known, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
