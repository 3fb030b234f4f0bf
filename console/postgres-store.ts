/**
 * The console's store in PostgreSQL (node-postgres), for a control room
 * that runs one already: the same tables and rules as the SQLite store
 * (sqlite-store.ts), in PostgreSQL's types. The database must exist; the
 * tables are made on open if missing, under an advisory lock so that two
 * consoles starting together do not race.
 *
 * Times are BIGINT epoch ms, read back as numbers (they are far below 2^53);
 * `day` is the calendar day text, as in SQLite. Every hot query is a named
 * (prepared) statement; decisions, the bulk of a fleet's traffic, are
 * written in batches (insert-batcher.ts). Each table that is listed newest first has a serial
 * `n` to break ties between rows of the same millisecond.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { dayOf as dayOfZone } from './days.js';
import { InsertBatcher } from './insert-batcher.js';
import { KeyedQueue } from './keyed-queue.js';
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
  online BOOLEAN NOT NULL, online_since BIGINT NOT NULL, degraded BOOLEAN NOT NULL, degraded_since BIGINT NOT NULL,
  held BOOLEAN NOT NULL, held_since BIGINT NOT NULL, staff_mode BOOLEAN NOT NULL, staff_mode_since BIGINT NOT NULL,
  faults TEXT[] NOT NULL, faults_since BIGINT NOT NULL, state TEXT NOT NULL, state_since BIGINT NOT NULL,
  lane_state TEXT, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, state_time BIGINT NOT NULL,
  PRIMARY KEY (site, lane)
);
CREATE TABLE IF NOT EXISTS decisions (
  n BIGSERIAL, id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, seq BIGINT NOT NULL,
  time BIGINT NOT NULL, day TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
  decided_by TEXT NOT NULL, colour TEXT, temperature_c DOUBLE PRECISION, sensor_fault TEXT,
  degraded BOOLEAN NOT NULL, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_site_day ON decisions (site, day);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time DESC, n DESC);
CREATE TABLE IF NOT EXISTS alerts (
  n BIGSERIAL, id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time BIGINT NOT NULL, day TEXT NOT NULL, decided_by TEXT NOT NULL,
  acknowledged_by TEXT, acknowledged_at BIGINT, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_site_day ON alerts (site, day);
CREATE TABLE IF NOT EXISTS faults (
  n BIGSERIAL, id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, time BIGINT NOT NULL, day TEXT NOT NULL,
  kind TEXT NOT NULL, detail TEXT NOT NULL, active BOOLEAN NOT NULL, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS faults_site_day ON faults (site, day);
CREATE TABLE IF NOT EXISTS registrations (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time BIGINT NOT NULL, day TEXT NOT NULL, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_site_day ON registrations (site, day);
CREATE TABLE IF NOT EXISTS colour_changes (
  site TEXT NOT NULL, seq BIGINT NOT NULL, issued_at BIGINT NOT NULL, day TEXT NOT NULL,
  received_at BIGINT NOT NULL, verified BOOLEAN NOT NULL, PRIMARY KEY (site, seq)
);
CREATE TABLE IF NOT EXISTS colour_applied (
  site TEXT NOT NULL, lane TEXT NOT NULL, seq BIGINT NOT NULL, applied_at BIGINT NOT NULL,
  via TEXT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (site, lane, seq, via)
);
CREATE TABLE IF NOT EXISTS commands (
  n BIGSERIAL, id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, action TEXT NOT NULL, sent_by TEXT NOT NULL,
  sent_at BIGINT NOT NULL, result TEXT NOT NULL, result_at BIGINT, detail TEXT
);
CREATE INDEX IF NOT EXISTS commands_sent ON commands (sent_at DESC, n DESC);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (sent_at) WHERE result = 'pending';
`;

/** Longer than any of the console's statements takes on a healthy server. */
const QUERY_TIMEOUT_MS = 30_000;
/** How long close() waits for writes under way and the pool, before giving up on them. */
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * SQLSTATE classes of failures that may pass on a retry: connection (08),
 * transaction rollback (40: serialization, deadlock), insufficient
 * resources (53), operator intervention (57: shutdown, restart), system (58).
 */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** What node-postgres says when a connection is lost or cannot be had in time (it gives these no code). */
const CONNECTION_LOST = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended/i;

/** Any number, so that two consoles making the tables at once take turns: "hcgc" in ASCII. */
const SCHEMA_LOCK = 0x68636763;

/** BIGINT (20) and NUMERIC (1700, what SUM gives) as JS numbers: counts and epoch ms, never near 2^53. */
const NUMBER_TYPES = new Set([20, 1700]);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMBER_TYPES.has(oid) ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

const DECISION_COLUMNS = `id, site, lane, seq, time, verdict, reason, decided_by AS "decidedBy", colour, temperature_c AS "temperatureC",
  sensor_fault AS "sensorFault", degraded`;
const ALERT_COLUMNS = `id, event_id AS "eventId", site, lane, time, decided_by AS "decidedBy", acknowledged_by AS "acknowledgedBy",
  acknowledged_at AS "acknowledgedAt"`;
const COMMAND_COLUMNS = `id, site, lane, action, sent_by AS "user", sent_at AS "sentAt", result, result_at AS "resultAt", detail`;

export interface PostgresStoreOptions {
  url: string;
  poolSize?: number;
  timeZone?: string | undefined;
  logger?: Logger;
  /** How long to wait for the server when opening and for a free connection after. */
  connectTimeoutMs?: number;
}

/** The URL with any password replaced, for errors and logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}

export class PostgresStoreError extends Error {
  override readonly name = 'PostgresStoreError';
}

export class PostgresConsoleStore implements ConsoleStore {
  readonly kind = 'postgres';
  /** The same lane's updates one after another, whoever calls: each reads the row it then writes. */
  private readonly laneWrites = new KeyedQueue();
  /**
   * Each lane as last written by this console, so that an update costs no read: the console is the
   * only writer of its lanes (one console per database, as one per broker session).
   */
  private readonly known = new Map<string, LaneRecord>();
  /** Lane rows, a batch to a statement: telemetry from a whole fleet comes in bursts. */
  private readonly laneUpserts = new InsertBatcher((records: LaneRecord[]) => this.writeLanes(records), (record) => `${record.site}/${record.lane}`, {
    keep: 'last',
    oneByOneAfter: (error) => !this.transient(error),
  });
  /** Decisions, the fleet's bulk, written a batch to a statement and a commit. */
  private readonly decisionWrites = new InsertBatcher((rows: Array<DecisionRow & { receivedAt: number }>) => this.writeDecisions(rows), (row) => row.id, {
    oneByOneAfter: (error) => !this.transient(error),
  });

  private constructor(
    private readonly pool: pg.Pool,
    readonly timeZone: string | undefined,
    /** Which database, without the password. */
    readonly database: string,
  ) {}

  /** Connects, makes the tables if missing, and resolves with the store; rejects naming the database when it cannot. */
  static async open(options: PostgresStoreOptions): Promise<PostgresConsoleStore> {
    const shown = redactedUrl(options.url);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      // A half-open connection (a cut cable, a server gone without a word) must fail, not hang a lane's writes for ever.
      keepAlive: true,
      statement_timeout: QUERY_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS + 5_000,
      application_name: 'health-code-console',
      types,
    });
    // An idle connection the server drops (a restart) is an event, not a crash: the pool makes a new one when needed.
    pool.on('error', (error) => options.logger?.warn({ err: error.message, database: shown }, 'PostgreSQL connection lost; the pool reconnects on demand'));
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(SCHEMA);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => {});
      throw new PostgresStoreError(`console store: cannot open PostgreSQL at ${shown}: ${(error as Error).message}`);
    }
    return new PostgresConsoleStore(pool, options.timeZone, shown);
  }

  /** Waits for the writes under way (at most CLOSE_TIMEOUT_MS: a server that stopped answering must not hang a shutdown), then closes the pool. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const flushed = (async () => {
      await this.laneWrites.idle();
      await Promise.all([this.laneUpserts.idle(), this.decisionWrites.idle()]);
    })();
    await Promise.race([flushed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    await this.pool.end();
  }

  transient(error: unknown): boolean {
    if (!(error instanceof Error)) return false;
    const code = (error as { code?: unknown }).code;
    // The connection itself failed (refused, reset, timed out): a socket's errno, or node-postgres's own words.
    if (typeof code === 'string' && CONNECTION_ERRNOS.has(code)) return true;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_CLASSES.has(code.slice(0, 2));
    return CONNECTION_LOST.test(error.message);
  }

  private async rows<T>(name: string, text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.pool.query({ name, text, values })).rows as T[];
  }

  private async changed(name: string, text: string, values: unknown[]): Promise<boolean> {
    return (await this.pool.query({ name, text, values })).rowCount === 1;
  }

  private async one(name: string, text: string, values: unknown[]): Promise<number> {
    const [row] = await this.rows<{ n: number | null }>(name, text, values);
    return row?.n ?? 0;
  }

  // --- lanes -------------------------------------------------------------

  async lane(site: string, lane: string): Promise<LaneRow | null> {
    const record = await this.loadLane(site, lane);
    return record ? laneRowOf(record) : null;
  }

  async lanes(): Promise<LaneRow[]> {
    return (await this.rows<LaneRecord>('lanes', `SELECT ${LANE_COLUMNS} FROM lanes ORDER BY site COLLATE "C", lane COLLATE "C"`)).map(laneRowOf);
  }

  updateLane(update: LaneUpdate): Promise<LaneRow> {
    const key = `${update.site}/${update.lane}`;
    return this.laneWrites.run(key, async () => {
      const before = this.known.get(key) ?? (await this.loadLane(update.site, update.lane)) ?? newLane(update.site, update.lane, update.time);
      // A stale message moves only lastSeen; the whole row is written either way (one statement shape, batched).
      const { after } = applyLaneUpdate(before, update);
      try {
        await this.laneUpserts.add(after);
      } catch (error) {
        // Written or not, nobody knows (a connection lost at the commit): the next update reads the row again.
        this.known.delete(key);
        throw error;
      }
      this.known.set(key, after);
      return laneRowOf(after);
    });
  }

  private async loadLane(site: string, lane: string): Promise<LaneRecord | undefined> {
    const [record] = await this.rows<LaneRecord>('lane', `SELECT ${LANE_COLUMNS} FROM lanes WHERE site = $1 AND lane = $2`, [site, lane]);
    return record;
  }

  /** Whole lane rows, a batch to a statement; the fault lists travel as JSON text (unnest would flatten an array of arrays). */
  private async writeLanes(unsorted: LaneRecord[]): Promise<Set<string>> {
    const keyOf = (record: LaneRecord): string => `${record.site}/${record.lane}`;
    const records = [...unsorted].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    const column = <K extends keyof LaneRecord>(key: K) => records.map((record) => record[key]);
    await this.pool.query({
      name: 'lanes-upsert',
      text: `INSERT INTO lanes (site, lane, online, online_since, degraded, degraded_since, held, held_since, staff_mode, staff_mode_since,
               faults, faults_since, state, state_since, lane_state, first_seen, last_seen, state_time)
             SELECT site, lane, online, online_since, degraded, degraded_since, held, held_since, staff_mode, staff_mode_since,
               ARRAY(SELECT jsonb_array_elements_text(faults::jsonb)), faults_since, state, state_since, lane_state, first_seen, last_seen, state_time
             FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bigint[], $5::boolean[], $6::bigint[], $7::boolean[], $8::bigint[],
               $9::boolean[], $10::bigint[], $11::text[], $12::bigint[], $13::text[], $14::bigint[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[])
               AS u(site, lane, online, online_since, degraded, degraded_since, held, held_since, staff_mode, staff_mode_since,
                 faults, faults_since, state, state_since, lane_state, first_seen, last_seen, state_time)
             ON CONFLICT (site, lane) DO UPDATE SET ${LANE_UPSERT_SET}`,
      values: [
        column('site'), column('lane'), column('online'), column('onlineSince'), column('degraded'), column('degradedSince'), column('held'),
        column('heldSince'), column('staffMode'), column('staffModeSince'), records.map((record) => JSON.stringify(record.faults)), column('faultsSince'),
        column('state'), column('stateSince'), column('laneState'), column('firstSeen'), column('lastSeen'), column('stateTime'),
      ],
    });
    return new Set(records.map(keyOf));
  }

  // --- events ------------------------------------------------------------

  addDecision(d: DecisionRow, receivedAt = Date.now()): Promise<boolean> {
    return this.decisionWrites.add({ ...d, receivedAt });
  }

  /** One statement for a batch of decisions: each column an array, unnested into rows; resolves with the ids that were new. */
  private async writeDecisions(unsorted: Array<DecisionRow & { receivedAt: number }>): Promise<Set<string>> {
    // In key order: two batches in flight that share ids (a redelivery) then lock them in the same order, never a deadlock.
    const rows = [...unsorted].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const column = <K extends keyof (DecisionRow & { receivedAt: number })>(key: K) => rows.map((row) => row[key]);
    const result = await this.pool.query<{ id: string }>({
      name: 'decisions-add',
      text: `INSERT INTO decisions (id, site, lane, seq, time, day, verdict, reason, decided_by, colour, temperature_c, sensor_fault, degraded, received_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],
               $10::text[], $11::float8[], $12::text[], $13::boolean[], $14::bigint[])
             ON CONFLICT (id) DO NOTHING RETURNING id`,
      values: [
        column('id'), column('site'), column('lane'), column('seq'), column('time'), rows.map((row) => this.day(row.time)), column('verdict'),
        column('reason'), column('decidedBy'), column('colour'), column('temperatureC'), column('sensorFault'), column('degraded'), column('receivedAt'),
      ],
    });
    return new Set(result.rows.map((row) => row.id));
  }

  decisions(options: { site?: string | undefined; lane?: string | undefined; limit?: number } = {}): Promise<DecisionRow[]> {
    return this.rows<DecisionRow>(
      'decisions',
      `SELECT ${DECISION_COLUMNS} FROM decisions
       WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR lane = $2) ORDER BY time DESC, n DESC LIMIT $3`,
      [options.site ?? null, options.lane ?? null, options.limit ?? 100],
    );
  }

  addAlert(a: Omit<AlertRow, 'acknowledgedBy' | 'acknowledgedAt'>, receivedAt = Date.now()): Promise<boolean> {
    return this.changed(
      'alert-add',
      `INSERT INTO alerts (id, event_id, site, lane, time, day, decided_by, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO NOTHING`,
      [a.id, a.eventId, a.site, a.lane, a.time, this.day(a.time), a.decidedBy, receivedAt],
    );
  }

  alerts(options: { unacknowledged?: boolean; limit?: number } = {}): Promise<AlertRow[]> {
    return this.rows<AlertRow>(
      'alerts',
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE (NOT $1 OR acknowledged_at IS NULL) ORDER BY time DESC, n DESC LIMIT $2`,
      [options.unacknowledged ?? false, options.limit ?? 200],
    );
  }

  async alert(id: string): Promise<AlertRow | null> {
    const [row] = await this.rows<AlertRow>('alert', `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = $1`, [id]);
    return row ?? null;
  }

  async acknowledgeAlert(id: string, user: string, at = Date.now()): Promise<{ alert: AlertRow | null; acknowledgedNow: boolean }> {
    const acknowledgedNow = await this.changed(
      'alert-ack',
      'UPDATE alerts SET acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3 AND acknowledged_at IS NULL',
      [user, at, id],
    );
    return { alert: await this.alert(id), acknowledgedNow };
  }

  addFault(f: FaultRow, receivedAt = Date.now()): Promise<boolean> {
    return this.changed(
      'fault-add',
      `INSERT INTO faults (id, site, lane, time, day, kind, detail, active, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (id) DO NOTHING`,
      [f.id, f.site, f.lane, f.time, this.day(f.time), f.kind, f.detail, f.active, receivedAt],
    );
  }

  faults(limit = 100): Promise<FaultRow[]> {
    return this.rows<FaultRow>('faults', 'SELECT id, site, lane, time, kind, detail, active FROM faults ORDER BY time DESC, n DESC LIMIT $1', [limit]);
  }

  addRegistration(r: RegistrationRow, receivedAt = Date.now()): Promise<boolean> {
    return this.changed(
      'registration-add',
      `INSERT INTO registrations (id, event_id, site, lane, time, day, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO NOTHING`,
      [r.id, r.eventId, r.site, r.lane, r.time, this.day(r.time), receivedAt],
    );
  }

  addColourChange(c: ColourChangeRow, receivedAt = Date.now()): Promise<boolean> {
    return this.changed(
      'colour-change-add',
      `INSERT INTO colour_changes (site, seq, issued_at, day, received_at, verified) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (site, seq) DO NOTHING`,
      [c.site, c.seq, c.issuedAt, this.day(c.issuedAt), receivedAt, c.verified],
    );
  }

  addColourApplied(a: ColourAppliedRow, receivedAt = Date.now()): Promise<boolean> {
    return this.changed(
      'colour-applied-add',
      `INSERT INTO colour_applied (site, lane, seq, applied_at, via, received_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (site, lane, seq, via) DO NOTHING`,
      [a.site, a.lane, a.seq, a.appliedAt, a.via, receivedAt],
    );
  }

  // --- commands ----------------------------------------------------------

  async addCommand(c: CommandRow): Promise<void> {
    await this.pool.query({
      name: 'command-add',
      text: `INSERT INTO commands (id, site, lane, action, sent_by, sent_at, result, result_at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      values: [c.id, c.site, c.lane, c.action, c.user, c.sentAt, c.result, c.resultAt, c.detail],
    });
  }

  async settleCommand(id: string, result: CommandRow['result'], at: number, detail: string | null): Promise<CommandRow | null> {
    await this.pool.query({
      name: 'command-settle',
      text: "UPDATE commands SET result = $1, result_at = $2, detail = $3 WHERE id = $4 AND result = 'pending'",
      values: [result, at, detail, id],
    });
    return this.command(id);
  }

  async command(id: string): Promise<CommandRow | null> {
    const [row] = await this.rows<CommandRow>('command', `SELECT ${COMMAND_COLUMNS} FROM commands WHERE id = $1`, [id]);
    return row ?? null;
  }

  commands(limit = 100): Promise<CommandRow[]> {
    return this.rows<CommandRow>('commands', `SELECT ${COMMAND_COLUMNS} FROM commands ORDER BY sent_at DESC, n DESC LIMIT $1`, [limit]);
  }

  pendingCommands(before: number): Promise<CommandRow[]> {
    return this.rows<CommandRow>('commands-pending', `SELECT ${COMMAND_COLUMNS} FROM commands WHERE result = 'pending' AND sent_at < $1`, [before]);
  }

  // --- figures -----------------------------------------------------------

  day(epochMs: number): string {
    return dayOfZone(epochMs, this.timeZone);
  }

  async sites(): Promise<string[]> {
    const rows = await this.rows<{ site: string }>(
      'sites',
      'SELECT site FROM (SELECT site FROM lanes UNION SELECT site FROM decisions UNION SELECT site FROM colour_changes) AS s ORDER BY site COLLATE "C"',
    );
    return rows.map((r) => r.site);
  }

  async figures(site: string, day: string): Promise<Figures> {
    const [counts] = await this.rows<{ checks: number; passes: number; refusals: number; holds: number }>(
      'figures-decisions',
      `SELECT COUNT(*) AS checks, COUNT(*) FILTER (WHERE verdict = 'pass') AS passes,
         COUNT(*) FILTER (WHERE verdict = 'deny') AS refusals, COUNT(*) FILTER (WHERE verdict = 'hold') AS holds
       FROM decisions WHERE site = $1 AND day = $2`,
      [site, day],
    );
    const staffRegistrations = await this.one('figures-registrations', 'SELECT COUNT(*) AS n FROM registrations WHERE site = $1 AND day = $2', [site, day]);
    const sensorFaults = await this.one(
      'figures-faults',
      'SELECT COUNT(*) AS n FROM faults WHERE site = $1 AND day = $2 AND active AND kind <> ALL($3::text[])',
      [site, day, NOT_SENSOR_FAULTS],
    );
    const redAlerts = await this.one('figures-alerts', 'SELECT COUNT(*) AS n FROM alerts WHERE site = $1 AND day = $2', [site, day]);
    // Every (change, lane) pair a lane known at the site when the change was issued should have applied;
    // a snapshot complete up to seq N applies every change up to N the lane had missed.
    const pairs = await this.rows<{ seq: number; issuedAt: number; lane: string; appliedAt: number | null }>(
      'figures-colour',
      `SELECT c.seq, c.issued_at AS "issuedAt", l.lane, MIN(a.applied_at) AS "appliedAt"
       FROM colour_changes c JOIN lanes l ON l.site = c.site AND l.first_seen <= c.issued_at
       LEFT JOIN colour_applied a ON a.site = c.site AND a.lane = l.lane
         AND (a.seq = c.seq OR (a.via = 'snapshot' AND a.seq >= c.seq))
       WHERE c.site = $1 AND c.day = $2 GROUP BY c.seq, c.issued_at, l.lane ORDER BY c.seq, l.lane COLLATE "C"`,
      [site, day],
    );
    const changes = await this.one('figures-changes', 'SELECT COUNT(*) AS n FROM colour_changes WHERE site = $1 AND day = $2', [site, day]);
    return { site, day, ...counts!, staffRegistrations, sensorFaults, redAlerts, colourChanges: timeliness(changes, pairs) };
  }
}
