/**
 * Every table of the gate's SQLite file (the journal file, journal.path),
 * as a numbered list of migrations; migrate.ts applies them in order. A
 * change of schema is a new entry at the end, never an edit of one that
 * has shipped: a file records the versions it has been through.
 *
 * Table names carry their store's prefix where one is needed: the journal,
 * outbox, pushed colours, lane holds, seen commands, registrations, config
 * overrides, trust list versions and centre keys share the file so that a decision and
 * what follows from it commit in one transaction.
 */
import type SqliteDatabase from 'better-sqlite3';
import { GateDatabaseError } from './errors.js';
import type { Migration } from './migrate.js';

type Database = SqliteDatabase.Database;

// The journal. id, lane, seq, time, verdict and reason are columns so they
// can be queried and indexed; the whole event is kept as JSON so nothing is
// lost when the event type grows. (lane, seq) is unique: a lane's sequence
// has no duplicates.
const EVENTS = `
  CREATE TABLE IF NOT EXISTS events (
    id      TEXT    NOT NULL UNIQUE,
    lane    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    time    TEXT    NOT NULL,
    verdict TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    event   TEXT    NOT NULL,
    UNIQUE (lane, seq)
  ) STRICT;
  CREATE INDEX IF NOT EXISTS events_time ON events (time);
`;

// The outbox. seq is the rowid; AUTOINCREMENT so a deleted tail is never
// handed out again, which would hide new rows behind a pump's cursor. The
// row counts live in outbox_meta, kept by triggers in the same transaction:
// count(*) walks the whole table, too slow for every enqueue. outbox_meta's
// 'schema' row is the outbox's version as release 0.1.0 kept it; that
// release still checks it, so it stays at 1.
const OUTBOX = `
  CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT, WITHOUT ROWID;
  INSERT OR IGNORE INTO outbox_meta (key, value) VALUES ('schema', 1), ('depth', 0), ('dead', 0), ('dropped', 0);
  CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    lane       TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL CHECK (qos IN (0, 1)),
    retain     INTEGER NOT NULL CHECK (retain IN (0, 1)),
    priority   TEXT    NOT NULL CHECK (priority IN ('event', 'telemetry')),
    created    INTEGER NOT NULL,
    tries      INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
  ) STRICT;
  CREATE INDEX IF NOT EXISTS outbox_priority ON outbox (priority, seq);
  CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created);
  CREATE TABLE IF NOT EXISTS outbox_dead (
    seq      INTEGER PRIMARY KEY,
    id       TEXT    NOT NULL,
    lane     TEXT    NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    qos      INTEGER NOT NULL,
    retain   INTEGER NOT NULL,
    priority TEXT    NOT NULL,
    created  INTEGER NOT NULL,
    tries    INTEGER NOT NULL,
    failed   INTEGER NOT NULL,
    reason   TEXT    NOT NULL
  ) STRICT;
  CREATE TRIGGER IF NOT EXISTS outbox_added AFTER INSERT ON outbox BEGIN UPDATE outbox_meta SET value = value + 1 WHERE key = 'depth'; END;
  CREATE TRIGGER IF NOT EXISTS outbox_removed AFTER DELETE ON outbox BEGIN UPDATE outbox_meta SET value = value - 1 WHERE key = 'depth'; END;
  CREATE TRIGGER IF NOT EXISTS outbox_dead_added AFTER INSERT ON outbox_dead BEGIN UPDATE outbox_meta SET value = value + 1 WHERE key = 'dead'; END;
  CREATE TRIGGER IF NOT EXISTS outbox_dead_removed AFTER DELETE ON outbox_dead BEGIN UPDATE outbox_meta SET value = value - 1 WHERE key = 'dead'; END;
`;

// The colours the centre pushed, by pseudonymous subject, and where the gate
// stands in the centre's sequence (one row), and the gate's first start (one row).
const COLOURS = `
  CREATE TABLE IF NOT EXISTS colour_status (
    sub          TEXT    NOT NULL PRIMARY KEY,
    colour       TEXT    NOT NULL CHECK (colour IN ('green', 'yellow', 'red')),
    effective_at INTEGER NOT NULL,
    seq          INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS colour_sync (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    seq              INTEGER,
    change_seq       INTEGER,
    snapshot_version INTEGER,
    snapshot_seq     INTEGER,
    issued_at        INTEGER,
    synced_at        INTEGER,
    gap_up_to        INTEGER,
    recent_digests   TEXT NOT NULL DEFAULT '[]'
  ) STRICT;
  INSERT OR IGNORE INTO colour_sync (id) VALUES (1);
  CREATE TABLE IF NOT EXISTS colour_first_start (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    first_start_at INTEGER NOT NULL
  ) STRICT;
`;

// Red-code holds that outlast the process: one row per held lane.
const LANE_HOLDS = `
  CREATE TABLE IF NOT EXISTS lane_holds (
      lane     TEXT    NOT NULL PRIMARY KEY,
      event_id TEXT    NOT NULL,
      since    INTEGER NOT NULL
    ) STRICT;
`;

// Command ids already run, scoped by site and lane so several lanes may share
// one file (the simulator's fleet).
const SEEN_COMMANDS = `
  CREATE TABLE IF NOT EXISTS seen_commands (
    site        TEXT    NOT NULL,
    lane        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    issued_at   INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (site, lane, id)
  ) STRICT;
  CREATE INDEX IF NOT EXISTS seen_commands_issued ON seen_commands (site, lane, issued_at);
`;

// Sealed registration records. `time` is epoch ms (from the record's ISO
// time) so the purge compares numbers, not strings of possibly different
// offsets.
const REGISTRATIONS = `
  CREATE TABLE IF NOT EXISTS registrations (
    id       INTEGER PRIMARY KEY,
    event_id TEXT    NOT NULL UNIQUE,
    time     INTEGER NOT NULL,
    sealed   TEXT    NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS registrations_time ON registrations (time);
`;

// Config keys the centre changed with set-config, applied over the config file at start.
const CONFIG_OVERRIDES = `
  CREATE TABLE IF NOT EXISTS config_overrides (
      key        TEXT    NOT NULL PRIMARY KEY,
      value      TEXT    NOT NULL,
      changed_at INTEGER NOT NULL
    ) STRICT;
`;

// The version of the signed trust list each lane has loaded, never lowered.
const TRUST_LIST_VERSION = `
  CREATE TABLE IF NOT EXISTS trust_list_version (
      site       TEXT    NOT NULL,
      lane       TEXT    NOT NULL,
      version    INTEGER NOT NULL,
      issued_at  INTEGER NOT NULL,
      loaded_at  INTEGER NOT NULL,
      PRIMARY KEY (site, lane)
    ) STRICT;
`;

// Key rollover, epochs and the pushed trust list (docs/keys.md). The centre
// keys the gate learnt of and each key's window, by site: a key given in
// mqtt.centreKeys gets a row only once an announcement retires it. The last
// announcement accepted, whose version only grows. The colour sequence's
// epoch. The signed trust list as the centre pushed it, so a restart keeps
// it in force when the file credentials.trust names is older.
const CONTINUITY = `
  CREATE TABLE centre_keys (
    site        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    certificate TEXT    NOT NULL,
    active_from INTEGER,
    retired_at  INTEGER,
    PRIMARY KEY (site, fingerprint)
  ) STRICT;
  CREATE TABLE centre_key_announcement (
    site        TEXT    NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL,
    digest      TEXT    NOT NULL,
    issued_at   INTEGER NOT NULL,
    accepted_at INTEGER NOT NULL
  ) STRICT;
  ALTER TABLE colour_sync ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE trust_list_version ADD COLUMN pushed TEXT;
`;

/**
 * Release 0.1.0's outbox kept its own version in outbox_meta and refused any
 * other; a file that carries outbox tables of another version is not one
 * this code may complete.
 */
function checkOutboxOf010(db: Database, path: string): void {
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('outbox', 'outbox_meta')").pluck().all();
  if (tables.length === 0) return;
  const version = tables.includes('outbox_meta')
    ? (db.prepare("SELECT value FROM outbox_meta WHERE key = 'schema'").pluck().get() as number | undefined)
    : undefined;
  if (version !== 1) {
    throw new GateDatabaseError('unknown-schema', `journal file ${path}: outbox tables of unknown schema version ${String(version)} (this agent knows 1)`);
  }
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    // IF NOT EXISTS and OR IGNORE because a 0.1.0 file already holds the
    // tables of the stores that release attached, with their rows; on an
    // empty file this creates all of them. The text is that release's, so
    // sqlite_schema reads the same either way.
    name: 'the tables of release 0.1.0',
    up(db, path) {
      checkOutboxOf010(db, path);
      db.exec(EVENTS + OUTBOX + COLOURS + LANE_HOLDS + SEEN_COMMANDS + REGISTRATIONS + CONFIG_OVERRIDES + TRUST_LIST_VERSION);
    },
  },
  {
    version: 2,
    name: 'centre key rollover, colour epochs and the pushed trust list',
    up(db) {
      db.exec(CONTINUITY);
    },
  },
];

/**
 * Per connection, never in the file, so not a migration: the subjects a
 * colour snapshot lists while it is applied (status-store.ts).
 */
export const CONNECTION_TABLES = `
  CREATE TEMP TABLE IF NOT EXISTS colour_listed (sub TEXT NOT NULL PRIMARY KEY) STRICT, WITHOUT ROWID;
`;
