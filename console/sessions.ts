/**
 * Operator sign-in: a name and password checked against the scrypt hashes
 * in the config, a random session token for an HttpOnly cookie, sessions
 * that end after sessionMinutes unused or sessionMaxHours after sign-in,
 * and a lock after repeated wrong passwords from one client (the approach of
 * edge-agent/screen/staff-sessions.ts). Sessions live in memory: a restart
 * of the console signs everyone out.
 */
import { randomBytes } from 'node:crypto';
import type { ConsoleUser } from '../protocol/config/console-config.js';
import { verifyPassword } from '../protocol/privacy/passwords.js';

export interface Session {
  user: string;
  role: ConsoleUser['role'];
  createdAt: number;
  lastSeen: number;
}

export type SignInResult = { ok: true; token: string; session: Session } | { ok: false; why: 'wrong' | 'locked'; retryAfterMs?: number };

export interface OperatorSessionOptions {
  users: ConsoleUser[];
  idleMs: number;
  maxMs: number;
  maxFailures?: number;
  lockMs?: number;
  now?: () => number;
}

/** A hash of nothing anyone knows: an unknown name costs the same scrypt as a known one. */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const MAX_CLIENTS = 1024;

export class OperatorSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly failures = new Map<string, { count: number; lockedUntil: number }>();
  private checking: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: OperatorSessionOptions) {
    this.now = options.now ?? Date.now;
  }

  /** One check at a time: scrypt is slow on purpose, and parallel guesses must not beat the lock. */
  signIn(name: string, password: string, client: string): Promise<SignInResult> {
    const attempt = this.checking.then(() => this.check(name, password, client));
    this.checking = attempt.catch(() => undefined);
    return attempt;
  }

  private async check(name: string, password: string, client: string): Promise<SignInResult> {
    const now = this.now();
    const record = this.failures.get(client);
    if (record && now < record.lockedUntil) return { ok: false, why: 'locked', retryAfterMs: record.lockedUntil - now };
    const user = this.options.users.find((u) => u.name === name);
    const right = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !right) {
      if (this.failures.size >= MAX_CLIENTS && !record) this.failures.delete(this.failures.keys().next().value!);
      const next = record ?? { count: 0, lockedUntil: 0 };
      next.count++;
      this.failures.set(client, next);
      if (next.count >= (this.options.maxFailures ?? 5)) {
        next.count = 0;
        next.lockedUntil = now + (this.options.lockMs ?? 60_000);
        return { ok: false, why: 'locked', retryAfterMs: this.options.lockMs ?? 60_000 };
      }
      return { ok: false, why: 'wrong' };
    }
    this.failures.delete(client);
    const token = randomBytes(32).toString('base64url');
    const session: Session = { user: user.name, role: user.role, createdAt: now, lastSeen: now };
    this.sessions.set(token, session);
    return { ok: true, token, session };
  }

  /** The live session of this token, which this use keeps alive; null when none or expired. */
  touch(token: string | undefined): Session | null {
    if (!token) return null;
    const now = this.now();
    this.expire(now);
    const session = this.sessions.get(token);
    if (!session) return null;
    session.lastSeen = now;
    return session;
  }

  /** True while the session lives, without counting as a use (an open event stream must not keep it alive). */
  alive(token: string | undefined): boolean {
    if (!token) return false;
    this.expire(this.now());
    return this.sessions.has(token);
  }

  private expire(now: number): void {
    for (const [token, s] of this.sessions) {
      if (now - s.lastSeen > this.options.idleMs || now - s.createdAt > this.options.maxMs) this.sessions.delete(token);
    }
  }

  signOut(token: string | undefined): void {
    if (token) this.sessions.delete(token);
  }

  clear(): void {
    this.sessions.clear();
  }
}
