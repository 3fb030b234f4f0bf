/**
 * Secrets kept only as scrypt hashes (RFC 7914): the gate's staff PIN
 * (staff-pin.ts) and the fleet console's operator passwords. One stored form,
 * scrypt$N$r$p$salt$hash with salt and hash base64url without padding, so a
 * copied config file gives away neither.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { PrivacyError } from './errors.js';

// N=2^15, r=8, p=1: RFC 7914 §2's interactive-login figures, about 0.1 s on a small ARM board.
const N = 2 ** 15;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Upper bounds on what a stored string may ask for: a hostile config must not make us allocate gigabytes.
const MAX_N = 2 ** 20;
const MAX_R = 16;
const MAX_P = 4;

/** The shape scryptHash writes, for config schemas. */
export const SCRYPT_HASH_PATTERN = '^scrypt\\$[1-9][0-9]{0,7}\\$[1-9][0-9]?\\$[1-9][0-9]?\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$';

function derive(secret: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  // OpenSSL asks for 128·r·(N+2+p) bytes (33 557 504 for the figures above),
  // just over Node's default maxmem of 32 MiB, which would refuse them.
  const options: ScryptOptions = { N: n, r, p, maxmem: 128 * r * (n + 2 + p) };
  return new Promise((resolve, reject) => {
    // The async form runs on libuv's pool: a sign-in must not stall the lane or the console's feed.
    scrypt(secret.normalize('NFC'), salt, HASH_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function scryptHash(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(secret, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

interface Parsed {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** The hash's parts, or what is wrong with it (never what it holds). */
function parse(stored: string): Parsed | { why: string } {
  if (!new RegExp(SCRYPT_HASH_PATTERN).test(stored)) return { why: 'wrong shape' };
  const [, ns, rs, ps, salt, hash] = stored.split('$') as [string, string, string, string, string, string];
  const n = Number(ns);
  const r = Number(rs);
  const p = Number(ps);
  // scrypt's N must be a power of two above 1 (RFC 7914 §2).
  if (n < 2 || n > MAX_N || (n & (n - 1)) !== 0) return { why: `N=${ns} is not a power of two up to 2^20` };
  if (r > MAX_R || p > MAX_P) return { why: `r=${rs}, p=${ps} exceed ${MAX_R} and ${MAX_P}` };
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length !== SALT_BYTES || hashBytes.length !== HASH_BYTES) return { why: 'salt or hash of the wrong length' };
  return { n, r, p, salt: saltBytes, hash: hashBytes };
}

/**
 * What is wrong with `stored`, never what it holds; null when it is a hash
 * scryptHash could have written. Wrong is a config mistake to report, not a
 * wrong secret to count.
 */
export function scryptHashProblem(stored: string): string | null {
  const parsed = parse(stored);
  return 'why' in parsed ? parsed.why : null;
}

/** True when `secret` is the one `stored` was made from, compared in constant time. */
export async function scryptMatches(secret: string, stored: string): Promise<boolean> {
  const want = parse(stored);
  if ('why' in want) throw new PrivacyError('malformed-scrypt-hash', `not an scrypt hash (scrypt$N$r$p$salt$hash): ${want.why}`);
  const got = await derive(secret, want.salt, want.n, want.r, want.p);
  return timingSafeEqual(got, want.hash);
}
