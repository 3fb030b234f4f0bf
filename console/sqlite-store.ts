/**
 * The console's store in SQLite (better-sqlite3): the default, one file
 * beside the console and nothing to run. Each lane's state and since when,
 * decisions (deduplicated by id, never the subject), red-code alerts and
 * who acknowledged them, faults, staff registrations (ids and times only,
 * never the sealed record), colour changes and when each lane applied them,
 * and the command log; the §7 figures are computed from these rows.
 *
 * better-sqlite3 answers synchronously; the methods are async only to meet
 * the ConsoleStore interface that PostgreSQL shapes.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { dayOf as dayOfZone } from './days.js';
import {
  LANE_COLUMNS,
  LANE_UPSERT_SET,
  NOT_SENSOR_FAULTS,
  applyLaneUpdate,
  laneRowOf,
  newLane,
  timeliness,
  type AlertRow,
  type ColourAppliedRow,
  type ColourChangeRow,
  type CommandRow,
  type ConsoleStore,
  type DecisionRow,
  type FaultRow,
  type Figures,
  type LaneRecord,
  type LaneRow,
  type LaneUpdate,
  type RegistrationRow,
} from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS lanes (
  site TEXT NOT NULL, lane TEXT NOT NULL,
  online INTEGER NOT NULL DEFAULT 0, online_since INTEGER NOT NULL,
  degraded INTEGER NOT NULL DEFAULT 0, degraded_since INTEGER NOT NULL,
  held INTEGER NOT NULL DEFAULT 0, held_since INTEGER NOT NULL,
  staff_mode INTEGER NOT NULL DEFAULT 0, staff_mode_since INTEGER NOT NULL,
  faults TEXT NOT NULL DEFAULT '[]', faults_since INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'offline', state_since INTEGER NOT NULL,
  lane_state TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  state_time INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (site, lane)
);
CREATE TABLE IF NOT EXISTS decisions (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, seq INTEGER NOT NULL,
  time INTEGER NOT NULL, day TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
  decided_by TEXT NOT NULL, colour TEXT, temperature_c REAL, sensor_fault TEXT,
  degraded INTEGER NOT NULL DEFAULT 0, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_site_day ON decisions (site, day);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time INTEGER NOT NULL, day TEXT NOT NULL, decided_by TEXT NOT NULL,
  acknowledged_by TEXT, acknowledged_at INTEGER, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_site_day ON alerts (site, day);
CREATE TABLE IF NOT EXISTS faults (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, time INTEGER NOT NULL, day TEXT NOT NULL,
  kind TEXT NOT NULL, detail TEXT NOT NULL, active INTEGER NOT NULL, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS faults_site_day ON faults (site, day);
CREATE TABLE IF NOT EXISTS registrations (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time INTEGER NOT NULL, day TEXT NOT NULL, received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS colour_changes (
  site TEXT NOT NULL, seq INTEGER NOT NULL, issued_at INTEGER NOT NULL, day TEXT NOT NULL,
  received_at INTEGER NOT NULL, verified INTEGER NOT NULL, PRIMARY KEY (site, seq)
);
CREATE TABLE IF NOT EXISTS colour_applied (
  site TEXT NOT NULL, lane TEXT NOT NULL, seq INTEGER NOT NULL, applied_at INTEGER NOT NULL,
  via TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (site, lane, seq, via)
);
CREATE TABLE IF NOT EXISTS commands (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, action TEXT NOT NULL, user TEXT NOT NULL,
  sent_at INTEGER NOT NULL, result TEXT NOT NULL, result_at INTEGER, detail TEXT
);
CREATE INDEX IF NOT EXISTS commands_sent ON commands (sent_at);
`;

/** A lane as SQLite gives it back: flags as 0 or 1, the faults as JSON text. */
type StoredLane = Omit<LaneRecord, 'online' | 'degraded' | 'held' | 'staffMode' | 'faults'> & {
  online: number;
  degraded: number;
  held: number;
  staffMode: number;
  faults: string;
};

function recordOf(stored: StoredLane): LaneRecord {
  return {
    ...stored,
    online: stored.online === 1,
    degraded: stored.degraded === 1,
    held: stored.held === 1,
    staffMode: stored.staffMode === 1,
    faults: JSON.parse(stored.faults) as string[],
  };
}

/** The named parameters of the lane upsert. */
function storedOf(record: LaneRecord): StoredLane {
  return {
    ...record,
    online: record.online ? 1 : 0,
    degraded: record.degraded ? 1 : 0,
    held: record.held ? 1 : 0,
    staffMode: record.staffMode ? 1 : 0,
    faults: JSON.stringify(record.faults),
  };
}

export interface SqliteStoreOptions {
  path: string;
  timeZone?: string | undefined;
}

export class SqliteConsoleStore implements ConsoleStore {
  readonly kind = 'sqlite';
  private readonly db: Db;
  readonly timeZone: string | undefined;
  /** Prepared once: a fleet sends a thousand events a second. */
  private readonly statements = new Map<string, Statement>();

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.timeZone = options.timeZone;
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private sql(text: string): Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  // --- lanes -------------------------------------------------------------

  async lane(site: string, lane: string): Promise<LaneRow | null> {
    const stored = this.sql(`SELECT ${LANE_COLUMNS} FROM lanes WHERE site = ? AND lane = ?`).get(site, lane) as StoredLane | undefined;
    return stored ? laneRowOf(recordOf(stored)) : null;
  }

  async lanes(): Promise<LaneRow[]> {
    return (this.sql(`SELECT ${LANE_COLUMNS} FROM lanes ORDER BY site, lane`).all() as StoredLane[]).map((stored) => laneRowOf(recordOf(stored)));
  }

  async updateLane(update: LaneUpdate): Promise<LaneRow> {
    return this.db.transaction(() => {
      const stored = this.sql(`SELECT ${LANE_COLUMNS} FROM lanes WHERE site = ? AND lane = ?`).get(update.site, update.lane) as StoredLane | undefined;
      const { after, stale } = applyLaneUpdate(stored ? recordOf(stored) : newLane(update.site, update.lane, update.time), update);
      if (stale) {
        this.sql('UPDATE lanes SET last_seen = ? WHERE site = ? AND lane = ?').run(after.lastSeen, after.site, after.lane);
      } else {
        this
          .sql(
            `INSERT INTO lanes (site, lane, online, online_since, degraded, degraded_since, held, held_since, staff_mode, staff_mode_since,
               faults, faults_since, state, state_since, lane_state, first_seen, last_seen, state_time)
             VALUES (@site, @lane, @online, @onlineSince, @degraded, @degradedSince, @held, @heldSince, @staffMode, @staffModeSince,
               @faults, @faultsSince, @state, @stateSince, @laneState, @firstSeen, @lastSeen, @stateTime)
             ON CONFLICT (site, lane) DO UPDATE SET ${LANE_UPSERT_SET}`,
          )
          .run(storedOf(after));
      }
      return laneRowOf(after);
    })();
  }

  // --- events ------------------------------------------------------------

  /** False when a decision with this id was stored before (a duplicate delivery). */
  async addDecision(d: DecisionRow, receivedAt = Date.now()): Promise<boolean> {
    const result = this
      .sql(
        `INSERT OR IGNORE INTO decisions (id, site, lane, seq, time, day, verdict, reason, decided_by, colour, temperature_c, sensor_fault, degraded, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(d.id, d.site, d.lane, d.seq, d.time, this.day(d.time), d.verdict, d.reason, d.decidedBy, d.colour, d.temperatureC, d.sensorFault, d.degraded ? 1 : 0, receivedAt);
    return result.changes === 1;
  }

  async decisions(options: { site?: string | undefined; lane?: string | undefined; limit?: number } = {}): Promise<DecisionRow[]> {
    const rows = this
      .sql(
        `SELECT id, site, lane, seq, time, verdict, reason, decided_by AS decidedBy, colour, temperature_c AS temperatureC,
           sensor_fault AS sensorFault, degraded FROM decisions
         WHERE (@site IS NULL OR site = @site) AND (@lane IS NULL OR lane = @lane) ORDER BY time DESC, rowid DESC LIMIT @limit`,
      )
      .all({ site: options.site ?? null, lane: options.lane ?? null, limit: options.limit ?? 100 }) as Array<Omit<DecisionRow, 'degraded'> & { degraded: number }>;
    return rows.map((r) => ({ ...r, degraded: r.degraded === 1 }));
  }

  async addAlert(a: Omit<AlertRow, 'acknowledgedBy' | 'acknowledgedAt'>, receivedAt = Date.now()): Promise<boolean> {
    return (
      this
        .sql('INSERT OR IGNORE INTO alerts (id, event_id, site, lane, time, day, decided_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(a.id, a.eventId, a.site, a.lane, a.time, this.day(a.time), a.decidedBy, receivedAt).changes === 1
    );
  }

  async alerts(options: { unacknowledged?: boolean; limit?: number } = {}): Promise<AlertRow[]> {
    return this
      .sql(
        `SELECT id, event_id AS eventId, site, lane, time, decided_by AS decidedBy, acknowledged_by AS acknowledgedBy, acknowledged_at AS acknowledgedAt
         FROM alerts WHERE (@open = 0 OR acknowledged_at IS NULL) ORDER BY time DESC, rowid DESC LIMIT @limit`,
      )
      .all({ open: options.unacknowledged ? 1 : 0, limit: options.limit ?? 200 }) as AlertRow[];
  }

  async alert(id: string): Promise<AlertRow | null> {
    return (
      (this
        .sql(
          `SELECT id, event_id AS eventId, site, lane, time, decided_by AS decidedBy, acknowledged_by AS acknowledgedBy, acknowledged_at AS acknowledgedAt
           FROM alerts WHERE id = ?`,
        )
        .get(id) as AlertRow | undefined) ?? null
    );
  }

  async acknowledgeAlert(id: string, user: string, at = Date.now()): Promise<{ alert: AlertRow | null; acknowledgedNow: boolean }> {
    const changed = this.sql('UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL').run(user, at, id).changes;
    return { alert: await this.alert(id), acknowledgedNow: changed === 1 };
  }

  async addFault(f: FaultRow, receivedAt = Date.now()): Promise<boolean> {
    return (
      this
        .sql('INSERT OR IGNORE INTO faults (id, site, lane, time, day, kind, detail, active, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(f.id, f.site, f.lane, f.time, this.day(f.time), f.kind, f.detail, f.active ? 1 : 0, receivedAt).changes === 1
    );
  }

  async faults(limit = 100): Promise<FaultRow[]> {
    const rows = this.sql('SELECT id, site, lane, time, kind, detail, active FROM faults ORDER BY time DESC, rowid DESC LIMIT ?').all(limit) as Array<Omit<FaultRow, 'active'> & { active: number }>;
    return rows.map((r) => ({ ...r, active: r.active === 1 }));
  }

  async addRegistration(r: RegistrationRow, receivedAt = Date.now()): Promise<boolean> {
    return (
      this
        .sql('INSERT OR IGNORE INTO registrations (id, event_id, site, lane, time, day, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(r.id, r.eventId, r.site, r.lane, r.time, this.day(r.time), receivedAt).changes === 1
    );
  }

  async addColourChange(c: ColourChangeRow, receivedAt = Date.now()): Promise<boolean> {
    return (
      this
        .sql('INSERT OR IGNORE INTO colour_changes (site, seq, issued_at, day, received_at, verified) VALUES (?, ?, ?, ?, ?, ?)')
        .run(c.site, c.seq, c.issuedAt, this.day(c.issuedAt), receivedAt, c.verified ? 1 : 0).changes === 1
    );
  }

  async addColourApplied(a: ColourAppliedRow, receivedAt = Date.now()): Promise<boolean> {
    return (
      this
        .sql('INSERT OR IGNORE INTO colour_applied (site, lane, seq, applied_at, via, received_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(a.site, a.lane, a.seq, a.appliedAt, a.via, receivedAt).changes === 1
    );
  }

  // --- commands ----------------------------------------------------------

  async addCommand(c: CommandRow): Promise<void> {
    this
      .sql('INSERT INTO commands (id, site, lane, action, user, sent_at, result, result_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(c.id, c.site, c.lane, c.action, c.user, c.sentAt, c.result, c.resultAt, c.detail);
  }

  async settleCommand(id: string, result: CommandRow['result'], at: number, detail: string | null): Promise<CommandRow | null> {
    this.sql("UPDATE commands SET result = ?, result_at = ?, detail = ? WHERE id = ? AND result = 'pending'").run(result, at, detail, id);
    return this.command(id);
  }

  async command(id: string): Promise<CommandRow | null> {
    return (
      (this
        .sql('SELECT id, site, lane, action, user, sent_at AS sentAt, result, result_at AS resultAt, detail FROM commands WHERE id = ?')
        .get(id) as CommandRow | undefined) ?? null
    );
  }

  async commands(limit = 100): Promise<CommandRow[]> {
    return this
      .sql('SELECT id, site, lane, action, user, sent_at AS sentAt, result, result_at AS resultAt, detail FROM commands ORDER BY sent_at DESC, rowid DESC LIMIT ?')
      .all(limit) as CommandRow[];
  }

  async pendingCommands(before: number): Promise<CommandRow[]> {
    return this
      .sql("SELECT id, site, lane, action, user, sent_at AS sentAt, result, result_at AS resultAt, detail FROM commands WHERE result = 'pending' AND sent_at < ?")
      .all(before) as CommandRow[];
  }

  // --- figures -----------------------------------------------------------

  /** Busy, locked, I/O and a full disk may pass; anything else (a constraint, a closed database) will not. */
  transient(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL)/.test(code);
  }

  day(epochMs: number): string {
    return dayOfZone(epochMs, this.timeZone);
  }

  async sites(): Promise<string[]> {
    return (
      this
        .sql('SELECT site FROM lanes UNION SELECT site FROM decisions UNION SELECT site FROM colour_changes ORDER BY site')
        .all() as Array<{ site: string }>
    ).map((r) => r.site);
  }

  async figures(site: string, day: string): Promise<Figures> {
    const counts = this
      .sql(
        `SELECT COUNT(*) AS checks,
           COALESCE(SUM(verdict = 'pass'), 0) AS passes,
           COALESCE(SUM(verdict = 'deny'), 0) AS refusals,
           COALESCE(SUM(verdict = 'hold'), 0) AS holds
         FROM decisions WHERE site = ? AND day = ?`,
      )
      .get(site, day) as { checks: number; passes: number; refusals: number; holds: number };
    const one = (sql: string, ...args: unknown[]): number => (this.sql(sql).pluck().get(...args) as number | undefined) ?? 0;
    const staffRegistrations = one('SELECT COUNT(*) FROM registrations WHERE site = ? AND day = ?', site, day);
    const sensorFaults = one(
      `SELECT COUNT(*) FROM faults WHERE site = ? AND day = ? AND active = 1 AND kind NOT IN (${NOT_SENSOR_FAULTS.map(() => '?').join(', ')})`,
      site,
      day,
      ...NOT_SENSOR_FAULTS,
    );
    const redAlerts = one('SELECT COUNT(*) FROM alerts WHERE site = ? AND day = ?', site, day);
    // Every (change, lane) pair a lane known at the site when the change was issued should have applied.
    const pairs = this
      .sql(
        // A snapshot complete up to seq N applies every change up to N the lane had missed.
        `SELECT c.seq, c.issued_at AS issuedAt, l.lane, MIN(a.applied_at) AS appliedAt
         FROM colour_changes c JOIN lanes l ON l.site = c.site AND l.first_seen <= c.issued_at
         LEFT JOIN colour_applied a ON a.site = c.site AND a.lane = l.lane
           AND (a.seq = c.seq OR (a.via = 'snapshot' AND a.seq >= c.seq))
         WHERE c.site = ? AND c.day = ? GROUP BY c.seq, l.lane ORDER BY c.seq, l.lane`,
      )
      .all(site, day) as Array<{ seq: number; issuedAt: number; lane: string; appliedAt: number | null }>;
    const changes = one('SELECT COUNT(*) FROM colour_changes WHERE site = ? AND day = ?', site, day);
    return { site, day, ...counts, staffRegistrations, sensorFaults, redAlerts, colourChanges: timeliness(changes, pairs) };
  }
}
