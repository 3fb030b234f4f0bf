/**
 * The gate's durable event journal: one SQLite file, append-only.
 * A decision counts as made only once `append` has returned, so every
 * stored event must survive the process being killed at any instant.
 */
import { open } from 'node:fs/promises';
import type SqliteDatabase from 'better-sqlite3';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { GateDatabaseError } from '../database/errors.js';
import { openGateDatabase, type GateDatabase, type GateDatabaseOptions } from '../database/gate-database.js';

type Statement = SqliteDatabase.Statement;

export interface JournalOptions {
  /**
   * 'full' (the default here; the agent's config defaults to 'normal' and
   * calls flush() after the gate acts): every commit fsyncs the WAL, so an appended event
   * survives a process crash and a power cut.
   * 'normal': in WAL mode commits are fsynced only at checkpoints; an event
   * still survives the process being killed (it is in the OS page cache), and
   * the file is never corrupted, but the last commits may be lost on power loss
   * or OS crash. Faster, and enough if the lane has no other promise to keep.
   */
  sync?: GateDatabaseOptions['sync'];
}

export interface ListOptions {
  /** Only this lane's events, in seq order; without it, all events in append order. */
  lane?: string;
  /** With `lane`: only events with seq greater than this (a resume cursor). */
  afterSeq?: number;
  /** At most this many events; unlimited when absent. */
  limit?: number;
}

export class Journal {
  readonly #db: GateDatabase;
  readonly #sync: 'full' | 'normal';
  readonly #path: string;
  readonly #append: (event: Omit<DecisionEvent, 'seq'>, within?: (stored: DecisionEvent) => void) => DecisionEvent;
  readonly #get: Statement;
  readonly #listLane: Statement;
  readonly #listAll: Statement;
  readonly #countLane: Statement;
  readonly #countAll: Statement;
  #appendHook: ((event: DecisionEvent) => void) | null = null;

  /**
   * Opens (and migrates) the gate database at `path` and the journal over it; close() closes the file.
   * A file it cannot open throws openGateDatabase's GateDatabaseError, whose code says why.
   */
  static open(path: string, options: JournalOptions = {}): Journal {
    return Journal.over(openGateDatabase(path, { sync: options.sync }));
  }

  /**
   * The journal of an opened gate database, which it then owns: close()
   * closes the file. flush() follows the connection's synchronous setting.
   */
  static over(db: GateDatabase): Journal {
    // PRAGMA synchronous: 1 is NORMAL; FULL (2) and EXTRA (3) fsync every commit already.
    const sync = db.pragma('synchronous', { simple: true }) === 1 ? 'normal' : 'full';
    return new Journal(db, db.name, sync);
  }

  private constructor(db: GateDatabase, path: string, sync: 'full' | 'normal') {
    this.#db = db;
    this.#path = path;
    this.#sync = sync;
    // Prepared once: append is on the gate's hot path.
    const nextSeq = db.prepare('SELECT coalesce(max(seq), 0) + 1 FROM events WHERE lane = ?').pluck();
    // ON CONFLICT DO NOTHING instead of catching the UNIQUE error: 0 changes
    // means the id is already stored, without parsing SQLite's message.
    const insert = db.prepare(
      `INSERT INTO events (id, lane, seq, time, verdict, reason, event)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    // IMMEDIATE takes the write lock before reading max(seq), so two writers
    // on one file can never hand out the same seq.
    this.#append = db.transaction((event: Omit<DecisionEvent, 'seq'>, within?: (stored: DecisionEvent) => void): DecisionEvent => {
      const seq = nextSeq.get(event.lane) as number;
      const json = JSON.stringify({ ...event, seq });
      const { changes } = insert.run(event.id, event.lane, seq, event.time, event.verdict, event.reason, json);
      if (changes === 0) throw new GateDatabaseError('duplicate-id', `event ${event.id} is already in the journal`);
      // Return what was stored (as get() would), not the caller's object.
      const stored = JSON.parse(json) as DecisionEvent;
      this.#appendHook?.(stored);
      within?.(stored);
      return stored;
    }).immediate;
    this.#get = db.prepare('SELECT event FROM events WHERE id = ?').pluck();
    this.#listLane = db.prepare('SELECT event FROM events WHERE lane = ? AND seq > ? ORDER BY seq LIMIT ?').pluck();
    this.#listAll = db.prepare('SELECT event FROM events ORDER BY rowid LIMIT ?').pluck();
    this.#countLane = db.prepare('SELECT count(*) FROM events WHERE lane = ?').pluck();
    this.#countAll = db.prepare('SELECT count(*) FROM events').pluck();
  }

  /**
   * Stores the event with the lane's next seq. When it returns the event
   * survives the process being killed; with sync 'full' also a power cut,
   * with 'normal' once flush() has resolved. `within` runs in the same
   * transaction, after the append hook; if it throws, nothing is stored.
   */
  append(event: Omit<DecisionEvent, 'seq'>, within?: (stored: DecisionEvent) => void): DecisionEvent {
    return this.#append(event, within);
  }

  /**
   * Make every appended event power-safe. In 'normal' mode this fsyncs the
   * WAL file, where committed events sit until a checkpoint, on libuv's
   * thread pool so the event loop is not held up by the disk; in 'full'
   * mode each append already was, and this does nothing.
   */
  async flush(): Promise<void> {
    if (this.#sync !== 'normal') return;
    const wal = await open(`${this.#path}-wal`, 'r');
    try {
      await wal.sync();
    } finally {
      await wal.close();
    }
  }

  /**
   * Runs inside the transaction that stores each event, so what it writes to
   * the same database (the outbox rows that publish the event) commits with
   * the event or not at all; if it throws, the event is not stored either.
   */
  setAppendHook(hook: ((event: DecisionEvent) => void) | null): void {
    this.#appendHook = hook;
  }

  /**
   * The SQLite handle, for the stores that share the journal's file (the
   * outbox, pushed colours, seen command ids) so that a decision and what
   * follows from it commit in one transaction.
   */
  get database(): GateDatabase {
    return this.#db;
  }

  get(id: string): DecisionEvent | undefined {
    const json = this.#get.get(id) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as DecisionEvent);
  }

  list(opts: ListOptions = {}): DecisionEvent[] {
    const limit = opts.limit ?? -1; // SQLite: a negative LIMIT means none
    let rows: unknown[];
    if (opts.lane !== undefined) rows = this.#listLane.all(opts.lane, opts.afterSeq ?? 0, limit);
    else if (opts.afterSeq !== undefined) throw new TypeError('list: afterSeq needs a lane (seq is per lane)');
    else rows = this.#listAll.all(limit);
    return rows.map((json) => JSON.parse(json as string) as DecisionEvent);
  }

  count(lane?: string): number {
    return (lane === undefined ? this.#countAll.get() : this.#countLane.get(lane)) as number;
  }

  close(): void {
    this.#db.close();
  }
}
