/**
 * Staff PINs, kept in config only as an scrypt hash (RFC 7914), so a copied
 * config file does not give away the PIN that opens the staff page.
 * Stored form: scrypt$N$r$p$salt$hash, salt and hash base64url without padding.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export const PIN_RULES = { minDigits: 4, maxDigits: 12 } as const;

// N=2^15, r=8, p=1: RFC 7914 §2's interactive-login figures, about 0.1 s on a small ARM board.
const N = 2 ** 15;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Upper bounds on what a stored string may ask for: a hostile config must not make the gate allocate gigabytes.
const MAX_N = 2 ** 20;
const MAX_R = 16;
const MAX_P = 4;

/** The config schema's pattern for staff.pinHash: the shape hashPin writes. */
export const PIN_HASH_PATTERN = '^scrypt\\$[1-9][0-9]{0,7}\\$[1-9][0-9]?\\$[1-9][0-9]?\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$';

export type StaffPinErrorCode = 'pin-rules' | 'malformed-hash';

export class StaffPinError extends Error {
  override readonly name = 'StaffPinError';
  constructor(readonly code: StaffPinErrorCode, message: string) {
    super(message);
  }
}

export function pinFollowsRules(pin: string): boolean {
  return new RegExp(`^[0-9]{${PIN_RULES.minDigits},${PIN_RULES.maxDigits}}$`).test(pin);
}

function derive(pin: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  // OpenSSL asks for 128·r·(N+2+p) bytes (33 557 504 for the figures above),
  // just over Node's default maxmem of 32 MiB, which would refuse them.
  const options: ScryptOptions = { N: n, r, p, maxmem: 128 * r * (n + 2 + p) };
  return new Promise((resolve, reject) => {
    // The async form runs on libuv's pool: a sign-in must not stall the lane.
    scrypt(pin, salt, HASH_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPin(pin: string): Promise<string> {
  if (!pinFollowsRules(pin)) {
    throw new StaffPinError('pin-rules', `a staff PIN is ${PIN_RULES.minDigits} to ${PIN_RULES.maxDigits} digits`);
  }
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(pin, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

interface ParsedHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parse(stored: string): ParsedHash {
  const malformed = (why: string): StaffPinError =>
    new StaffPinError('malformed-hash', `staff.pinHash is not a hash from hashPin (scrypt$N$r$p$salt$hash): ${why}`);
  if (!new RegExp(PIN_HASH_PATTERN).test(stored)) throw malformed('wrong shape');
  const [, ns, rs, ps, salt, hash] = stored.split('$') as [string, string, string, string, string, string];
  const n = Number(ns);
  const r = Number(rs);
  const p = Number(ps);
  // scrypt's N must be a power of two above 1 (RFC 7914 §2).
  if (n < 2 || n > MAX_N || (n & (n - 1)) !== 0) throw malformed(`N=${ns} is not a power of two up to 2^20`);
  if (r > MAX_R || p > MAX_P) throw malformed(`r=${rs}, p=${ps} exceed ${MAX_R} and ${MAX_P}`);
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length !== SALT_BYTES || hashBytes.length !== HASH_BYTES) throw malformed('salt or hash of the wrong length');
  return { n, r, p, salt: saltBytes, hash: hashBytes };
}

/**
 * True when `pin` is the PIN `stored` was made from. A malformed `stored`
 * throws (a config mistake to report, not a wrong PIN to count).
 */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const want = parse(stored);
  // The rules are public: refusing a PIN that breaks them early leaks nothing.
  if (!pinFollowsRules(pin)) return false;
  const got = await derive(pin, want.salt, want.n, want.r, want.p);
  return timingSafeEqual(got, want.hash);
}
