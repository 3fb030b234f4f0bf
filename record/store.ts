/**
 * What the console keeps across restarts, and what it must agree on
 * whichever database keeps it: the rows, the store's interface, and the
 * rules for a lane's state. One implementation (sql-store.ts) keeps it in
 * SQLite (sqlite-store.ts, the default: one file, nothing to run) or
 * PostgreSQL (postgres-store.ts, for a control room that already runs one);
 * open-store.ts picks one from the config.
 *
 * Every method is asynchronous because PostgreSQL is; SQLite answers at
 * once. Times are epoch ms; a `day` is the calendar day in the console's
 * time zone, so the §7 figures are one GROUP BY away.
 */

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

/** A lane as kept: its row and the time of the newest message whose state was applied. */
export interface LaneRecord extends LaneRow {
  /** An older message arriving late (from a gate's outbox after an outage) changes no state. */
  stateTime: number;
}

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

export interface RegistrationRow {
  id: string;
  eventId: string;
  site: string;
  lane: string;
  time: number;
}

export interface ColourChangeRow {
  site: string;
  seq: number;
  issuedAt: number;
  verified: boolean;
}

export interface ColourAppliedRow {
  site: string;
  lane: string;
  seq: number;
  appliedAt: number;
  via: 'change' | 'snapshot';
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

/**
 * The console's store. The `add…` methods return false for a row stored
 * before (a duplicate delivery); updates to one lane must not overlap
 * (the feed runs each lane's messages one after another).
 */
export interface ConsoleStore {
  readonly timeZone: string | undefined;
  /** Which database: for the log and the stats. */
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;

  lane(site: string, lane: string): Promise<LaneRow | null>;
  lanes(): Promise<LaneRow[]>;
  /** Applies what a message says; each flag's since-time moves only when the flag changes. Resolves with the lane after. */
  updateLane(update: LaneUpdate): Promise<LaneRow>;

  addDecision(decision: DecisionRow, receivedAt?: number): Promise<boolean>;
  decisions(options?: { site?: string | undefined; lane?: string | undefined; limit?: number }): Promise<DecisionRow[]>;
  addAlert(alert: Omit<AlertRow, 'acknowledgedBy' | 'acknowledgedAt'>, receivedAt?: number): Promise<boolean>;
  alerts(options?: { unacknowledged?: boolean; limit?: number }): Promise<AlertRow[]>;
  alert(id: string): Promise<AlertRow | null>;
  /**
   * Records who acknowledged the alert and when; the first acknowledgement
   * stands. `acknowledgedNow`: this call made it (of two operators at once,
   * one). A null alert: no such alert.
   */
  acknowledgeAlert(id: string, user: string, at?: number): Promise<{ alert: AlertRow | null; acknowledgedNow: boolean }>;
  addFault(fault: FaultRow, receivedAt?: number): Promise<boolean>;
  faults(limit?: number): Promise<FaultRow[]>;
  /** Only the ids and time of a sealed registration: the record itself is for the health authority. */
  addRegistration(registration: RegistrationRow, receivedAt?: number): Promise<boolean>;
  /** A colour change from the centre; a heartbeat repeating a seq keeps the first issuedAt. */
  addColourChange(change: ColourChangeRow, receivedAt?: number): Promise<boolean>;
  addColourApplied(applied: ColourAppliedRow, receivedAt?: number): Promise<boolean>;

  addCommand(command: CommandRow): Promise<void>;
  /** Records a command's outcome once; later results for it (duplicates) change nothing. Null: not a command of this console. */
  settleCommand(id: string, result: CommandRow['result'], at: number, detail: string | null): Promise<CommandRow | null>;
  command(id: string): Promise<CommandRow | null>;
  commands(limit?: number): Promise<CommandRow[]>;
  /** Commands still waiting for a result that were sent before `before`. */
  pendingCommands(before: number): Promise<CommandRow[]>;

  /** The calendar day of an instant in the console's time zone. */
  day(epochMs: number): string;
  sites(): Promise<string[]>;
  /** The §7 figures of one site on one day. */
  figures(site: string, day: string): Promise<Figures>;

  /** True for a failure that may pass if tried again (the database away, busy, or restarting); false for a row it refuses. */
  transient(error: unknown): boolean;
}

/** Store faults and the outbox are not sensors: they do not count as sensor faults. */
export const NOT_SENSOR_FAULTS = ['journal', 'outbox-dropped', 'outbox-filling'];

function overall(lane: Pick<LaneRow, 'online' | 'held' | 'faults' | 'staffMode' | 'degraded'>): LaneOverall {
  if (!lane.online) return 'offline';
  if (lane.held) return 'held';
  if (lane.faults.length > 0) return 'fault';
  if (lane.staffMode) return 'staff';
  if (lane.degraded) return 'degraded';
  return 'online';
}

/** A lane never seen before, as the first message about it finds it. */
export function newLane(site: string, lane: string, t: number): LaneRecord {
  return {
    site, lane, state: 'offline', stateSince: t, online: false, onlineSince: t, degraded: false, degradedSince: t, held: false, heldSince: t,
    staffMode: false, staffModeSince: t, faults: [], faultsSince: t, laneState: null, firstSeen: t, lastSeen: t, stateTime: 0,
  };
}

/**
 * The lane after one message, by the same rules in every backend. `stale`:
 * the message is older than the state already shown, so only lastSeen moved.
 */
export function applyLaneUpdate(before: LaneRecord, update: LaneUpdate): { after: LaneRecord; stale: boolean } {
  const t = update.time;
  const next: LaneRecord = { ...before, faults: [...before.faults], lastSeen: Math.max(before.lastSeen, t) };
  if (!update.latest && t < before.stateTime) return { after: next, stale: true };
  next.stateTime = Math.max(before.stateTime, t);
  const flag = (key: 'online' | 'degraded' | 'held' | 'staffMode', value: boolean | undefined): void => {
    if (value === undefined || next[key] === value) return;
    next[key] = value;
    next[`${key}Since`] = t;
  };
  flag('online', update.online);
  flag('degraded', update.degraded);
  flag('staffMode', update.staffMode);
  if (update.laneState !== undefined) {
    next.laneState = update.laneState;
    flag('held', update.laneState === 'held');
    // The lane's own state says staff mode too, when the status leaves it out.
    if (update.staffMode === undefined && update.laneState === 'staff') flag('staffMode', true);
  }
  let faults = before.faults;
  if (update.faults !== undefined) faults = [...new Set(update.faults)].sort();
  if (update.fault) {
    const { kind, active } = update.fault;
    faults = active ? [...new Set([...faults, kind])].sort() : faults.filter((k) => k !== kind);
  }
  if (faults.join('\n') !== before.faults.join('\n')) {
    // The since-time is when the lane went from no fault to some, or back.
    if ((faults.length > 0) !== (before.faults.length > 0)) next.faultsSince = t;
    next.faults = faults;
  }
  const state = overall(next);
  if (state !== before.state) {
    next.state = state;
    next.stateSince = t;
  }
  return { after: next, stale: false };
}

/** What a page is shown of a lane: the record without its bookkeeping. */
export function laneRowOf(record: LaneRecord): LaneRow {
  const { stateTime: _, ...row } = record;
  return row;
}

/**
 * Colour-change timeliness from the (change, lane) pairs a backend found:
 * the delay of each applied pair, median and worst, and the pairs never applied.
 */
export function timeliness(
  changes: number,
  pairs: Array<{ seq: number; issuedAt: number; lane: string; appliedAt: number | null }>,
): Figures['colourChanges'] {
  const delays = pairs.filter((p) => p.appliedAt !== null).map((p) => Math.max(0, p.appliedAt! - p.issuedAt)).sort((a, b) => a - b);
  return {
    changes,
    expected: pairs.length,
    applied: delays.length,
    medianMs: median(delays),
    worstMs: delays.length > 0 ? delays[delays.length - 1]! : null,
    neverApplied: pairs.filter((p) => p.appliedAt === null).map((p) => ({ lane: p.lane, seq: p.seq, issuedAt: p.issuedAt })),
  };
}

function median(sorted: number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
