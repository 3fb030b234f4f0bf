/**
 * Staff sign-in on the staff page: the PIN checked against its scrypt hash
 * in config, a random session token in an HttpOnly cookie, sessions that
 * end after a quiet spell, and a lock after repeated wrong PINs so that a
 * 4-digit PIN cannot be walked through from the page. Wrong PINs are counted
 * per client address, so that a stranger on the network cannot lock staff
 * out; a higher count over all clients locks everyone as a backstop against
 * guesses spread over many addresses.
 */
import { randomBytes } from 'node:crypto';
import { verifyPin } from '../../protocol/privacy/staff-pin.js';
import { sameSecret } from '../../protocol/http/same-secret.js';

export interface StaffSessionOptions {
  /** scrypt hash from staff.pinHash; null: nobody can sign in. */
  pinHash: string | null;
  /** A session unused this long ends. */
  idleMs: number;
  /** Wrong PINs in a row from one client before its sign-in locks. */
  maxFailures?: number;
  /** Wrong PINs from all clients, since the last right one, before sign-in locks for everyone. */
  maxFailuresAllClients?: number;
  /** First lock; each further lock doubles it, up to maxLockMs. */
  lockMs?: number;
  maxLockMs?: number;
  now?: () => number;
}

export type SignInResult =
  | { ok: true; token: string }
  | { ok: false; why: 'wrong-pin' | 'locked' | 'no-pin-configured'; retryAfterMs?: number };

/** Sessions live in memory only: a restart signs staff out, which is what a reboot of a gate should do. */
interface Lockout {
  failures: number;
  locks: number;
  lockedUntil: number;
}

/** Clients remembered at most: one more forgets the quietest (a flood of addresses cannot grow the map). */
const MAX_CLIENTS = 1024;

export class StaffSessions {
  private readonly sessions = new Map<string, { lastSeen: number }>();
  private readonly clients = new Map<string, Lockout>();
  private readonly everyone: Lockout = { failures: 0, locks: 0, lockedUntil: 0 };
  /** One PIN check at a time: scrypt is deliberately slow, and parallel guesses must not beat the lock. */
  private checking: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: StaffSessionOptions) {
    this.now = options.now ?? Date.now;
  }

  get configured(): boolean {
    return this.options.pinHash !== null;
  }

  /** `client`: the remote address the attempt came from. */
  signIn(pin: unknown, client = 'local'): Promise<SignInResult> {
    const attempt = this.checking.then(() => this.check(pin, client));
    this.checking = attempt.catch(() => undefined);
    return attempt;
  }

  private async check(pin: unknown, client: string): Promise<SignInResult> {
    const hash = this.options.pinHash;
    if (!hash) return { ok: false, why: 'no-pin-configured' };
    const now = this.now();
    const mine = this.lockoutOf(client);
    const lockedUntil = Math.max(mine.lockedUntil, this.everyone.lockedUntil);
    if (now < lockedUntil) return { ok: false, why: 'locked', retryAfterMs: lockedUntil - now };
    const right = typeof pin === 'string' && (await verifyPin(pin, hash));
    if (!right) {
      const lockedMine = this.fail(mine, this.options.maxFailures ?? 5);
      const lockedAll = this.fail(this.everyone, this.options.maxFailuresAllClients ?? 50);
      const lockMs = Math.max(lockedMine, lockedAll);
      return lockMs > 0 ? { ok: false, why: 'locked', retryAfterMs: lockMs } : { ok: false, why: 'wrong-pin' };
    }
    this.clients.delete(client);
    Object.assign(this.everyone, { failures: 0, locks: 0 });
    const token = randomBytes(32).toString('base64url');
    this.sessions.set(token, { lastSeen: this.now() });
    return { ok: true, token };
  }

  private lockoutOf(client: string): Lockout {
    let lockout = this.clients.get(client);
    if (!lockout) {
      if (this.clients.size >= MAX_CLIENTS) {
        const quietest = [...this.clients].sort(([, a], [, b]) => a.lockedUntil - b.lockedUntil)[0]![0];
        this.clients.delete(quietest);
      }
      lockout = { failures: 0, locks: 0, lockedUntil: 0 };
      this.clients.set(client, lockout);
    }
    return lockout;
  }

  /** Counts a wrong PIN; returns the lock it starts (ms), or 0. */
  private fail(lockout: Lockout, maxFailures: number): number {
    lockout.failures++;
    if (lockout.failures < maxFailures) return 0;
    const base = this.options.lockMs ?? 60_000;
    const lockMs = Math.min(base * 2 ** lockout.locks, this.options.maxLockMs ?? 30 * 60_000);
    lockout.locks++;
    lockout.failures = 0;
    lockout.lockedUntil = this.now() + lockMs;
    return lockMs;
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
      if (sameSecret(token, known)) {
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
