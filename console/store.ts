/**
 * What the console keeps across restarts, in SQLite (better-sqlite3): each
 * lane's state and since when, decisions (deduplicated by id, never the
 * subject), red-code alerts and who acknowledged them, faults, staff
 * registrations (ids and times only, never the sealed record), colour
 * changes and when each lane applied them, and the command log. The §7
 * figures are computed from these rows.
 *
 * Times are stored as epoch ms; `day` columns hold the calendar day in the
 * console's time zone, so the figures are one GROUP BY away.
 *
 * Longer than most files here on purpose: every table with its queries in
 * one place, so that a change to the schema is a change to one file.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { dayOf as dayOfZone } from './days.js';

export interface LaneRow {
  site: string;
  lane: string;
  state: LaneOverall;
  stateSince: number;
  online: boolean;
  onlineSince: number;
  degraded: boolean;
  degradedSince: number;
  held: boolean;
  heldSince: number;
  staffMode: boolean;
  staffModeSince: number;
  faults: string[];
  faultsSince: number;
  laneState: string | null;
  firstSeen: number;
  lastSeen: number;
}

export type LaneOverall = 'offline' | 'held' | 'fault' | 'staff' | 'degraded' | 'online';

/** What one message says about a lane; absent fields are left as they were. */
export interface LaneUpdate {
  site: string;
  lane: string;
  time: number;
  online?: boolean;
  degraded?: boolean;
  laneState?: string;
  staffMode?: boolean;
  /** The whole list of active faults (telemetry). */
  faults?: string[];
  /** One fault raised or cleared. */
  fault?: { kind: string; active: boolean };
  /**
   * Applies whatever its time: the Last Will, timed by the console's clock on
   * arrival, is the newest word on a lane even when the gate's clock runs ahead.
   */
  latest?: boolean;
}

export interface DecisionRow {
  id: string;
  site: string;
  lane: string;
  seq: number;
  time: number;
  verdict: 'pass' | 'deny' | 'hold';
  reason: string;
  decidedBy: string;
  colour: string | null;
  temperatureC: number | null;
  sensorFault: string | null;
  degraded: boolean;
}

export interface AlertRow {
  id: string;
  eventId: string;
  site: string;
  lane: string;
  time: number;
  decidedBy: string;
  acknowledgedBy: string | null;
  acknowledgedAt: number | null;
}

export interface FaultRow {
  id: string;
  site: string;
  lane: string;
  time: number;
  kind: string;
  detail: string;
  active: boolean;
}

export interface CommandRow {
  id: string;
  site: string;
  lane: string;
  action: string;
  user: string;
  sentAt: number;
  result: 'pending' | 'ok' | 'failed' | 'timeout' | 'not-sent';
  resultAt: number | null;
  detail: string | null;
}

export interface Figures {
  site: string;
  day: string;
  checks: number;
  passes: number;
  refusals: number;
  holds: number;
  staffRegistrations: number;
  sensorFaults: number;
  redAlerts: number;
  colourChanges: {
    changes: number;
    /** (change, lane) pairs: every lane known at the site when the change was issued. */
    expected: number;
    applied: number;
    medianMs: number | null;
    worstMs: number | null;
    neverApplied: Array<{ lane: string; seq: number; issuedAt: number }>;
  };
}

/** Store faults and the outbox are not sensors: they do not count as sensor faults. */
const NOT_SENSOR_FAULTS = ['journal', 'outbox-dropped', 'outbox-filling'];

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

function overall(row: { online: number; held: number; faults: string; staff_mode: number; degraded: number }): LaneOverall {
  if (!row.online) return 'offline';
  if (row.held) return 'held';
  if (JSON.parse(row.faults).length > 0) return 'fault';
  if (row.staff_mode) return 'staff';
  if (row.degraded) return 'degraded';
  return 'online';
}

interface RawLane {
  site: string;
  lane: string;
  online: number;
  online_since: number;
  degraded: number;
  degraded_since: number;
  held: number;
  held_since: number;
  staff_mode: number;
  staff_mode_since: number;
  faults: string;
  faults_since: number;
  state: LaneOverall;
  state_since: number;
  lane_state: string | null;
  first_seen: number;
  last_seen: number;
  /** The time of the newest message whose state was applied: an older one arriving late (from a gate's outbox after an outage) changes nothing. */
  state_time: number;
}

function laneOf(raw: RawLane): LaneRow {
  return {
    site: raw.site,
    lane: raw.lane,
    state: raw.state,
    stateSince: raw.state_since,
    online: raw.online === 1,
    onlineSince: raw.online_since,
    degraded: raw.degraded === 1,
    degradedSince: raw.degraded_since,
    held: raw.held === 1,
    heldSince: raw.held_since,
    staffMode: raw.staff_mode === 1,
    staffModeSince: raw.staff_mode_since,
    faults: JSON.parse(raw.faults) as string[],
    faultsSince: raw.faults_since,
    laneState: raw.lane_state,
    firstSeen: raw.first_seen,
    lastSeen: raw.last_seen,
  };
}

export interface ConsoleStoreOptions {
  path: string;
  timeZone?: string;
}

export class ConsoleStore {
  private readonly db: Db;
  readonly timeZone: string | undefined;
  /** Prepared once: a fleet sends a thousand events a second. */
  private readonly statements = new Map<string, Statement>();

  constructor(options: ConsoleStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.timeZone = options.timeZone;
  }

  close(): void {
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

  lane(site: string, lane: string): LaneRow | null {
    const raw = this.sql('SELECT * FROM lanes WHERE site = ? AND lane = ?').get(site, lane) as RawLane | undefined;
    return raw ? laneOf(raw) : null;
  }

  lanes(): LaneRow[] {
    return (this.sql('SELECT * FROM lanes ORDER BY site, lane').all() as RawLane[]).map(laneOf);
  }

  /** Applies what a message says; each flag's since-time moves only when the flag changes. Returns the lane after. */
  updateLane(update: LaneUpdate): LaneRow {
    return this.db.transaction(() => {
      const t = update.time;
      let raw = this.sql('SELECT * FROM lanes WHERE site = ? AND lane = ?').get(update.site, update.lane) as RawLane | undefined;
      if (!raw) {
        raw = {
          site: update.site, lane: update.lane, online: 0, online_since: t, degraded: 0, degraded_since: t, held: 0, held_since: t,
          staff_mode: 0, staff_mode_since: t, faults: '[]', faults_since: t, state: 'offline', state_since: t, lane_state: null, first_seen: t, last_seen: t,
          state_time: 0,
        };
      }
      const next = { ...raw, last_seen: Math.max(raw.last_seen, t) };
      // Older than what the lane's state already reflects: seen, but it changes no state.
      if (!update.latest && t < raw.state_time) {
        this.sql('UPDATE lanes SET last_seen = ? WHERE site = ? AND lane = ?').run(next.last_seen, raw.site, raw.lane);
        return laneOf(next);
      }
      next.state_time = Math.max(raw.state_time, t);
      const flag = (key: 'online' | 'degraded' | 'held' | 'staff_mode', value: boolean | undefined): void => {
        if (value === undefined) return;
        const v = value ? 1 : 0;
        if (next[key] !== v) {
          next[key] = v;
          next[`${key}_since`] = t;
        }
      };
      flag('online', update.online);
      flag('degraded', update.degraded);
      flag('staff_mode', update.staffMode);
      if (update.laneState !== undefined) {
        next.lane_state = update.laneState;
        flag('held', update.laneState === 'held');
        // The lane's own state says staff mode too, when the status leaves it out.
        if (update.staffMode === undefined && update.laneState === 'staff') flag('staff_mode', true);
      }
      let faults = JSON.parse(raw.faults) as string[];
      if (update.faults !== undefined) faults = [...new Set(update.faults)].sort();
      if (update.fault) {
        faults = update.fault.active ? [...new Set([...faults, update.fault.kind])].sort() : faults.filter((k) => k !== update.fault!.kind);
      }
      const faultsJson = JSON.stringify(faults);
      if (faultsJson !== raw.faults) {
        // The since-time is when the lane went from no fault to some, or back.
        if ((faults.length > 0) !== (JSON.parse(raw.faults).length > 0)) next.faults_since = t;
        next.faults = faultsJson;
      }
      const state = overall(next);
      if (state !== raw.state) {
        next.state = state;
        next.state_since = t;
      }
      this
        .sql(
          `INSERT INTO lanes (site, lane, online, online_since, degraded, degraded_since, held, held_since, staff_mode, staff_mode_since,
             faults, faults_since, state, state_since, lane_state, first_seen, last_seen, state_time)
           VALUES (@site, @lane, @online, @online_since, @degraded, @degraded_since, @held, @held_since, @staff_mode, @staff_mode_since,
             @faults, @faults_since, @state, @state_since, @lane_state, @first_seen, @last_seen, @state_time)
           ON CONFLICT (site, lane) DO UPDATE SET online = excluded.online, online_since = excluded.online_since,
             degraded = excluded.degraded, degraded_since = excluded.degraded_since, held = excluded.held, held_since = excluded.held_since,
             staff_mode = excluded.staff_mode, staff_mode_since = excluded.staff_mode_since, faults = excluded.faults,
             faults_since = excluded.faults_since, state = excluded.state, state_since = excluded.state_since,
             lane_state = excluded.lane_state, last_seen = excluded.last_seen, state_time = excluded.state_time`,
        )
        .run(next);
      return laneOf(next);
    })();
  }

  // --- events ------------------------------------------------------------

  /** False when a decision with this id was stored before (a duplicate delivery). */
  addDecision(d: DecisionRow, receivedAt = Date.now()): boolean {
    const result = this
      .sql(
        `INSERT OR IGNORE INTO decisions (id, site, lane, seq, time, day, verdict, reason, decided_by, colour, temperature_c, sensor_fault, degraded, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(d.id, d.site, d.lane, d.seq, d.time, this.day(d.time), d.verdict, d.reason, d.decidedBy, d.colour, d.temperatureC, d.sensorFault, d.degraded ? 1 : 0, receivedAt);
    return result.changes === 1;
  }

  decisions(options: { site?: string; lane?: string; limit?: number } = {}): DecisionRow[] {
    const rows = this
      .sql(
        `SELECT id, site, lane, seq, time, verdict, reason, decided_by AS decidedBy, colour, temperature_c AS temperatureC,
           sensor_fault AS sensorFault, degraded FROM decisions
         WHERE (@site IS NULL OR site = @site) AND (@lane IS NULL OR lane = @lane) ORDER BY time DESC, rowid DESC LIMIT @limit`,
      )
      .all({ site: options.site ?? null, lane: options.lane ?? null, limit: options.limit ?? 100 }) as Array<Omit<DecisionRow, 'degraded'> & { degraded: number }>;
    return rows.map((r) => ({ ...r, degraded: r.degraded === 1 }));
  }

  addAlert(a: Omit<AlertRow, 'acknowledgedBy' | 'acknowledgedAt'>, receivedAt = Date.now()): boolean {
    return (
      this
        .sql('INSERT OR IGNORE INTO alerts (id, event_id, site, lane, time, day, decided_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(a.id, a.eventId, a.site, a.lane, a.time, this.day(a.time), a.decidedBy, receivedAt).changes === 1
    );
  }

  alerts(options: { unacknowledged?: boolean; limit?: number } = {}): AlertRow[] {
    return this
      .sql(
        `SELECT id, event_id AS eventId, site, lane, time, decided_by AS decidedBy, acknowledged_by AS acknowledgedBy, acknowledged_at AS acknowledgedAt
         FROM alerts WHERE (@open = 0 OR acknowledged_at IS NULL) ORDER BY time DESC, rowid DESC LIMIT @limit`,
      )
      .all({ open: options.unacknowledged ? 1 : 0, limit: options.limit ?? 200 }) as AlertRow[];
  }

  alert(id: string): AlertRow | null {
    return (
      (this
        .sql(
          `SELECT id, event_id AS eventId, site, lane, time, decided_by AS decidedBy, acknowledged_by AS acknowledgedBy, acknowledged_at AS acknowledgedAt
           FROM alerts WHERE id = ?`,
        )
        .get(id) as AlertRow | undefined) ?? null
    );
  }

  /** Records who acknowledged the alert and when; the first acknowledgement stands. Null: no such alert. */
  acknowledgeAlert(id: string, user: string, at = Date.now()): AlertRow | null {
    this.sql('UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL').run(user, at, id);
    return this.alert(id);
  }

  addFault(f: FaultRow, receivedAt = Date.now()): boolean {
    return (
      this
        .sql('INSERT OR IGNORE INTO faults (id, site, lane, time, day, kind, detail, active, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(f.id, f.site, f.lane, f.time, this.day(f.time), f.kind, f.detail, f.active ? 1 : 0, receivedAt).changes === 1
    );
  }

  faults(limit = 100): FaultRow[] {
    const rows = this.sql('SELECT id, site, lane, time, kind, detail, active FROM faults ORDER BY time DESC, rowid DESC LIMIT ?').all(limit) as Array<Omit<FaultRow, 'active'> & { active: number }>;
    return rows.map((r) => ({ ...r, active: r.active === 1 }));
  }

  /** Only the ids and time of a sealed registration: the record itself is for the health authority. */
  addRegistration(r: { id: string; eventId: string; site: string; lane: string; time: number }, receivedAt = Date.now()): boolean {
    return (
      this
        .sql('INSERT OR IGNORE INTO registrations (id, event_id, site, lane, time, day, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(r.id, r.eventId, r.site, r.lane, r.time, this.day(r.time), receivedAt).changes === 1
    );
  }

  /** A colour change from the centre; a heartbeat repeating a seq keeps the first issuedAt. */
  addColourChange(c: { site: string; seq: number; issuedAt: number; verified: boolean }, receivedAt = Date.now()): boolean {
    return (
      this
        .sql('INSERT OR IGNORE INTO colour_changes (site, seq, issued_at, day, received_at, verified) VALUES (?, ?, ?, ?, ?, ?)')
        .run(c.site, c.seq, c.issuedAt, this.day(c.issuedAt), receivedAt, c.verified ? 1 : 0).changes === 1
    );
  }

  addColourApplied(a: { site: string; lane: string; seq: number; appliedAt: number; via: 'change' | 'snapshot' }, receivedAt = Date.now()): boolean {
    return (
      this
        .sql('INSERT OR IGNORE INTO colour_applied (site, lane, seq, applied_at, via, received_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(a.site, a.lane, a.seq, a.appliedAt, a.via, receivedAt).changes === 1
    );
  }

  // --- commands ----------------------------------------------------------

  addCommand(c: CommandRow): void {
    this
      .sql('INSERT INTO commands (id, site, lane, action, user, sent_at, result, result_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(c.id, c.site, c.lane, c.action, c.user, c.sentAt, c.result, c.resultAt, c.detail);
  }

  /** Records a command's outcome once; later results for it (duplicates) change nothing. Null: not a command of this console. */
  settleCommand(id: string, result: CommandRow['result'], at: number, detail: string | null): CommandRow | null {
    this.sql("UPDATE commands SET result = ?, result_at = ?, detail = ? WHERE id = ? AND result = 'pending'").run(result, at, detail, id);
    return this.command(id);
  }

  command(id: string): CommandRow | null {
    return (
      (this
        .sql('SELECT id, site, lane, action, user, sent_at AS sentAt, result, result_at AS resultAt, detail FROM commands WHERE id = ?')
        .get(id) as CommandRow | undefined) ?? null
    );
  }

  commands(limit = 100): CommandRow[] {
    return this
      .sql('SELECT id, site, lane, action, user, sent_at AS sentAt, result, result_at AS resultAt, detail FROM commands ORDER BY sent_at DESC, rowid DESC LIMIT ?')
      .all(limit) as CommandRow[];
  }

  /** Commands still waiting for a result that were sent before `before`. */
  pendingCommands(before: number): CommandRow[] {
    return this
      .sql("SELECT id, site, lane, action, user, sent_at AS sentAt, result, result_at AS resultAt, detail FROM commands WHERE result = 'pending' AND sent_at < ?")
      .all(before) as CommandRow[];
  }

  // --- figures -----------------------------------------------------------

  day(epochMs: number): string {
    return dayOfZone(epochMs, this.timeZone);
  }

  sites(): string[] {
    return (
      this
        .sql('SELECT site FROM lanes UNION SELECT site FROM decisions UNION SELECT site FROM colour_changes ORDER BY site')
        .all() as Array<{ site: string }>
    ).map((r) => r.site);
  }

  /** The §7 figures of one site on one day. */
  figures(site: string, day: string): Figures {
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
    const delays = pairs.filter((p) => p.appliedAt !== null).map((p) => Math.max(0, p.appliedAt! - p.issuedAt)).sort((a, b) => a - b);
    const changes = one('SELECT COUNT(*) FROM colour_changes WHERE site = ? AND day = ?', site, day);
    return {
      site,
      day,
      ...counts,
      staffRegistrations,
      sensorFaults,
      redAlerts,
      colourChanges: {
        changes,
        expected: pairs.length,
        applied: delays.length,
        medianMs: median(delays),
        worstMs: delays.length > 0 ? delays[delays.length - 1]! : null,
        neverApplied: pairs.filter((p) => p.appliedAt === null).map((p) => ({ lane: p.lane, seq: p.seq, issuedAt: p.issuedAt })),
      },
    };
  }
}

function median(sorted: number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

