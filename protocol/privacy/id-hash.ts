/**
 * The keyed hash an ID-card look-up is asked by (a person without a
 * smartphone swipes their resident ID card; the gate asks the centre for the
 * current colour without sending the number).
 *
 * Why keyed: an 18-character GB 11643 number is far from 18 random digits.
 * Six are a region code out of a few thousand, eight a birth date out of some
 * 40,000 days, three a sequence number, and the last is a check character
 * computed from the others. That is about 10^11 candidates, fewer once the
 * region or birth year is guessed; an unkeyed SHA-256 of them is reversed by
 * brute force on one GPU in minutes. So the hash is HMAC-SHA256 under a site
 * secret of 32 random bytes (256 bits: no search over the key), which the
 * site's gates and the centre share and which is never sent: only someone
 * holding the key can map a number to its hash, and nobody can map back.
 *
 * The key is made by `gate-provision init` and copied into each gate's
 * bundle; the agent reads it from the file privacy.idHashKey names.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';

/** 256 bits: as long as the HMAC's output, so the key is never the weak part. */
export const ID_HASH_KEY_BYTES = 32;

/** Trimmed and upper-cased (the check character X may be typed or read as x): one number, one hash. */
export function normaliseNationalId(nationalId: string): string {
  return nationalId.trim().toUpperCase();
}

/** HMAC-SHA256 of the normalised number under the site key, base64url without padding (43 characters). */
export function idHash(key: Buffer, nationalId: string): string {
  if (key.length < ID_HASH_KEY_BYTES) throw new RangeError(`the id-hash key must be at least ${ID_HASH_KEY_BYTES} bytes`);
  return createHmac('sha256', key).update(normaliseNationalId(nationalId), 'utf8').digest('base64url');
}

/** A hasher bound to one key, for the lane's idHash dependency. */
export function idHasher(key: Buffer): (nationalId: string) => string {
  const copy = Buffer.from(key);
  if (copy.length < ID_HASH_KEY_BYTES) throw new RangeError(`the id-hash key must be at least ${ID_HASH_KEY_BYTES} bytes`);
  return (nationalId) => idHash(copy, nationalId);
}

/** A new site key: 32 random bytes, as the file holds it (base64, one line). */
export function generateIdHashKeyFile(): string {
  return `${randomBytes(ID_HASH_KEY_BYTES).toString('base64')}\n`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The key from a file's text: base64 of at least 32 bytes. Errors never quote the text. */
export function parseIdHashKey(text: string): Buffer {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('the file is empty (it must hold the base64 of a random key of at least 32 bytes)');
  if (!BASE64.test(trimmed) || trimmed.length % 4 !== 0) throw new Error('the file is not one line of base64 (it must hold the base64 of a random key of at least 32 bytes)');
  const key = Buffer.from(trimmed, 'base64');
  if (key.length < ID_HASH_KEY_BYTES) throw new Error(`the key is ${key.length} bytes; at least ${ID_HASH_KEY_BYTES} are needed`);
  return key;
}

/** privacy.idHashKey read and checked; a bad file is a ConfigError naming the key and the path, never the contents. */
export function readIdHashKey(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError('invalid', `privacy.idHashKey: ${path} cannot be read${code ? ` (${code})` : ''}`);
  }
  try {
    return parseIdHashKey(text);
  } catch (error) {
    throw new ConfigError('invalid', `privacy.idHashKey: ${path}: ${(error as Error).message}`);
  }
}
