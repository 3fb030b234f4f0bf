/**
 * The console's tables as Kysely sees them: one row type per table, the
 * columns under their SQL names. Both databases hold the same columns; what
 * differs is how a few values come back (dialects.ts): a flag is true/false
 * from PostgreSQL and 1/0 from SQLite, a lane's faults a text[] from
 * PostgreSQL and JSON text from SQLite. `flag` and `list` read either.
 *
 * Epoch ms and counts are numbers in both: PostgreSQL's BIGINT is parsed to
 * a number on the way in (they are far below 2^53).
 */
import type { ColumnType, Generated, SqlBool } from 'kysely';

/** A lane's fault kinds: written as a list, read back as the dialect keeps it. */
type FaultList = ColumnType<string[] | string, string[], string[]>;

export interface LanesTable {
  site: string;
  lane: string;
  online: SqlBool;
  online_since: number;
  degraded: SqlBool;
  degraded_since: number;
  held: SqlBool;
  held_since: number;
  staff_mode: SqlBool;
  staff_mode_since: number;
  faults: FaultList;
  faults_since: number;
  state: string;
  state_since: number;
  lane_state: string | null;
  first_seen: number;
  last_seen: number;
  /** The time of the newest message whose state was applied. */
  state_time: number;
}

/**
 * `n`: the order rows were written in, to list rows of the same millisecond
 * newest first. PostgreSQL has it as a BIGSERIAL column; SQLite's rowid is the
 * same thing (dialects.ts names which to order by), so SQLite has no `n`.
 */
interface Written {
  n: Generated<number>;
}

export interface DecisionsTable extends Written {
  id: string;
  site: string;
  lane: string;
  seq: number;
  time: number;
  day: string;
  verdict: string;
  reason: string;
  decided_by: string;
  colour: string | null;
  temperature_c: number | null;
  sensor_fault: string | null;
  degraded: SqlBool;
  received_at: number;
}

export interface AlertsTable extends Written {
  id: string;
  event_id: string;
  site: string;
  lane: string;
  time: number;
  day: string;
  decided_by: string;
  acknowledged_by: string | null;
  acknowledged_at: number | null;
  received_at: number;
}

export interface FaultsTable extends Written {
  id: string;
  site: string;
  lane: string;
  time: number;
  day: string;
  kind: string;
  detail: string;
  active: SqlBool;
  received_at: number;
}

export interface RegistrationsTable {
  id: string;
  event_id: string;
  site: string;
  lane: string;
  time: number;
  day: string;
  received_at: number;
}

export interface ColourChangesTable {
  site: string;
  seq: number;
  issued_at: number;
  day: string;
  received_at: number;
  verified: SqlBool;
}

export interface ColourAppliedTable {
  site: string;
  lane: string;
  seq: number;
  applied_at: number;
  via: string;
  received_at: number;
}

export interface CommandsTable extends Written {
  id: string;
  site: string;
  lane: string;
  action: string;
  /** The operator who sent it (`user` in the SQLite files of earlier releases: migrations.ts renames it). */
  sent_by: string;
  sent_at: number;
  result: string;
  result_at: number | null;
  detail: string | null;
}

export interface Database {
  lanes: LanesTable;
  decisions: DecisionsTable;
  alerts: AlertsTable;
  faults: FaultsTable;
  registrations: RegistrationsTable;
  colour_changes: ColourChangesTable;
  colour_applied: ColourAppliedTable;
  commands: CommandsTable;
}

/** A flag as either dialect gives it back. */
export function flag(value: SqlBool): boolean {
  return value === true || value === 1;
}

/** A lane's faults as either dialect gives them back. */
export function list(value: string[] | string): string[] {
  return typeof value === 'string' ? (JSON.parse(value) as string[]) : value;
}
