/**
 * The console's store, one set of queries for SQLite and PostgreSQL (Kysely;
 * what differs between the two is dialects.ts, the tables migrations.ts).
 * Each lane's state and since when, decisions (deduplicated by id, never the
 * subject), red-code alerts and who acknowledged them, faults, staff
 * registrations (ids and times only, never the sealed record), colour
 * changes and when each lane applied them, and the command log; the §7
 * figures are computed from these rows.
 *
 * Decisions, the bulk of a fleet's traffic, and lane rows are written in
 * batches (insert-batcher.ts): a statement and a commit for what arrives in
 * one turn of the event loop.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import { flag, list, type AlertsTable, type CommandsTable, type Database, type DecisionsTable, type LanesTable } from './database.js';
import { dayOf as dayOfZone } from './days.js';
import type { DialectRules } from './dialects.js';
import { InsertBatcher } from './insert-batcher.js';
import { KeyedQueue } from './keyed-queue.js';
import {
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
  type LaneOverall,
  type LaneRecord,
  type LaneRow,
  type LaneUpdate,
  type RegistrationRow,
} from './store.js';

/** How long close() waits for writes under way, before giving up on them (a server that stopped answering must not hang a shutdown). */
const CLOSE_TIMEOUT_MS = 10_000;

function laneOf(row: Selectable<LanesTable>): LaneRecord {
  return {
    site: row.site,
    lane: row.lane,
    state: row.state as LaneOverall,
    stateSince: row.state_since,
    online: flag(row.online),
    onlineSince: row.online_since,
    degraded: flag(row.degraded),
    degradedSince: row.degraded_since,
    held: flag(row.held),
    heldSince: row.held_since,
    staffMode: flag(row.staff_mode),
    staffModeSince: row.staff_mode_since,
    faults: list(row.faults),
    faultsSince: row.faults_since,
    laneState: row.lane_state,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    stateTime: row.state_time,
  };
}

function laneRowFor(r: LaneRecord) {
  return {
    site: r.site, lane: r.lane, online: r.online, online_since: r.onlineSince, degraded: r.degraded, degraded_since: r.degradedSince,
    held: r.held, held_since: r.heldSince, staff_mode: r.staffMode, staff_mode_since: r.staffModeSince, faults: r.faults,
    faults_since: r.faultsSince, state: r.state, state_since: r.stateSince, lane_state: r.laneState, first_seen: r.firstSeen,
    last_seen: r.lastSeen, state_time: r.stateTime,
  };
}

const DECISION_COLUMNS = ['id', 'site', 'lane', 'seq', 'time', 'verdict', 'reason', 'decided_by', 'colour', 'temperature_c', 'sensor_fault', 'degraded'] as const;

function decisionOf(row: Pick<Selectable<DecisionsTable>, (typeof DECISION_COLUMNS)[number]>): DecisionRow {
  return {
    id: row.id, site: row.site, lane: row.lane, seq: row.seq, time: row.time, verdict: row.verdict as DecisionRow['verdict'], reason: row.reason,
    decidedBy: row.decided_by, colour: row.colour, temperatureC: row.temperature_c, sensorFault: row.sensor_fault, degraded: flag(row.degraded),
  };
}

const ALERT_COLUMNS = ['id', 'event_id', 'site', 'lane', 'time', 'decided_by', 'acknowledged_by', 'acknowledged_at'] as const;

function alertOf(row: Pick<Selectable<AlertsTable>, (typeof ALERT_COLUMNS)[number]>): AlertRow {
  return {
    id: row.id, eventId: row.event_id, site: row.site, lane: row.lane, time: row.time, decidedBy: row.decided_by,
    acknowledgedBy: row.acknowledged_by, acknowledgedAt: row.acknowledged_at,
  };
}

const COMMAND_COLUMNS = ['id', 'site', 'lane', 'action', 'sent_by', 'sent_at', 'result', 'result_at', 'detail'] as const;

function commandOf(row: Pick<Selectable<CommandsTable>, (typeof COMMAND_COLUMNS)[number]>): CommandRow {
  return {
    id: row.id, site: row.site, lane: row.lane, action: row.action, user: row.sent_by, sentAt: row.sent_at,
    result: row.result as CommandRow['result'], resultAt: row.result_at, detail: row.detail,
  };
}

const byKey = <T>(keyOf: (item: T) => string) => (a: T, b: T): number => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0);
const laneKey = (record: { site: string; lane: string }): string => `${record.site}/${record.lane}`;

type NewDecision = DecisionRow & { receivedAt: number };

export class SqlConsoleStore implements ConsoleStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The same lane's updates one after another, whoever calls: each reads the row it then writes. */
  private readonly laneWrites = new KeyedQueue();
  /**
   * Each lane as last written by this console, so that an update costs no read: the console is the
   * only writer of its lanes (one console per database, as one per broker session).
   */
  private readonly known = new Map<string, LaneRecord>();
  /** Lane rows, a batch to a statement: telemetry from a whole fleet comes in bursts. */
  private readonly laneUpserts: InsertBatcher<LaneRecord>;
  /** Decisions, the fleet's bulk, written a batch to a statement and a commit. */
  private readonly decisionWrites: InsertBatcher<NewDecision>;
  /** The column that lists rows of the same millisecond newest first. */
  private readonly written: ReturnType<typeof sql.ref<number>>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly rules: DialectRules,
    readonly timeZone: string | undefined,
    /** Which database: the file, or the server's URL without its password. */
    readonly database: string,
  ) {
    this.kind = rules.kind;
    this.written = sql.ref<number>(rules.writtenOrder);
    const batches = { maxRows: rules.rowsPerBatch, oneByOneAfter: (error: Error) => !this.transient(error) };
    this.laneUpserts = new InsertBatcher((records: LaneRecord[]) => this.writeLanes(records), laneKey, { ...batches, keep: 'last' });
    this.decisionWrites = new InsertBatcher((rows: NewDecision[]) => this.writeDecisions(rows), (row) => row.id, batches);
  }

  /** Waits for the writes under way (at most CLOSE_TIMEOUT_MS), then closes the database. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const flushed = (async () => {
      await this.laneWrites.idle();
      await Promise.all([this.laneUpserts.idle(), this.decisionWrites.idle()]);
    })();
    await Promise.race([flushed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    await this.db.destroy();
  }

  transient(error: unknown): boolean {
    return this.rules.transient(error);
  }

  day(epochMs: number): string {
    return dayOfZone(epochMs, this.timeZone);
  }

  // --- lanes -------------------------------------------------------------

  async lane(site: string, lane: string): Promise<LaneRow | null> {
    const record = await this.loadLane(site, lane);
    return record ? laneRowOf(record) : null;
  }

  async lanes(): Promise<LaneRow[]> {
    const rows = await this.db.selectFrom('lanes').selectAll().orderBy(this.rules.byteOrder('site')).orderBy(this.rules.byteOrder('lane')).execute();
    return rows.map((row) => laneRowOf(laneOf(row)));
  }

  updateLane(update: LaneUpdate): Promise<LaneRow> {
    const key = laneKey(update);
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
    const row = await this.db.selectFrom('lanes').selectAll().where('site', '=', site).where('lane', '=', lane).executeTakeFirst();
    return row && laneOf(row);
  }

  /** Whole lane rows, a batch to a statement; in key order, so that two batches in flight lock rows in the same order. */
  private async writeLanes(records: LaneRecord[]): Promise<Set<string>> {
    const sorted = [...records].sort(byKey(laneKey));
    await this.db
      .insertInto('lanes')
      .values(sorted.map(laneRowFor))
      .onConflict((oc) =>
        oc.columns(['site', 'lane']).doUpdateSet((eb) => ({
          online: eb.ref('excluded.online'), online_since: eb.ref('excluded.online_since'),
          degraded: eb.ref('excluded.degraded'), degraded_since: eb.ref('excluded.degraded_since'),
          held: eb.ref('excluded.held'), held_since: eb.ref('excluded.held_since'),
          staff_mode: eb.ref('excluded.staff_mode'), staff_mode_since: eb.ref('excluded.staff_mode_since'),
          faults: eb.ref('excluded.faults'), faults_since: eb.ref('excluded.faults_since'),
          state: eb.ref('excluded.state'), state_since: eb.ref('excluded.state_since'),
          lane_state: eb.ref('excluded.lane_state'), last_seen: eb.ref('excluded.last_seen'), state_time: eb.ref('excluded.state_time'),
        })),
      )
      .execute();
    return new Set(sorted.map(laneKey));
  }

  // --- events ------------------------------------------------------------

  addDecision(d: DecisionRow, receivedAt = Date.now()): Promise<boolean> {
    return this.decisionWrites.add({ ...d, receivedAt });
  }

  /** One statement for a batch of decisions; resolves with the ids that were new. */
  private async writeDecisions(rows: NewDecision[]): Promise<Set<string>> {
    // In key order: two batches in flight that share ids (a redelivery) then lock them in the same order, never a deadlock.
    const sorted = [...rows].sort(byKey((row) => row.id));
    const added = await this.db
      .insertInto('decisions')
      .values(
        sorted.map((d) => ({
          id: d.id, site: d.site, lane: d.lane, seq: d.seq, time: d.time, day: this.day(d.time), verdict: d.verdict, reason: d.reason,
          decided_by: d.decidedBy, colour: d.colour, temperature_c: d.temperatureC, sensor_fault: d.sensorFault, degraded: d.degraded,
          received_at: d.receivedAt,
        })),
      )
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .execute();
    return new Set(added.map((row) => row.id));
  }

  async decisions(options: { site?: string | undefined; lane?: string | undefined; limit?: number } = {}): Promise<DecisionRow[]> {
    const { site, lane } = options;
    const rows = await this.db
      .selectFrom('decisions')
      .select(DECISION_COLUMNS)
      .$if(site !== undefined, (q) => q.where('site', '=', site!))
      .$if(lane !== undefined, (q) => q.where('lane', '=', lane!))
      .orderBy('time', 'desc')
      .orderBy(this.written, 'desc')
      .limit(options.limit ?? 100)
      .execute();
    return rows.map(decisionOf);
  }

  async addAlert(a: Omit<AlertRow, 'acknowledgedBy' | 'acknowledgedAt'>, receivedAt = Date.now()): Promise<boolean> {
    const result = await this.db
      .insertInto('alerts')
      .values({ id: a.id, event_id: a.eventId, site: a.site, lane: a.lane, time: a.time, day: this.day(a.time), decided_by: a.decidedBy, received_at: receivedAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  async alerts(options: { unacknowledged?: boolean; limit?: number } = {}): Promise<AlertRow[]> {
    const rows = await this.db
      .selectFrom('alerts')
      .select(ALERT_COLUMNS)
      .$if(options.unacknowledged === true, (q) => q.where('acknowledged_at', 'is', null))
      .orderBy('time', 'desc')
      .orderBy(this.written, 'desc')
      .limit(options.limit ?? 200)
      .execute();
    return rows.map(alertOf);
  }

  async alert(id: string): Promise<AlertRow | null> {
    const row = await this.db.selectFrom('alerts').select(ALERT_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? alertOf(row) : null;
  }

  async acknowledgeAlert(id: string, user: string, at = Date.now()): Promise<{ alert: AlertRow | null; acknowledgedNow: boolean }> {
    const result = await this.db
      .updateTable('alerts')
      .set({ acknowledged_by: user, acknowledged_at: at })
      .where('id', '=', id)
      .where('acknowledged_at', 'is', null)
      .executeTakeFirst();
    return { alert: await this.alert(id), acknowledgedNow: result.numUpdatedRows === 1n };
  }

  async addFault(f: FaultRow, receivedAt = Date.now()): Promise<boolean> {
    const result = await this.db
      .insertInto('faults')
      .values({ id: f.id, site: f.site, lane: f.lane, time: f.time, day: this.day(f.time), kind: f.kind, detail: f.detail, active: f.active, received_at: receivedAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  async faults(limit = 100): Promise<FaultRow[]> {
    const rows = await this.db
      .selectFrom('faults')
      .select(['id', 'site', 'lane', 'time', 'kind', 'detail', 'active'])
      .orderBy('time', 'desc')
      .orderBy(this.written, 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: r.id, site: r.site, lane: r.lane, time: r.time, kind: r.kind, detail: r.detail, active: flag(r.active) }));
  }

  async addRegistration(r: RegistrationRow, receivedAt = Date.now()): Promise<boolean> {
    const result = await this.db
      .insertInto('registrations')
      .values({ id: r.id, event_id: r.eventId, site: r.site, lane: r.lane, time: r.time, day: this.day(r.time), received_at: receivedAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  async addColourChange(c: ColourChangeRow, receivedAt = Date.now()): Promise<boolean> {
    const result = await this.db
      .insertInto('colour_changes')
      .values({ site: c.site, seq: c.seq, issued_at: c.issuedAt, day: this.day(c.issuedAt), received_at: receivedAt, verified: c.verified })
      .onConflict((oc) => oc.columns(['site', 'seq']).doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  async addColourApplied(a: ColourAppliedRow, receivedAt = Date.now()): Promise<boolean> {
    const result = await this.db
      .insertInto('colour_applied')
      .values({ site: a.site, lane: a.lane, seq: a.seq, applied_at: a.appliedAt, via: a.via, received_at: receivedAt })
      .onConflict((oc) => oc.columns(['site', 'lane', 'seq', 'via']).doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 1n;
  }

  // --- commands ----------------------------------------------------------

  async addCommand(c: CommandRow): Promise<void> {
    await this.db
      .insertInto('commands')
      .values({ id: c.id, site: c.site, lane: c.lane, action: c.action, sent_by: c.user, sent_at: c.sentAt, result: c.result, result_at: c.resultAt, detail: c.detail })
      .execute();
  }

  async settleCommand(id: string, result: CommandRow['result'], at: number, detail: string | null): Promise<CommandRow | null> {
    await this.db.updateTable('commands').set({ result, result_at: at, detail }).where('id', '=', id).where('result', '=', 'pending').execute();
    return this.command(id);
  }

  async command(id: string): Promise<CommandRow | null> {
    const row = await this.db.selectFrom('commands').select(COMMAND_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? commandOf(row) : null;
  }

  async commands(limit = 100): Promise<CommandRow[]> {
    const rows = await this.db.selectFrom('commands').select(COMMAND_COLUMNS).orderBy('sent_at', 'desc').orderBy(this.written, 'desc').limit(limit).execute();
    return rows.map(commandOf);
  }

  async pendingCommands(before: number): Promise<CommandRow[]> {
    const rows = await this.db.selectFrom('commands').select(COMMAND_COLUMNS).where('result', '=', 'pending').where('sent_at', '<', before).execute();
    return rows.map(commandOf);
  }

  // --- figures -----------------------------------------------------------

  async sites(): Promise<string[]> {
    const rows = await this.db
      .selectFrom((eb) =>
        eb.selectFrom('lanes').select('site').union(eb.selectFrom('decisions').select('site')).union(eb.selectFrom('colour_changes').select('site')).as('s'),
      )
      .select('site')
      .orderBy(this.rules.byteOrder('site'))
      .execute();
    return rows.map((r) => r.site);
  }

  async figures(site: string, day: string): Promise<Figures> {
    const counts = await this.db
      .selectFrom('decisions')
      .where('site', '=', site)
      .where('day', '=', day)
      .select((eb) => [
        eb.fn.countAll<number>().as('checks'),
        eb.fn.countAll<number>().filterWhere('verdict', '=', 'pass').as('passes'),
        eb.fn.countAll<number>().filterWhere('verdict', '=', 'deny').as('refusals'),
        eb.fn.countAll<number>().filterWhere('verdict', '=', 'hold').as('holds'),
      ])
      .executeTakeFirstOrThrow();
    const count = async (table: 'registrations' | 'alerts' | 'colour_changes'): Promise<number> =>
      (await this.db.selectFrom(table).where('site', '=', site).where('day', '=', day).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
    const staffRegistrations = await count('registrations');
    const { n: sensorFaults } = await this.db
      .selectFrom('faults')
      .where('site', '=', site)
      .where('day', '=', day)
      .where('active', '=', true)
      .where('kind', 'not in', NOT_SENSOR_FAULTS)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const redAlerts = await count('alerts');
    // Every (change, lane) pair a lane known at the site when the change was issued should have applied;
    // a snapshot complete up to seq N applies every change up to N the lane had missed.
    const pairs = await this.db
      .selectFrom('colour_changes as c')
      .innerJoin('lanes as l', (join) => join.onRef('l.site', '=', 'c.site').onRef('l.first_seen', '<=', 'c.issued_at'))
      .leftJoin('colour_applied as a', (join) =>
        join
          .onRef('a.site', '=', 'c.site')
          .onRef('a.lane', '=', 'l.lane')
          .on((eb) => eb.or([eb('a.seq', '=', eb.ref('c.seq')), eb.and([eb('a.via', '=', 'snapshot'), eb('a.seq', '>=', eb.ref('c.seq'))])])),
      )
      .where('c.site', '=', site)
      .where('c.day', '=', day)
      .groupBy(['c.seq', 'c.issued_at', 'l.lane'])
      .select((eb) => ['c.seq', 'c.issued_at', 'l.lane', eb.fn.min('a.applied_at').as('applied_at')])
      .orderBy('c.seq')
      .orderBy(this.rules.byteOrder('l.lane'))
      .execute();
    const changes = await count('colour_changes');
    return {
      site,
      day,
      ...counts,
      staffRegistrations,
      sensorFaults,
      redAlerts,
      colourChanges: timeliness(changes, pairs.map((p) => ({ seq: p.seq, issuedAt: p.issued_at, lane: p.lane, appliedAt: p.applied_at }))),
    };
  }
}
