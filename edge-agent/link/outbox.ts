/**
 * The durable outbox: every message for the broker is on disk
 * before it is published and leaves only when the broker has acknowledged
 * it (see outbox-pump.ts). It lives in the journal's SQLite file, so a
 * decision and its outbox message commit in one transaction. Its tables
 * (`outbox`, `outbox_dead`, `outbox_meta`) are the gate database's
 * (database/migrations.ts).
 *
 * Bounds, the stated policy:
 * - Size: at most `maxMessages` rows. An enqueue beyond that drops the oldest
 *   'telemetry' rows first, then the oldest 'event' rows. A dropped event is
 *   not lost for good: decisions stay in the journal, from which the agent can
 *   publish them again (same id, so consumers still drop duplicates).
 * - Age: `prune()` drops rows created more than `maxAgeDays` ago; the agent
 *   calls it at start and then periodically.
 * - Dead letters (rows the broker kept refusing) are kept in `outbox_dead`
 *   under the same bounds: at most `maxMessages`, at most `maxAgeDays` old.
 * - Every drop is counted (persisted, `dropped`) and reported to `onDrop`
 *   with how many rows and the first and last id and rowid.
 * - `onLevel('filling')` fires once when the depth reaches `warnAtFraction`
 *   of `maxMessages`, and `onLevel('ok')` once when it is back under that mark
 *   by 5 % of `maxMessages` (the margin keeps a depth hovering at the mark
 *   from flapping the fault).
 * Reports are delivered in a microtask, i.e. after the caller's transaction
 * has finished, so a throwing callback cannot abort it. A drop made inside a
 * transaction the caller then rolls back is still reported.
 *
 * One file past a few hundred lines: the statements and the bound policy
 * change together.
 */
import type { OutboxConfig } from '../../protocol/config/gate-schema.js';
import { GateDatabaseError } from '../database/errors.js';
import { openGateDatabase, type GateDatabase } from '../database/gate-database.js';

type Database = GateDatabase;

export type OutboxPriority = 'event' | 'telemetry';

export interface OutboxMessage {
  /** The event id: consumers drop duplicates by it. */
  id: string;
  lane: string;
  topic: string;
  /** Stored as bytes; a string is stored as UTF-8. */
  payload: Buffer | string;
  qos: 0 | 1;
  retain?: boolean;
  priority: OutboxPriority;
}

export interface OutboxRow {
  /** Outbox order; never reused, so it works as a resume cursor. */
  rowid: number;
  id: string;
  lane: string;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  priority: OutboxPriority;
  /** Milliseconds since the epoch, by the clock given in the options. */
  createdMs: number;
  /** Times the broker refused it. */
  tries: number;
  lastError: string | null;
}

export interface DeadLetter extends OutboxRow {
  failedMs: number;
  reason: string;
}

export interface OutboxDrop {
  reason: 'full' | 'age';
  table: 'outbox' | 'dead-letter';
  priority: OutboxPriority;
  count: number;
  firstId: string;
  lastId: string;
  firstRowid: number;
  lastRowid: number;
}

export type OutboxLevel = 'filling' | 'ok';

export interface OutboxOptions extends Pick<OutboxConfig, 'maxMessages' | 'maxAgeDays' | 'warnAtFraction'> {
  onDrop?: (drop: OutboxDrop) => void;
  onLevel?: (level: OutboxLevel, depth: number) => void;
  /** Clock in ms since the epoch; tests pass their own. */
  now?: () => number;
}

export interface OutboxOpenOptions extends OutboxOptions {
  /** As for the journal: 'full' fsyncs every commit (default), 'normal' only at checkpoints. */
  sync?: 'full' | 'normal';
}

const DAY_MS = 86_400_000;

const COLUMNS = 'seq, id, lane, topic, payload, qos, retain, priority, created, tries, last_error';

interface RawRow {
  seq: number;
  id: string;
  lane: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: number;
  priority: string;
  created: number;
  tries: number;
  last_error: string | null;
}

type Removed = { seq: number; id: string; priority: OutboxPriority };

const toRow = (r: RawRow): OutboxRow => ({
  rowid: r.seq,
  id: r.id,
  lane: r.lane,
  topic: r.topic,
  payload: r.payload,
  qos: r.qos === 1 ? 1 : 0,
  retain: r.retain === 1,
  priority: r.priority as OutboxPriority,
  createdMs: r.created,
  tries: r.tries,
  lastError: r.last_error,
});

export class Outbox {
  readonly #db: Database;
  readonly #ownsDb: boolean;
  readonly #options: OutboxOptions;
  readonly #now: () => number;
  readonly #warnAt: number;
  readonly #okBelow: number;
  #level: OutboxLevel = 'ok';
  #pendingDrops: OutboxDrop[] = [];
  #notifyScheduled = false;
  readonly #stmt: Statements;
  #closed = false;
  readonly #enqueue: (m: OutboxMessage) => boolean;
  readonly #ack: (ids: Iterable<string>) => number;
  readonly #refuse: (id: string, reason: string, maxTries: number) => 'retry' | 'dead-letter' | 'gone';
  readonly #prune: () => number;

  /** Uses a database the caller owns (the journal's). */
  static attach(db: Database, options: OutboxOptions): Outbox {
    return new Outbox(db, false, options);
  }

  /** Opens a gate database of its own, for standalone use and benches. */
  static open(path: string, options: OutboxOpenOptions): Outbox {
    const db = openGateDatabase(path, { sync: options.sync });
    try {
      return new Outbox(db, true, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(db: Database, ownsDb: boolean, options: OutboxOptions) {
    if (!(options.maxMessages >= 1) || !(options.warnAtFraction > 0 && options.warnAtFraction < 1)) {
      throw new RangeError('outbox: maxMessages must be at least 1 and warnAtFraction between 0 and 1');
    }
    this.#db = db;
    this.#ownsDb = ownsDb;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#warnAt = Math.max(1, Math.ceil(options.warnAtFraction * options.maxMessages));
    this.#okBelow = Math.max(1, this.#warnAt - Math.ceil(0.05 * options.maxMessages));
    const stmt = (this.#stmt = prepareStatements(db));

    this.#enqueue = db.transaction((m: OutboxMessage): boolean => {
      const payload = typeof m.payload === 'string' ? Buffer.from(m.payload, 'utf8') : m.payload;
      const { changes } = stmt.insert.run(m.id, m.lane, m.topic, payload, m.qos, m.retain ? 1 : 0, m.priority, this.#now());
      if (changes === 0) return false; // already queued: idempotent on id
      const excess = this.depth - this.#options.maxMessages;
      if (excess > 0) this.#dropOldest('outbox', excess);
      return true;
    }).immediate;

    this.#ack = db.transaction((ids: Iterable<string>): number => {
      let removed = 0;
      for (const id of ids) removed += stmt.deleteById.run(id).changes;
      return removed;
    }).immediate;

    this.#refuse = db.transaction((id: string, reason: string, maxTries: number) => {
      const tries = stmt.bumpTries.get(reason, id) as number | undefined;
      if (tries === undefined) return 'gone' as const;
      if (tries < maxTries) return 'retry' as const;
      stmt.toDead.run(this.#now(), reason, id);
      stmt.deleteById.run(id);
      const excess = this.deadCount - this.#options.maxMessages;
      if (excess > 0) this.#dropOldest('dead-letter', excess);
      return 'dead-letter' as const;
    }).immediate;

    this.#prune = db.transaction((): number => {
      const cutoff = this.#now() - this.#options.maxAgeDays * DAY_MS;
      const rows = stmt.pruneOutbox.all(cutoff) as Removed[];
      const dead = stmt.pruneDead.all(cutoff) as Removed[];
      this.#recordDrops('age', 'outbox', rows);
      this.#recordDrops('age', 'dead-letter', dead);
      return rows.length + dead.length;
    }).immediate;

    // A gate restarting with a nearly full outbox must raise the fault too.
    this.#scheduleNotify();
  }

  /**
   * Stores the message; synchronous, so it can run inside the caller's
   * transaction (a savepoint then). Returns false when a message with this
   * id is already queued (nothing changes).
   */
  enqueue(message: OutboxMessage): boolean {
    checkMessage(message);
    const added = this.#enqueue(message);
    if (added) this.#scheduleNotify();
    return added;
  }

  /** Up to `limit` rows in outbox order, after `afterRowid` (a cursor; 0 for the oldest). */
  peek(limit: number, afterRowid = 0): OutboxRow[] {
    return (this.#stmt.peek.all(afterRowid, limit) as RawRow[]).map(toRow);
  }

  /** Deletes the acknowledged messages in one transaction; returns how many were still there. */
  ack(ids: Iterable<string>): number {
    const removed = this.#ack(ids);
    if (removed > 0) this.#scheduleNotify();
    return removed;
  }

  /**
   * The broker refused the message: counts a try. At `maxTries` the row
   * moves to the dead-letter table with the reason ('dead-letter'); before
   * that it stays for another try ('retry'). 'gone': no such row (acked or dropped).
   */
  refuse(id: string, reason: string, maxTries: number): 'retry' | 'dead-letter' | 'gone' {
    const outcome = this.#refuse(id, reason, maxTries);
    if (outcome === 'dead-letter') this.#scheduleNotify();
    return outcome;
  }

  /**
   * Drops rows (and dead letters) on one topic older than `maxAgeMs`: what
   * may be kept for less time than the outbox keeps everything (sealed
   * registrations past their retention). Returns how many.
   */
  pruneTopic(topic: string, maxAgeMs: number): number {
    const cutoff = this.#now() - maxAgeMs;
    const dropped = this.#db.transaction((): number => {
      const rows = this.#stmt.pruneOutboxTopic.all(topic, cutoff) as Removed[];
      const dead = this.#stmt.pruneDeadTopic.all(topic, cutoff) as Removed[];
      this.#recordDrops('age', 'outbox', rows);
      this.#recordDrops('age', 'dead-letter', dead);
      return rows.length + dead.length;
    }).immediate();
    if (dropped > 0) this.#scheduleNotify();
    return dropped;
  }

  /** Drops rows (and dead letters) older than maxAgeDays; returns how many. */
  prune(): number {
    const dropped = this.#prune();
    if (dropped > 0) this.#scheduleNotify();
    return dropped;
  }

  deadLetters(limit = 100): DeadLetter[] {
    return (this.#stmt.dead.all(limit) as Array<RawRow & { failed: number; reason: string }>).map((r) => ({
      ...toRow(r),
      failedMs: r.failed,
      reason: r.reason,
    }));
  }

  get depth(): number {
    return this.#stmt.meta.get('depth') as number;
  }

  get deadCount(): number {
    return this.#stmt.meta.get('dead') as number;
  }

  /** Rows dropped by the bounds since the outbox was created (persisted). */
  get dropped(): number {
    return this.#stmt.meta.get('dropped') as number;
  }

  /** Age of the oldest queued message; null when the outbox is empty. */
  get oldestAgeMs(): number | null {
    const oldest = this.#stmt.oldest.get() as number | null;
    return oldest === null ? null : Math.max(0, this.#now() - oldest);
  }

  get level(): OutboxLevel {
    return this.#level;
  }

  /** Closes the file when the outbox opened it; an attached database stays open. */
  close(): void {
    this.#closed = true;
    if (this.#ownsDb) this.#db.close();
  }

  #dropOldest(table: 'outbox' | 'dead-letter', excess: number): void {
    if (table === 'dead-letter') {
      this.#recordDrops('full', table, this.#stmt.dropDead.all(excess) as Removed[]);
      return;
    }
    let left = excess;
    for (const priority of ['telemetry', 'event'] as const) {
      if (left <= 0) break;
      const rows = this.#stmt.dropOutbox.all(priority, left) as Removed[];
      this.#recordDrops('full', table, rows);
      left -= rows.length;
    }
  }

  #recordDrops(reason: OutboxDrop['reason'], table: OutboxDrop['table'], rows: Removed[]): void {
    if (rows.length === 0) return;
    this.#stmt.addDropped.run(rows.length);
    for (const priority of ['telemetry', 'event'] as const) {
      // RETURNING gives no order: find the range by seq.
      let first: Removed | undefined;
      let last: Removed | undefined;
      let count = 0;
      for (const row of rows) {
        if (row.priority !== priority) continue;
        count++;
        if (!first || row.seq < first.seq) first = row;
        if (!last || row.seq > last.seq) last = row;
      }
      if (first && last) {
        this.#pendingDrops.push({ reason, table, priority, count, firstId: first.id, lastId: last.id, firstRowid: first.seq, lastRowid: last.seq });
      }
    }
  }

  #scheduleNotify(): void {
    if (this.#notifyScheduled) return;
    this.#notifyScheduled = true;
    queueMicrotask(() => {
      this.#notifyScheduled = false;
      if (this.#closed || !this.#db.open) return; // the journal may have closed the shared file
      const drops = this.#pendingDrops;
      this.#pendingDrops = [];
      for (const drop of drops) this.#options.onDrop?.(drop);
      // Read after the caller's transaction ended, so a rolled-back enqueue does not count.
      const depth = this.depth;
      const next: OutboxLevel = depth >= this.#warnAt ? 'filling' : depth < this.#okBelow ? 'ok' : this.#level;
      if (next !== this.#level) {
        this.#level = next;
        this.#options.onLevel?.(next, depth);
      }
    });
  }
}

function prepareStatements(db: Database) {
  return {
    insert: db.prepare(
      `INSERT INTO outbox (id, lane, topic, payload, qos, retain, priority, created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    meta: db.prepare('SELECT value FROM outbox_meta WHERE key = ?').pluck(),
    addDropped: db.prepare("UPDATE outbox_meta SET value = value + ? WHERE key = 'dropped'"),
    peek: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`),
    deleteById: db.prepare('DELETE FROM outbox WHERE id = ?'),
    dropOutbox: db.prepare(
      'DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?) RETURNING seq, id, priority',
    ),
    dropDead: db.prepare('DELETE FROM outbox_dead WHERE seq IN (SELECT seq FROM outbox_dead ORDER BY seq LIMIT ?) RETURNING seq, id, priority'),
    pruneOutbox: db.prepare('DELETE FROM outbox WHERE created < ? RETURNING seq, id, priority'),
    pruneOutboxTopic: db.prepare('DELETE FROM outbox WHERE topic = ? AND created < ? RETURNING seq, id, priority'),
    pruneDeadTopic: db.prepare('DELETE FROM outbox_dead WHERE topic = ? AND created < ? RETURNING seq, id, priority'),
    pruneDead: db.prepare('DELETE FROM outbox_dead WHERE failed < ? RETURNING seq, id, priority'),
    oldest: db.prepare('SELECT min(created) FROM outbox').pluck(),
    bumpTries: db.prepare('UPDATE outbox SET tries = tries + 1, last_error = ? WHERE id = ? RETURNING tries').pluck(),
    toDead: db.prepare(
      `INSERT INTO outbox_dead (seq, id, lane, topic, payload, qos, retain, priority, created, tries, failed, reason)
       SELECT seq, id, lane, topic, payload, qos, retain, priority, created, tries, ?, ? FROM outbox WHERE id = ?`,
    ),
    dead: db.prepare(
      'SELECT seq, id, lane, topic, payload, qos, retain, priority, created, tries, reason AS last_error, failed, reason FROM outbox_dead ORDER BY seq LIMIT ?',
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

// A topic MQTT forbids would make the broker drop the connection on every
// retry, so it is refused here, before it is stored (MQTT 5 §4.7, §1.5.4).
function checkMessage(m: OutboxMessage): void {
  const problem =
    typeof m.id !== 'string' || m.id.length === 0
      ? 'an id'
      : typeof m.topic !== 'string' || m.topic.length === 0 || /[#+\u0000]/.test(m.topic) || Buffer.byteLength(m.topic) > 65535
        ? 'a valid topic name (no wildcards)'
        : m.qos !== 0 && m.qos !== 1
          ? 'qos 0 or 1'
          : m.priority !== 'event' && m.priority !== 'telemetry'
            ? "priority 'event' or 'telemetry'"
            : null;
  if (problem) throw new GateDatabaseError('invalid-message', `outbox message ${String(m.id)} needs ${problem}`);
}
