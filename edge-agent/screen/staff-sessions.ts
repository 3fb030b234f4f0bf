/**
 * Staff sign-in on the staff page: the PIN checked against its scrypt hash
 * in config, a random session token in an HttpOnly cookie, sessions that
 * end after a quiet spell, and a lock after repeated wrong PINs so that a
 * 4-digit PIN cannot be walked through from the page.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { verifyPin } from '../privacy/staff-pin.js';

export interface StaffSessionOptions {
  /** scrypt hash from staff.pinHash; null: nobody can sign in. */
  pinHash: string | null;
  /** A session unused this long ends. */
  idleMs: number;
  /** Wrong PINs in a row before the sign-in locks. */
  maxFailures?: number;
  /** First lock; each further lock doubles it, up to maxLockMs. */
  lockMs?: number;
  maxLockMs?: number;
  now?: () => number;
}

export type SignInResult =
  | { ok: true; token: string }
  | { ok: false; why: 'wrong-pin' | 'locked' | 'no-pin-configured'; retryAfterMs?: number };

/** Sessions live in memory only: a restart signs staff out, which is what a reboot of a gate should do. */
export class StaffSessions {
  private readonly sessions = new Map<string, { lastSeen: number }>();
  private failures = 0;
  private locks = 0;
  private lockedUntil = 0;
  /** One PIN check at a time: scrypt is deliberately slow, and parallel guesses must not beat the lock. */
  private checking: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: StaffSessionOptions) {
    this.now = options.now ?? Date.now;
  }

  get configured(): boolean {
    return this.options.pinHash !== null;
  }

  signIn(pin: unknown): Promise<SignInResult> {
    const attempt = this.checking.then(() => this.check(pin));
    this.checking = attempt.catch(() => undefined);
    return attempt;
  }

  private async check(pin: unknown): Promise<SignInResult> {
    const hash = this.options.pinHash;
    if (!hash) return { ok: false, why: 'no-pin-configured' };
    const now = this.now();
    if (now < this.lockedUntil) return { ok: false, why: 'locked', retryAfterMs: this.lockedUntil - now };
    const right = typeof pin === 'string' && (await verifyPin(pin, hash));
    if (!right) {
      this.failures++;
      if (this.failures >= (this.options.maxFailures ?? 5)) {
        const base = this.options.lockMs ?? 60_000;
        const lockMs = Math.min(base * 2 ** this.locks, this.options.maxLockMs ?? 30 * 60_000);
        this.locks++;
        this.failures = 0;
        this.lockedUntil = this.now() + lockMs;
        return { ok: false, why: 'locked', retryAfterMs: lockMs };
      }
      return { ok: false, why: 'wrong-pin' };
    }
    this.failures = 0;
    this.locks = 0;
    const token = randomBytes(32).toString('base64url');
    this.sessions.set(token, { lastSeen: this.now() });
    return { ok: true, token };
  }

  /** True for a live session, which this use keeps alive. */
  touch(token: string | undefined): boolean {
    if (!token) return false;
    const now = this.now();
    for (const [known, session] of this.sessions) {
      if (now - session.lastSeen > this.options.idleMs) {
        this.sessions.delete(known);
        continue;
      }
      // Compared in constant time: the token is the only secret the page holds.
      if (known.length === token.length && timingSafeEqual(Buffer.from(known), Buffer.from(token))) {
        session.lastSeen = now;
        return true;
      }
    }
    return false;
  }

  signOut(token: string | undefined): void {
    if (token) this.sessions.delete(token);
  }

  /** Every session ends (the agent stops). */
  clear(): void {
    this.sessions.clear();
  }
}
