/**
 * The leader "election" on SQLite: one centre process per database file. A
 * second `gate-centre run` on the same file refuses to start
 * (CentreError 'already-running'); it does not wait as a standby.
 *
 * Why refuse rather than wait: an SQLite file lives on one host's disk, so a
 * standby on the same file can only stand in for a process that died, not
 * for the host — and the service manager (systemd's Restart=) already does
 * that in seconds without a second process holding the file open. A second
 * process is far more often a mistake (a unit and a hand-started copy, two
 * units pointing at one path); a standby would hide it behind a process that
 * looks as if it runs. High availability is what the PostgreSQL store is for.
 *
 * The lock: a small SQLite file beside the database (`<path>.leader`) in
 * which this process opens a write transaction (BEGIN IMMEDIATE: SQLite's
 * RESERVED lock, an fcntl byte-range lock) and keeps it open while it
 * leads. The kernel drops the lock when the process ends however it ends
 * (kill -9 included), so there is no stale lock file to clean up. Only the
 * leader takes it: the CLI's store commands open the database beside a
 * running centre. Needs a local file system (fcntl locks over NFS are not to
 * be trusted). An in-memory database (`:memory:`) cannot be shared: the
 * process leads with no lock.
 *
 * The lock cannot be lost while the process lives, so 'lost' is never
 * emitted and `leading` is true from start() to stop().
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import { CentreError } from '../errors.js';
import type { LeaderElection, LeaderEvents } from './election.js';

export interface SqliteElectionOptions {
  /** The centre's database file (store.sqlite.path). */
  path: string;
  logger?: Logger;
}

/** The lock file for a database file. */
export const leaderLockPath = (path: string): string => `${path}.leader`;

export class SqliteLeaderElection extends EventEmitter<LeaderEvents> implements LeaderElection {
  private lock: BetterSqlite3.Database | null = null;
  private held = false;
  private readonly log: Logger;

  constructor(private readonly options: SqliteElectionOptions) {
    super();
    this.log = (options.logger ?? pino({ enabled: false })).child({ component: 'leader' });
  }

  get leading(): boolean {
    return this.held;
  }

  /** Leads, or rejects with CentreError 'already-running' when another process holds the file. */
  async start(): Promise<void> {
    if (this.held) return;
    if (this.options.path !== ':memory:') this.lock = this.takeLock(leaderLockPath(this.options.path));
    this.held = true;
    this.log.info({ lock: this.lock?.name ?? null }, 'leading');
    this.emit('leading');
  }

  async stop(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    // Closing rolls the open transaction back, which is what frees the lock.
    this.lock?.close();
    this.lock = null;
    this.log.info('released the lead');
  }

  private takeLock(file: string): BetterSqlite3.Database {
    mkdirSync(dirname(file), { recursive: true });
    // timeout 0: a lock held by another process is an answer now, not after a wait.
    const db = new BetterSqlite3(file, { timeout: 0 });
    try {
      db.exec('BEGIN IMMEDIATE');
      return db;
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') {
        throw new CentreError(
          'already-running',
          `another centre process runs on ${this.options.path}: it holds ${file} (see \`fuser ${file}\`); stop it first, or use the PostgreSQL store to run a standby`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
