/**
 * Operator passwords, kept in console.yaml only as an scrypt hash (RFC 7914),
 * in the same stored form as the gate's staff PINs (edge-agent/privacy/staff-pin.ts):
 * scrypt$N$r$p$salt$hash, salt and hash base64url without padding.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export const PASSWORD_RULES = { minLength: 10, maxLength: 256 } as const;

// RFC 7914 §2's interactive-login figures, as for staff PINs.
const N = 2 ** 15;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// A hostile config must not make the console allocate gigabytes.
const MAX_N = 2 ** 20;
const MAX_R = 16;
const MAX_P = 4;

export const PASSWORD_HASH_PATTERN = '^scrypt\\$[1-9][0-9]{0,7}\\$[1-9][0-9]?\\$[1-9][0-9]?\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$';

export class PasswordError extends Error {
  override readonly name = 'PasswordError';
  constructor(readonly code: 'password-rules' | 'malformed-hash', message: string) {
    super(message);
  }
}

export function passwordFollowsRules(password: string): boolean {
  return password.length >= PASSWORD_RULES.minLength && password.length <= PASSWORD_RULES.maxLength;
}

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r, p, maxmem: 128 * r * (n + 2 + p) };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, HASH_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  if (!passwordFollowsRules(password)) {
    throw new PasswordError('password-rules', `a password is ${PASSWORD_RULES.minLength} to ${PASSWORD_RULES.maxLength} characters`);
  }
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

function parse(stored: string): { n: number; r: number; p: number; salt: Buffer; hash: Buffer } {
  const malformed = (why: string): PasswordError => new PasswordError('malformed-hash', `not a hash from hash-password (scrypt$N$r$p$salt$hash): ${why}`);
  if (!new RegExp(PASSWORD_HASH_PATTERN).test(stored)) throw malformed('wrong shape');
  const [, ns, rs, ps, salt, hash] = stored.split('$') as [string, string, string, string, string, string];
  const n = Number(ns);
  const r = Number(rs);
  const p = Number(ps);
  if (n < 2 || n > MAX_N || (n & (n - 1)) !== 0) throw malformed(`N=${ns} is not a power of two up to 2^20`);
  if (r > MAX_R || p > MAX_P) throw malformed(`r=${rs}, p=${ps} exceed ${MAX_R} and ${MAX_P}`);
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length !== SALT_BYTES || hashBytes.length !== HASH_BYTES) throw malformed('salt or hash of the wrong length');
  return { n, r, p, salt: saltBytes, hash: hashBytes };
}

/** True when `password` is the one `stored` was made from; a malformed `stored` throws (a config mistake). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const want = parse(stored);
  if (password.length === 0 || password.length > PASSWORD_RULES.maxLength) return false;
  const got = await derive(password, want.salt, want.n, want.r, want.p);
  return timingSafeEqual(got, want.hash);
}
