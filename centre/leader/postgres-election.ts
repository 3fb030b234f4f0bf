/**
 * The leader election on PostgreSQL: the leader is the process whose session
 * holds the advisory lock `lockKey` (pg_try_advisory_lock, session level), on
 * a connection of its own that does nothing else, so no pool can hand it
 * over and no long statement can hold up a check.
 *
 * Every checkMs the leader asks the server whether this session still holds
 * the lock; it steps down at once ('lost') when it cannot prove it: the check
 * fails, answers late (checkTimeoutMs) or says no, the connection reports an
 * error or ends, or the lease (election.ts) runs out. It then closes the
 * connection (which frees the lock if the server still thinks it is held) and
 * becomes a standby after rejoinMs. A standby tries to take the lock every
 * checkMs; when it gets it, it waits one lease, still checking, before it
 * leads (election.ts says why).
 *
 * What frees a lost leader's lock on the server, so a standby can take over:
 * - its process dies: its kernel closes the connection, the server frees the
 *   lock at once;
 * - it is paused (GC, SIGSTOP) or its host or network is gone: the session is
 *   idle and the server ends it after idle_session_timeout (idleSessionMs,
 *   PostgreSQL 14 and later). TCP keep-alive (tcp_keepalives_*,
 *   tcp_user_timeout, set on the session too) covers a dead host on an older
 *   server; a paused process there keeps the lock until it resumes — never
 *   two leaders, but no takeover either.
 * On our side the check's own timeout (checkTimeoutMs, also the session's
 * statement_timeout) bounds how long a cut connection can look alive; TCP
 * keep-alive on the socket keeps middleboxes from dropping the quiet
 * connection and ends one whose peer is gone for good.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { redactedUrl } from '../../record/postgres-store.js';
import { leaderTimings, monotonicMs, type LeaderElection, type LeaderEvents, type LeaderTimings, type LostReason } from './election.js';

export interface PostgresElectionOptions {
  url: string;
  lockKey: number;
  checkMs: number;
  logger?: Logger;
  /** What pg_stat_activity shows for the election's connection. */
  applicationName?: string;
}

type State = 'stopped' | 'standby' | 'acquiring' | 'leading';

/** True when this session holds the advisory lock on one bigint key (classid = high 32 bits, objid = low 32, objsubid = 1). */
const HOLDS_LOCK = `SELECT EXISTS (
  SELECT 1 FROM pg_locks
   WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
     AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1
) AS held`;

/** The session's timeouts, in one round trip; idle_session_timeout only where the server has it (14 and later). */
const SESSION_SETTINGS = `SELECT set_config('statement_timeout', $1, false),
  set_config('tcp_keepalives_idle', $2, false), set_config('tcp_keepalives_interval', '1', false),
  set_config('tcp_keepalives_count', '2', false), set_config('tcp_user_timeout', $3, false),
  CASE WHEN current_setting('server_version_num')::int >= 140000 THEN set_config('idle_session_timeout', $3, false) END AS idle`;

class CheckTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class PostgresLeaderElection extends EventEmitter<LeaderEvents> implements LeaderElection {
  readonly timings: LeaderTimings;
  private readonly log: Logger;
  private readonly shown: string;
  private state: State = 'stopped';
  /** The role last announced, so each event is emitted once per change. */
  private announced: 'none' | 'standby' | 'leading' = 'none';
  private client: pg.Client | null = null;
  /** Bumped whenever a connection is dropped: answers and events of an older one are ignored. */
  private generation = 0;
  private leaseUntil = 0;
  private heldSince = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private rejoinAfterLoss = false;
  private ticking: Promise<void> | null = null;
  /** Set from the moment a tick begins (before its promise exists) until it ends. */
  private inTick = false;
  private settleStart: (() => void) | null = null;

  constructor(private readonly options: PostgresElectionOptions) {
    super();
    this.timings = leaderTimings(options.checkMs);
    this.log = (options.logger ?? pino({ enabled: false })).child({ component: 'leader', lockKey: options.lockKey });
    this.shown = redactedUrl(options.url);
  }

  get leading(): boolean {
    if (this.state !== 'leading') return false;
    if (monotonicMs() < this.leaseUntil) return true;
    // The caller is about to act: it must not, and it hears 'lost' once its own code has run.
    this.stepDown('lease-expired', `no successful check for ${this.timings.leaseMs} ms (the process was paused or its event loop blocked)`, true);
    return false;
  }

  start(): Promise<void> {
    if (this.state !== 'stopped') return Promise.resolve();
    this.state = 'standby';
    this.announced = 'none';
    return new Promise((resolve) => {
      this.settleStart = resolve;
      this.schedule(0);
    });
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const held = this.state === 'leading' || this.state === 'acquiring';
    this.state = 'stopped';
    this.clearTimers();
    this.settleStart?.();
    this.settleStart = null;
    await this.ticking?.catch(() => {});
    const client = this.client;
    if (client && held) {
      try {
        await withTimeout(client.query('SELECT pg_advisory_unlock($1)', [this.options.lockKey]), this.timings.checkTimeoutMs, 'the unlock');
        this.log.info('released the lead');
      } catch (error) {
        // Closing the session frees the lock all the same.
        this.log.warn({ err: (error as Error).message }, 'unlock failed; closing the connection frees the lock');
      }
    }
    await this.drop();
  }

  private schedule(delayMs: number): void {
    if (this.state === 'stopped') return;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      this.inTick = true;
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        this.inTick = false;
      });
    }, Math.max(0, delayMs));
  }

  private clearTimers(): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.tickTimer = this.leaseTimer = null;
  }

  /** One check (holding the lock) or one attempt (not), then the next one checkMs after this one was sent. */
  private async tick(): Promise<void> {
    const sentAt = monotonicMs();
    if (this.state === 'leading' || this.state === 'acquiring') await this.check(sentAt);
    else await this.attempt(sentAt);
    if (this.state === 'stopped') return;
    const wait = this.rejoinAfterLoss ? this.timings.rejoinMs : this.timings.checkMs - (monotonicMs() - sentAt);
    this.rejoinAfterLoss = false;
    this.schedule(wait);
  }

  private async attempt(sentAt: number): Promise<void> {
    let got: boolean;
    try {
      const client = await this.connection();
      const generation = this.generation;
      const result = await withTimeout(client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [this.options.lockKey]), this.timings.checkTimeoutMs, 'the lock attempt');
      if (generation !== this.generation || this.state === 'stopped') return;
      got = result.rows[0]?.got === true;
    } catch (error) {
      if (this.state === 'stopped') return;
      // The lock may have been granted to a session whose answer was lost: closing it frees the lock.
      await this.drop();
      this.log.warn({ err: (error as Error).message, database: this.shown }, 'cannot try for the lead; trying again');
      this.announce('standby');
      return;
    }
    if (!got) {
      this.announce('standby');
      return;
    }
    this.state = 'acquiring';
    this.heldSince = sentAt;
    this.extendLease(sentAt);
    this.log.info({ waitMs: this.timings.leaseMs }, 'took the lock; leading once any previous leader’s lease has run out');
  }

  private async check(sentAt: number): Promise<void> {
    const client = this.client;
    if (!client) return this.stepDown('connection-ended', 'the connection is gone');
    const generation = this.generation;
    let held: boolean;
    try {
      const result = await withTimeout(client.query<{ held: boolean }>(HOLDS_LOCK, [this.options.lockKey]), this.timings.checkTimeoutMs, 'the check');
      held = result.rows[0]?.held === true;
    } catch (error) {
      if (generation !== this.generation) return;
      return this.stepDown(error instanceof CheckTimeout ? 'check-timeout' : 'check-failed', (error as Error).message);
    }
    if (generation !== this.generation || (this.state !== 'leading' && this.state !== 'acquiring')) return;
    if (!held) return this.stepDown('not-held', 'the server says this session does not hold the lock');
    // The session was alive holding the lock when the server answered, so it held it without a break since it was taken.
    this.extendLease(sentAt);
    if (this.state === 'acquiring' && monotonicMs() - this.heldSince >= this.timings.leaseMs) {
      this.state = 'leading';
      this.announce('leading');
    }
  }

  private extendLease(sentAt: number): void {
    this.leaseUntil = sentAt + this.timings.leaseMs;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    // Nobody may read `leading` for a while: the lease's end is announced all the same.
    this.leaseTimer = setTimeout(() => {
      this.leaseTimer = null;
      if (this.state === 'leading' || this.state === 'acquiring') {
        if (monotonicMs() >= this.leaseUntil) this.stepDown('lease-expired', `no successful check for ${this.timings.leaseMs} ms`);
      }
    }, Math.max(0, this.leaseUntil - monotonicMs()) + 1);
  }

  /**
   * Stops leading now (the state changes before anything else runs), closes
   * the connection, and becomes a standby after rejoinMs. `deferEmit` when
   * called from the getter, so listeners do not run inside the caller's test.
   */
  private stepDown(reason: LostReason, message: string, deferEmit = false): void {
    if (this.state !== 'leading' && this.state !== 'acquiring') return;
    const wasLeading = this.state === 'leading';
    this.state = 'standby';
    this.rejoinAfterLoss = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.leaseTimer = null;
    void this.drop();
    if (!this.inTick) {
      // Between ticks: the next one is an attempt, and not before rejoinMs (a tick under way sees rejoinAfterLoss).
      if (this.tickTimer) clearTimeout(this.tickTimer);
      this.tickTimer = null;
      this.rejoinAfterLoss = false;
      this.schedule(this.timings.rejoinMs);
    }
    this.log.error({ reason, err: message, leading: wasLeading }, wasLeading ? 'lost the lead: stepped down' : 'lost the lock before leading');
    const announce = (): void => {
      if (wasLeading) {
        this.announced = 'standby';
        this.emit('lost', { reason, message });
        this.emit('standby');
        this.settle();
      } else this.announce('standby');
    };
    if (deferEmit) process.nextTick(announce);
    else announce();
  }

  private announce(role: 'standby' | 'leading'): void {
    if (this.state === 'stopped' || this.announced === role) return this.settle();
    this.announced = role;
    this.log.info(role === 'leading' ? 'leading' : 'standby: another centre leads, or the database cannot be reached');
    this.emit(role);
    this.settle();
  }

  private settle(): void {
    this.settleStart?.();
    this.settleStart = null;
  }

  /** The election's own connection, made on demand, with the session settings that bound a silent leader. */
  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const { checkMs, checkTimeoutMs, idleSessionMs } = this.timings;
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: Math.max(2_000, 2 * checkTimeoutMs),
      keepAlive: true,
      keepAliveInitialDelayMillis: checkMs,
      application_name: this.options.applicationName ?? 'health-code-centre-leader',
    });
    const generation = this.generation;
    client.on('error', (error) => this.connectionLost(generation, 'connection-error', error.message));
    client.on('end', () => this.connectionLost(generation, 'connection-ended', 'the connection ended'));
    this.client = client;
    try {
      await client.connect();
      await withTimeout(
        client.query(SESSION_SETTINGS, [String(checkTimeoutMs), String(Math.max(1, Math.ceil(checkMs / 1000))), String(idleSessionMs)]),
        checkTimeoutMs,
        'the session settings',
      );
    } catch (error) {
      if (this.client === client) await this.drop();
      throw error;
    }
    return client;
  }

  private connectionLost(generation: number, reason: LostReason, message: string): void {
    if (generation !== this.generation) return;
    if (this.state === 'leading' || this.state === 'acquiring') return this.stepDown(reason, message);
    // A standby's connection: made again at the next attempt.
    void this.drop();
  }

  /** Closes the connection, bounded: a socket that does not close in checkTimeoutMs is destroyed. */
  private async drop(): Promise<void> {
    const client = this.client;
    this.generation += 1;
    this.client = null;
    if (!client) return;
    client.on('error', () => {});
    await withTimeout(client.end(), this.timings.checkTimeoutMs, 'closing').catch(() => client.connection.stream.destroy());
  }
}
